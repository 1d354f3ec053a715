"""The reduced Slack chaos run inside the default suite: 400 events through 2 router, 3 Slack and 1 sweeper processes
against the local Slack Web API (4 % 5xx, 1 % 500 after storing, 2 % 429, 3 % answers lost), a Slack worker or the
sweeper SIGKILLed every 2 s (routers spared: RQ recovers a killed route job only after 90 s), Redis SIGKILLed once,
20 child binds under the faults. `make chaos` runs 3,000 events and kills routers too (`python -m tests.chaos.slack`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chaos.slack import SlackChaosSettings, run_slack_chaos


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_slack_event_lands_once_in_its_thread_while_workers_are_killed(tmp_path: Path) -> None:
    # Typically 35 s; up to ~110 s when a kill lands between RQ handing a job out and the engine claiming it (the
    # delivery's ledger record then waits for the engine's lost-job horizon of 90 s).
    summary = run_slack_chaos(SlackChaosSettings(events=400, work_dir=tmp_path / "chaos", settle_timeout_s=150,
                                                 kill_routers=False, progress=True,
                                                 fault_lose_answer=0.03))  # a few lost answers in 400 events
    detail = json.dumps({k: v for k, v in summary.items() if k != "settings"}, indent=2)

    assert summary["kills"] >= 3, detail
    assert summary["redisRestarts"] == 1, detail
    faults = set(summary["faultsInjected"])
    assert {"lose-answer:chat.postMessage", "5xx:chat.postMessage", "429:chat.postMessage"} <= faults, detail

    assert summary["lost"] == 0, detail
    assert summary["duplicates"] == 0, detail
    assert summary["misplaced"] == 0 and summary["replyBroadcast"] == 0, detail  # nothing in a channel root
    assert summary["strayMessages"] == 0 and summary["sentForDead"] == 0, detail
    assert summary["delivered"] == summary["expectedDelivered"], detail
    assert summary["duplicateRoots"] == 0, detail
    assert summary["deadLetters"] == summary["expectedDeadLetters"], detail
    assert summary["unexpectedDeadLetters"] == 0, detail
    assert summary["secretsInLogs"] == {}, detail
    assert summary["ok"], detail
