"""RQ wiring: JSON payloads only, and only tether's own job functions run."""

from __future__ import annotations

import json
import zlib

import pytest
import redis

from adapters.delivery.rqwire import (
    COMPLETIONS_QUEUE,
    DELIVER_JOB,
    ROUTE_JOB,
    ForbiddenJobFunction,
    MsgspecJSONSerializer,
    TetherJob,
    deliver_queue_name,
    tether_queue,
)


def test_queue_names_are_the_public_contract() -> None:
    assert COMPLETIONS_QUEUE == "completions"
    assert deliver_queue_name("discord") == "deliver.discord"
    assert ROUTE_JOB == "router.jobs.route_completion"
    assert DELIVER_JOB == "adapters.delivery.jobs.deliver"


def test_job_data_is_json_never_pickle(real_redis: redis.Redis) -> None:
    queue = tether_queue(COMPLETIONS_QUEUE, real_redis)
    job = queue.enqueue(ROUTE_JOB, {"eventId": "e1"})
    raw = real_redis.hget(f"rq:job:{job.id}", "data")
    assert raw is not None
    assert json.loads(zlib.decompress(raw)) == [ROUTE_JOB, None, [{"eventId": "e1"}], {}]


def test_a_job_naming_a_foreign_function_is_refused(real_redis: redis.Redis) -> None:
    queue = tether_queue(COMPLETIONS_QUEUE, real_redis)
    job = queue.enqueue("os.system", "echo pwned")
    loaded = TetherJob.fetch(job.id, connection=real_redis, serializer=MsgspecJSONSerializer)
    with pytest.raises(ForbiddenJobFunction, match=r"os\.system"):
        _ = loaded.func


def test_a_job_written_uncompressed_by_another_language_is_readable(real_redis: redis.Redis) -> None:
    data = json.dumps([ROUTE_JOB, None, [{"eventId": "ts-1"}], {}]).encode()
    real_redis.hset("rq:job:ts-1", mapping={"data": data, "origin": COMPLETIONS_QUEUE, "status": "queued",
                                           "created_at": "2026-11-24T00:00:00.000000Z"})
    job = TetherJob.fetch("ts-1", connection=real_redis, serializer=MsgspecJSONSerializer)
    assert job.func_name == ROUTE_JOB
    assert job.args == ({"eventId": "ts-1"},) or list(job.args) == [{"eventId": "ts-1"}]
