"""The reduced webhook chaos run in the default suite: 60 events through a router and three `tether worker webhook`
processes, workers SIGKILLed every 2 s, the receiver (its own process, not deduping) answering 503 / 429 or losing
answers. `make chaos` runs 2,000 events against a deduping and a plain receiver (`python -m tests.chaos.webhook`);
`tests/adapters/webhook/test_worker_processes.py` has the deduping receiver's reduced case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chaos.webhook import WebhookChaosSettings, run_webhook_chaos


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_receiver_that_does_not_dedupe_sees_every_chunk_and_only_resends_after_unknown_outcomes(
        tmp_path: Path) -> None:
    summary = run_webhook_chaos(WebhookChaosSettings(events=60, rate_per_s=20, work_dir=tmp_path), "plain")
    detail = json.dumps({k: v for k, v in summary.items() if k != "settings"}, indent=2)
    assert summary["kills"] >= 1, detail
    assert summary["faults"].get("drop", 0) >= 1 and summary["faults"].get("status", 0) >= 1, detail
    assert summary["missing"] == 0 and summary["strays"] == 0, detail
    assert summary["unexplainedRepeats"] == 0, detail
    assert summary["rejected"] == 0 and summary["deadLetters"] == 0, detail
    assert summary["secretInLogs"] is False and summary["logBytes"] > 0, detail
    assert summary["ok"], detail
