"""Worker processes for tests: `tether worker NAME` run in a multiprocessing "spawn" child with its own Redis
connection and its own session, so a test can SIGKILL it with anything it started."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from multiprocessing.process import BaseProcess

# Short delivery timings for worker processes in tests (a test that needs a lease to expire waits seconds).
DELIVERY = """
[delivery]
maxAttempts = 8
backoffMinS = 0.05
backoffMaxS = 0.2
leaseS = 3
reaperIntervalS = 0.25
"""

Spawn = Callable[..., BaseProcess]  # a fixture's "start one more worker" function


def worker_main(url: str, config_path: str, name: str) -> None:
    """One worker process: its own session (so the test can kill it with anything it started)."""
    os.setsid()
    os.environ["TETHER_CONFIG"] = config_path
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from bindings.config import load_config
    from bindings.connection import connect
    from workers.runner import run_worker

    client = connect(url)
    config = load_config()
    if name == "router":
        from workers.worker_router import router_spec

        spec = router_spec(client, config)
    else:
        from workers.worker_adapter import adapter_spec

        spec = adapter_spec(name, client, config)
    run_worker(client, spec)


def kill_worker(proc: BaseProcess) -> None:
    """SIGKILL the worker and anything it started (its session), or the process alone before it made one."""
    if proc.pid is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # not yet its own session leader
        proc.kill()
    proc.join(timeout=10)
