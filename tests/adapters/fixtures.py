"""Fixtures of the delivery engine's tests, imported by the conftest files and test modules that use them: the
probe adapter registered in this process, a test configuration with short leases and backoffs, and `drain`, which
runs queued delivery jobs in a real (in-process) RQ worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from rq.registry import ScheduledJobRegistry

from adapters.delivery.jobs import close_adapters
from adapters.delivery.rqwire import MsgspecJSONSerializer, TetherJob, deliver_queue_name, tether_queue
from bindings.config import TetherConfig, parse_config
from bindings.process_config import set_process_config
from tests.adapters.support import CHANNEL, TEST_CONFIG, register_probe
from workers.runner import run_worker
from workers.worker_adapter import adapter_spec

Drain = Callable[[], int]


def make_config(*, lease_s: float = 2.0, reaper_interval_s: float = 0.25, max_attempts: int = 8) -> TetherConfig:
    return parse_config(TEST_CONFIG.format(lease_s=lease_s, reaper_interval_s=reaper_interval_s,
                                           max_attempts=max_attempts))


@pytest.fixture
def config() -> TetherConfig:
    return make_config()


@pytest.fixture
def probe_env(real_redis: redis.Redis, config: TetherConfig) -> Iterator[redis.Redis]:
    register_probe()
    close_adapters()
    set_process_config(config)
    yield real_redis
    close_adapters()
    set_process_config(None)


def release_scheduled(client: redis.Redis) -> int:
    """Enqueue every scheduled retry now (test backoffs are shorter than the ledger's early-run tolerance)."""
    queue = tether_queue(deliver_queue_name(CHANNEL), client)
    registry = ScheduledJobRegistry(queue.name, connection=client, serializer=MsgspecJSONSerializer)
    released = 0
    for job_id in registry.get_job_ids():
        job = TetherJob.fetch(job_id, connection=client, serializer=MsgspecJSONSerializer)
        registry.remove(job)
        queue.enqueue_job(job)
        released += 1
    return released


@pytest.fixture
def drain(probe_env: redis.Redis, config: TetherConfig) -> Drain:
    """Run delivery jobs (releasing scheduled retries) until none is left; returns how many rounds ran."""

    def run() -> int:
        rounds = 0
        queue = tether_queue(deliver_queue_name(CHANNEL), probe_env)
        while rounds < 50:
            release_scheduled(probe_env)
            if queue.count == 0:
                return rounds
            run_worker(probe_env, adapter_spec(CHANNEL, probe_env, config), burst=True, with_scheduler=False)
            rounds += 1
        raise AssertionError("delivery jobs kept coming")

    return run
