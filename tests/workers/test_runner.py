"""Worker maintenance: abandoned jobs are found within a bounded time, whatever happened to the last cleaner."""

from __future__ import annotations

import pytest
import redis

import workers.runner as runner
from adapters.rqwire import COMPLETIONS_QUEUE, tether_queue
from workers.runner import MAINTENANCE_INTERVAL_S, WorkerSpec, build_worker


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
