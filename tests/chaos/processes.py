"""OS processes of a chaos run: the workers (restarted like a process manager would), the kills, and the teardown.

Every worker is `python -m workers ...` in its own session (so its own process group), its stderr (JSON logs)
appended to one file per worker name, so a killed worker's successor continues the same log. A kill takes the whole
group, as a pod or a systemd unit dying takes all its processes (tether's workers run RQ's scheduler as a thread,
but anything a worker might start is killed with it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from random import Random

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Worker:
    name: str  # e.g. "router-1"
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0
    exits: dict[int, int] = field(default_factory=dict)  # exit status of processes that ended on their own → count

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    """Keeps a fixed set of worker processes running: `restart_exited()` plays the process manager (a crashed or
    exited worker is started again), `kill_random()` plays the chaos."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))}
        self.log_dir = log_dir
        self.workers: list[Worker] = []

    def add(self, name: str, args: Sequence[str]) -> Worker:
        worker = Worker(name=name, argv=[sys.executable, "-m", "workers", *args],
                        log_path=self.log_dir / f"{name}.log")
        self.workers.append(worker)
        return worker

    def start(self, worker: Worker) -> None:
        with worker.log_path.open("ab") as log:
            worker.proc = subprocess.Popen(worker.argv, cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=log, start_new_session=True)
        worker.starts += 1

    def start_all(self) -> None:
        for worker in self.workers:
            if not worker.alive():
                self.start(worker)

    def restart_exited(self) -> list[str]:
        """Start again every worker whose process ended without being killed by us; returns their names."""
        restarted = []
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is not None:
                _kill_group(worker.proc.pid)  # a scheduler child it may have left
                code = worker.proc.returncode
                worker.exits[code] = worker.exits.get(code, 0) + 1
                worker.proc = None
            if worker.proc is None:
                self.start(worker)
                restarted.append(worker.name)
        return restarted

    def kill_random(self, rng: Random) -> Worker | None:
        """SIGKILL one running worker, chosen at random, and start its successor at once."""
        running = [w for w in self.workers if w.alive()]
        if not running:
            return None
        victim = rng.choice(running)
        assert victim.proc is not None
        _kill_group(victim.proc.pid)
        victim.proc.wait()
        victim.kills += 1
        victim.proc = None
        self.start(victim)
        return victim

    def stop_all(self, timeout_s: float = 15.0) -> dict[str, int | None]:
        """SIGTERM every worker (graceful: the current job finishes), SIGKILL what is left at the deadline.
        Returns each worker's exit status (None: had to be killed)."""
        for worker in self.workers:
            if worker.alive():
                assert worker.proc is not None
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        codes: dict[str, int | None] = {}
        for worker in self.workers:
            if worker.proc is None:
                continue
            try:
                codes[worker.name] = worker.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                codes[worker.name] = None
            _kill_group(worker.proc.pid)  # whatever is left of it (a scheduler child)
            worker.proc.wait()
            worker.proc = None
        return codes

    def kills(self) -> int:
        return sum(w.kills for w in self.workers)

    def unexpected_exits(self) -> dict[str, dict[int, int]]:
        return {w.name: dict(w.exits) for w in self.workers if w.exits}


def _kill_group(pgid: int) -> None:
    """SIGKILL the process group a worker leads (it was started with `start_new_session`)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
