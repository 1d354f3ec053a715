"""`tether run` stops everything it started however it is told to stop: Ctrl-C (see test_run.py), SIGTERM from a
process manager, SIGHUP when its terminal closes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.waiting import wait_for
from tests.workers.test_run import REPO, _alive, _children_of


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_stops_every_process_tether_run_started(tmp_path: Path, sig: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TETHER_REDIS_URL", "REDIS_URL", "TETHER_CONFIG")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen([sys.executable, "-m", "workers", "--log-level", "WARNING", "run"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any("Ctrl-C stops" in line for line in lines), timeout_s=60, what="tether run serving")
        descendants = wait_for(lambda: len(_children_of(proc.pid)) >= 4 and _children_of(proc.pid), timeout_s=30,
                               what="router, console adapter, sweeper and redis-server")
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=5)
    assert "tether: stopped" in "".join(lines)
    wait_for(lambda: not [p for p in descendants if _alive(p)], timeout_s=10, what="every child process to exit")
