"""The embedded default behind `tether run`: everything one machine needs, started and stopped together.

With a Redis URL configured it only starts the workers. Without one it starts a private `redis-server` on a unix
socket under `./.tether/` when the binary is installed (the workers are then separate processes, as in production),
else it falls back to an in-process fakeredis server with the workers as threads of this process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import fakeredis
import redis

from workers.redis_server import RedisServer

log = logging.getLogger("tether.run")

# What `tether run` serves: the router, the embedded default's channel, and the sweeper.
DEFAULT_ROLES: tuple[tuple[str, ...], ...] = (("worker", "router"), ("worker", "console"), ("sweeper",))
STATE_DIR = Path(".tether")
LOG_DIR = STATE_DIR / "logs"  # the workers' JSON logs, one file per role, so the terminal shows the messages
_MAX_UNIX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux; keep a margin


class Embedded:
    """Owns the private Redis (if any) and the worker processes or threads; `stop()` leaves nothing running."""

    def __init__(self, url: str | None, *, env: dict[str, str] | None = None,
                 roles: Sequence[Sequence[str]] = DEFAULT_ROLES) -> None:
        self.configured_url = url
        self.env = dict(os.environ if env is None else env)
        self.roles = [tuple(r) for r in roles]
        self.server: RedisServer | None = None
        self.procs: list[subprocess.Popen[bytes]] = []
        self.threads: list[threading.Thread] = []
        self.stop_event = threading.Event()
        self.fake_server: fakeredis.FakeServer | None = None
        self.url = url or ""
        self.mode = "configured"

    # -- start -----------------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.configured_url is None:
            if shutil.which("redis-server"):
                directory = (STATE_DIR / "redis").resolve()
                if len(str(directory / "redis.sock")) > _MAX_UNIX_SOCKET_PATH:
                    directory = Path("/tmp") / f"tether-{os.getuid()}-{os.getpid()}"  # noqa: S108 (private dir, 0700)
                self.server = RedisServer(directory=directory)
                self.server.start()
                self.url = self.server.url
                self.mode = "private redis-server"
            else:
                self.mode = "in-process fakeredis"
        log.info("starting", extra={"mode": self.mode})
        if self.mode == "in-process fakeredis":
            self._start_threads()
        else:
            self._start_processes()

    def client(self) -> redis.Redis:
        if self.fake_server is not None:
            return fakeredis.FakeRedis(server=self.fake_server)
        from bindings.connection import connect

        return connect(self.url)

    def _start_processes(self) -> None:
        env = self.env | {"TETHER_REDIS_URL": self.url}
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        for role in self.roles:
            log_file = (LOG_DIR / f"{'-'.join(role[1:] or role)}.log").open("ab")
            # Each child leads its own process group, so that stopping it also reaches what it starts itself (RQ's
            # scheduler process) and Redis is stopped only once every one of them has exited.
            self.procs.append(
                subprocess.Popen([sys.executable, "-m", "workers", *role], env=env, start_new_session=True,
                                 stderr=log_file)
            )
            log_file.close()  # the child holds its own descriptor

    def _start_threads(self) -> None:
        self.fake_server = fakeredis.FakeServer()
        for role in self.roles:
            target = self._thread_target(role)
            t = threading.Thread(target=target, name="-".join(role), daemon=True)
            t.start()
            self.threads.append(t)

    def _thread_target(self, role: tuple[str, ...]) -> Callable[[], None]:
        from bindings.config import load_config
        from workers.runner import run_worker_until

        config = load_config()

        def run() -> None:
            client = self.client()
            if role[0] == "sweeper":
                from workers.sweeper import Sweeper

                Sweeper(client, config).run_forever(self.stop_event, interval_s=1.0)
                return
            from workers.cli_worker import spec_for

            run_worker_until(client, spec_for(role[1], client, config), self.stop_event)

        return run

    # -- stop ------------------------------------------------------------------------------------------------------
    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs) and all(t.is_alive() for t in self.threads)

    def stop(self, timeout_s: float = 20.0) -> None:
        self.stop_event.set()
        for p in self.procs:
            _signal_group(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p.pid, signal.SIGKILL)
                p.wait()
            while _group_alive(p.pid) and time.monotonic() < deadline:
                time.sleep(0.05)  # the group's last members (RQ's scheduler) releasing their locks
            _signal_group(p.pid, signal.SIGKILL)
        for t in self.threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))
        if self.server is not None:
            self.server.stop()
        log.info("stopped", extra={"mode": self.mode})


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
