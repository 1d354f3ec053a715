"""`tether run --demo`: the embedded default plays its scenario and Ctrl-C leaves nothing running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    pairs = [tuple(int(x) for x in line.split()) for line in out.splitlines() if line.strip()]
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in pairs:
            if ppid == parent:
                found.append(child)
                frontier.append(child)
    return found


def test_demo_routes_bound_sessions_to_their_threads_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TETHER_REDIS_URL", "REDIS_URL", "TETHER_CONFIG")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen([sys.executable, "-m", "workers", "--log-level", "WARNING", "run", "--demo"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any(line.startswith("bound completions copied") for line in lines), timeout_s=60,
                 what="the demo summary")
        descendants = _children_of(proc.pid)
        assert descendants, "the router, console adapter, sweeper and redis-server run as child processes"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=5)
    out = "".join(lines)

    assert "mode=bound reason=requester-match -> console:general/research-" in out
    assert "mode=bound reason=requester-match -> console:general/review-" in out
    assert "mode=fallback reason=no-active-binding -> console:general\n" in out
    assert "decisions: 3 (2 bound, 1 fallback), deliveries: 3 delivered, 0 dead" in out
    # Counted in what the console worker printed (its JSON-lines record), not in the decisions.
    assert "bound completions copied to the main conversation: 0 (counted in " in out
    assert "messages printed: 3 (1 in the main conversation 'general', 2 in threads)" in out
    # Each bound completion was printed once, in its thread; the unbound one in the main conversation.
    assert out.count("Research complete") == 1 and out.count("Review complete") == 1
    assert "tether: stopped" in out
    wait_for(lambda: not [p for p in descendants if _alive(p)], timeout_s=10, what="every child process to exit")
    assert (tmp_path / ".tether" / "redis").is_dir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"
