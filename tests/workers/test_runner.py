"""Worker maintenance: abandoned jobs are found within a bounded time, whatever happened to the last cleaner."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import redis
from rq.utils import now as rq_now

import workers.runner as runner
from adapters.rqwire import COMPLETIONS_QUEUE, tether_queue
from tests.support.waiting import wait_for
from workers.runner import MAINTENANCE_INTERVAL_S, WorkerSpec, build_worker, run_scheduler_until


def test_the_cleanup_lock_lasts_one_maintenance_interval_and_is_released(
    real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = build_worker(real_redis, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE]))
    lock = tether_queue(COMPLETIONS_QUEUE, real_redis).registry_cleaning_key
    ttls: list[int] = []
    monkeypatch.setattr(runner, "clean_registries", lambda queue, handlers: ttls.append(real_redis.ttl(lock)))

    worker.clean_registries()
    assert ttls and 0 < ttls[0] <= MAINTENANCE_INTERVAL_S  # a cleaner killed mid-clean blocks others ≤ 30 s
    assert real_redis.exists(lock) == 0


def test_a_queue_another_worker_is_cleaning_is_skipped(
    real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = build_worker(real_redis, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE]))
    lock = tether_queue(COMPLETIONS_QUEUE, real_redis).registry_cleaning_key
    real_redis.set(lock, "someone-else", ex=20)
    cleaned: list[str] = []
    monkeypatch.setattr(runner, "clean_registries", lambda queue, handlers: cleaned.append(queue.name))

    worker.clean_registries()
    assert cleaned == []
    assert real_redis.get(lock) == b"someone-else"


def test_heartbeats_rq_sends_back_to_back_are_coalesced_and_later_ones_go_out(
    real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = build_worker(real_redis, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE]))
    worker.heartbeat()
    first = real_redis.hget(worker.key, "last_heartbeat")
    assert first is not None and real_redis.ttl(worker.key) > runner.ABANDONED_AFTER_S

    worker.heartbeat()  # a moment later: the keys' TTLs were just set, nothing is sent
    assert real_redis.hget(worker.key, "last_heartbeat") == first

    worker.heartbeat(timeout=7)  # an explicit TTL always goes out
    assert 0 < real_redis.ttl(worker.key) <= 7

    later = rq_now() + dt.timedelta(seconds=runner.HEARTBEAT_COALESCE_S + 1)
    monkeypatch.setattr(runner, "rq_now", lambda: later)
    worker.heartbeat()
    assert real_redis.ttl(worker.key) > runner.ABANDONED_AFTER_S


def test_the_in_thread_scheduler_moves_due_jobs_onto_their_queue_and_releases_its_lock(
    fake_redis: redis.Redis,
) -> None:
    queue = tether_queue(COMPLETIONS_QUEUE, fake_redis)
    job = queue.enqueue_at(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1), "router.jobs.route_completion", {})
    stop = threading.Event()
    scheduler = threading.Thread(target=run_scheduler_until, args=(fake_redis, [COMPLETIONS_QUEUE], stop),
                                 kwargs={"interval_s": 1})
    scheduler.start()
    try:
        wait_for(lambda: job.id in queue.job_ids, timeout_s=5, what="the due job to be enqueued")
    finally:
        stop.set()
        scheduler.join(timeout=5)
    assert not scheduler.is_alive()
    assert fake_redis.keys("rq:scheduler-lock:*") == []
