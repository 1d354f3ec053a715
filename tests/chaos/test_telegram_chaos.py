"""The reduced Telegram chaos run inside the default suite: 150 events through 2 router, 3 Telegram and 1 sweeper
processes against the local Bot API with 5xx, 429s, dropped connections and lost answers (5 %), routers and the
sweeper SIGKILLed every 2 s. `make chaos` runs 3,000 events without and then with lost answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chaos.telegram import TelegramChaosSettings, run_telegram_chaos


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_nothing_is_lost_and_the_only_duplicates_are_the_lost_answers_resend_allows(tmp_path: Path) -> None:
    summary = run_telegram_chaos(TelegramChaosSettings(
        events=150, lost_answers=True, fault_lost=0.03, fault_500_after=0.02, rate_per_s=30,
        settle_timeout_s=120, work_dir=tmp_path / "chaos"))
    detail = json.dumps(summary, indent=2)
    assert summary["kills"] >= 2 and summary["lost_answers"] >= 1, detail  # the chaos happened
    assert summary["lost"] == 0, detail
    assert summary["duplicates"] == summary["lost_answers"], detail  # one resend per lost answer, no more
    assert summary["misplaced"] == summary["in_general"] == summary["strays"] == 0, detail
    assert summary["delivered"] == summary["expected_delivered"], detail
    assert summary["dead"] == summary["expected_dead"] == {"destination-gone": 1, "topic-closed": 2}, detail
    assert summary["secretsInLogs"] == {}, detail
    assert summary["ok"], detail
