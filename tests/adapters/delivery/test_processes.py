"""The delivery engine under real concurrency: several adapter worker processes (multiprocessing "spawn", each with
its own Redis connection) running `workers.runner.run_worker` with the probe adapter, on the real redis-server."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
import redis
from rq.worker import Worker

from adapters.delivery.deadletter import DeadLetterQueue
from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.delivery.metrics import stats
from adapters.delivery.rqwire import DELIVER_JOB, deliver_queue_name, tether_queue
from adapters.delivery.settings import job_id_for
from bindings.config import TetherConfig
from tests.adapters.fixtures import make_config
from tests.adapters.support import CHANNEL, STARTED, make_delivery, script, sent, worker_main, write_config
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

LEASE_S = 2.0
REAPER_INTERVAL_S = 0.25

Spawn = Callable[[], BaseProcess]


@pytest.fixture
def config() -> TetherConfig:
    return make_config(lease_s=LEASE_S, reaper_interval_s=REAPER_INTERVAL_S)


def kill(proc: BaseProcess) -> None:
    """SIGKILL the worker and anything it started: it made itself a process group leader."""
    if proc.pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.join(timeout=10)


def registered_workers(client: redis.Redis) -> int:
    queue = tether_queue(deliver_queue_name(CHANNEL), client)
    return len(Worker.all(connection=client, queue=queue))


@pytest.fixture
def spawn(real_redis: redis.Redis, redis_server: RedisServer, tmp_path: Path, config: TetherConfig) -> Iterator[Spawn]:
    """Start probe worker processes; each call waits until the new worker is listening. All are killed at the end."""
    config_path = write_config(tmp_path / "tether.toml", lease_s=LEASE_S, reaper_interval_s=REAPER_INTERVAL_S)
    ctx = multiprocessing.get_context("spawn")
    procs: list[BaseProcess] = []

    def start() -> BaseProcess:
        proc = ctx.Process(target=worker_main, args=(redis_server.url, str(config_path)), daemon=False)
        proc.start()
        procs.append(proc)
        alive = sum(1 for p in procs if p.is_alive())
        wait_for(lambda: registered_workers(real_redis) >= alive, timeout_s=30, what="the worker to register")
        return proc

    yield start
    for proc in procs:
        kill(proc)


def test_one_delivery_job_executed_by_four_worker_processes_at_once_sends_once(real_redis: redis.Redis,
                                                                              spawn: Spawn) -> None:
    for _ in range(4):
        spawn()
    d = make_delivery()
    script(real_redis, "slow:1.0")  # the first send takes a while: the other three run while it is in flight
    hand_off(real_redis, d)
    queue = tether_queue(deliver_queue_name(CHANNEL), real_redis)
    job_id = job_id_for(d.delivery_id)
    for _ in range(3):
        queue.push_job_id(job_id)  # the same job, three more times (as duplicated `rq requeue`s would)
    wait_for(lambda: sum(stats(real_redis).values()) >= 4, timeout_s=20, what="all four executions")
    assert len(sent(real_redis)) == 1
    assert real_redis.llen(STARTED) == 1
    counts = stats(real_redis)
    assert counts[f"{CHANNEL}:delivered"] == 1
    assert counts.get(f"{CHANNEL}:skipped-busy", 0) + counts.get(f"{CHANNEL}:skipped-delivered", 0) == 3
    record = Ledger(real_redis).get(d.delivery_id)
    assert record is not None and record.status == "delivered" and record.attempts == 1


def test_a_worker_killed_mid_send_is_replaced_by_another_that_sends_each_chunk_once(
        real_redis: redis.Redis, spawn: Spawn) -> None:
    """How soon (lease + reaper interval) is measured by tests/perf/recovery.py, not asserted here."""
    first = spawn()
    d = make_delivery(text="part-1|part-2")
    script(real_redis, "block")  # the first send hangs until the worker dies
    hand_off(real_redis, d)
    wait_for(lambda: real_redis.llen(STARTED) == 1, timeout_s=20, what="the first worker to begin sending")
    second = spawn()
    kill(first)
    wait_for(lambda: (r := Ledger(real_redis).get(d.delivery_id)) is not None and r.status == "delivered",
             timeout_s=60, what="the second worker to deliver")
    assert [(s.index, s.pid) for s in sent(real_redis)] == [(0, second.pid), (1, second.pid)]
    record = Ledger(real_redis).get(d.delivery_id)
    assert record is not None and record.attempts == 2 and record.fence == 2


def test_retryable_errors_are_retried_through_the_rq_scheduler_until_delivered(real_redis: redis.Redis,
                                                                              spawn: Spawn) -> None:
    spawn()
    d = make_delivery()
    script(real_redis, "retry", "retry-after:0.1", "retry")
    hand_off(real_redis, d)
    wait_for(lambda: (r := Ledger(real_redis).get(d.delivery_id)) is not None and r.status == "delivered",
             timeout_s=30, what="delivery after three retries")
    record = Ledger(real_redis).get(d.delivery_id)
    assert record is not None and record.attempts == 4
    assert len(sent(real_redis)) == 1


def test_undecodable_and_foreign_payloads_are_dead_lettered_and_the_worker_keeps_working(
        real_redis: redis.Redis, spawn: Spawn) -> None:
    worker = spawn()
    queue = tether_queue(deliver_queue_name(CHANNEL), real_redis)
    garbage = queue.create_job(DELIVER_JOB, args=({"x": 1},), job_id="garbage-1")
    garbage.save()
    real_redis.hset(garbage.key, "data", b"\xff\xfe this is not JSON")
    queue.push_job_id(garbage.id)
    queue.enqueue(DELIVER_JOB, {"hello": "not a delivery"})
    queue.enqueue("os.system", "echo pwned")
    dlq = DeadLetterQueue(real_redis)
    wait_for(lambda: dlq.count() == 3, timeout_s=20, what="three dead letters")
    reasons = sorted(lt.reason for lt in dlq.letters())
    assert reasons == ["forbidden-job-function", "invalid-delivery", "invalid-delivery"]
    assert all(lt.source == "delivery" and lt.delivery_id is None for lt in dlq.letters())
    d = make_delivery()
    hand_off(real_redis, d)
    wait_for(lambda: len(sent(real_redis)) == 1, timeout_s=20, what="the next good delivery")
    assert worker.is_alive() and sent(real_redis)[0].pid == worker.pid
