"""The reduced chaos run inside the default suite: 1,000 events through 3 router, 3 Discord and 1 sweeper processes
against the local Discord API (5 % 5xx, 2 % 429, 1 % responses lost), a worker SIGKILLed every 2 s, Redis
SIGKILLed once. `make chaos` runs the full 10,000 events (`python -m tests.chaos`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chaos.run import ChaosSettings, run_chaos

EVENTS = 1000


@pytest.mark.slow
@pytest.mark.timeout(210)
def test_every_event_is_delivered_exactly_once_while_workers_are_killed_and_redis_crashes(tmp_path: Path) -> None:
    # Typically ~90 s in all. The settle deadline covers the workers' own recovery of a job whose worker was killed
    # (RQ's abandoned-job horizon in workers/runner.py: 90 s, checked every 15 s).
    summary = run_chaos(ChaosSettings(events=EVENTS, settle_timeout_s=120, work_dir=tmp_path / "chaos"))
    detail = json.dumps({k: v for k, v in summary.items() if k != "settings"}, indent=2)

    # The chaos happened.
    assert summary["kills"] >= 10, detail
    assert summary["redisRestarts"] == 1, detail
    assert {"429", "response-lost", "500-not-processed"} <= set(summary["faultsInjected"]), detail

    # Every event that must be delivered is, exactly once, in its own conversation only.
    assert summary["events"] == EVENTS
    assert summary["lost"] == 0, detail
    assert summary["duplicates"] == 0, detail
    assert summary["parentLeaks"] == 0, detail
    assert summary["misplaced"] == 0, detail
    assert summary["strayMessages"] == 0, detail
    assert summary["delivered"] == summary["expectedDelivered"], detail

    # Dead letters only for the injected permanent failures (locked thread, deleted thread), one per event.
    assert summary["deadLetters"] == summary["expectedDeadLetters"] == {"destination-gone": 1, "thread-locked": 5}
    assert summary["unexpectedDeadLetters"] == 0, detail
    assert summary["allTerminalBeforeDeadline"], detail
    assert summary["secretsInLogs"] == {}, detail  # neither the bot token nor a webhook token
    assert summary["ok"], detail
