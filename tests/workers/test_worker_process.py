"""A `tether worker` process across a Redis restart: RQ's scheduler runs as a thread of the worker, so scheduled jobs
keep moving after Redis comes back, and the worker leaves no scheduler process of its own behind."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import redis

from adapters.delivery.rqwire import COMPLETIONS_QUEUE, tether_queue
from router.store import load_decision
from tests.router.factories import event
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def test_a_worker_keeps_running_scheduled_jobs_after_a_redis_restart_and_forks_no_scheduler(tmp_path: Path) -> None:
    server = RedisServer(appendonly=True, directory=tmp_path / "redis")
    server.start()
    config = tmp_path / "tether.toml"
    config.write_text("")
    env = dict(os.environ, TETHER_REDIS_URL=server.url, TETHER_CONFIG=str(config), PYTHONPATH=str(REPO))
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "workers", "worker", "router"], cwd=REPO, env=env,
                                  stdout=log, stderr=log, start_new_session=True)
    client = redis.Redis(unix_socket_path=str(server.socket))
    try:
        wait_for(lambda: bool(client.keys("rq:scheduler-lock:*")), timeout_s=30,
                 what="the worker's scheduler to take its lock")
        client.close()
        server.restart()
        client = redis.Redis(unix_socket_path=str(server.socket))
        ev = event("v1:agent:main:subagent:abc:after-restart")
        tether_queue(COMPLETIONS_QUEUE, client).enqueue_in(dt.timedelta(seconds=1), "router.jobs.route_completion",
                                                           ev)
        wait_for(lambda: load_decision(client, ev["eventId"]) is not None, timeout_s=60,
                 what="the scheduled route job to run after the restart")
        assert worker.poll() is None
        assert children_of(worker.pid) == []
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        client.close()
        server.cleanup()
    assert worker.returncode == 0
