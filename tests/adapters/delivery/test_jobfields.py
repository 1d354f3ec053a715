"""The job-hash allowlist: every hash tether's producers write, and every hash RQ leaves a tether job with while it
retries, schedules and requeues it, passes; anything else is named."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from rq import Retry
from rq.queue import Queue
from rq.registry import FailedJobRegistry
from rq.worker import SimpleWorker

from adapters.delivery.enqueue import enqueue_delivery
from adapters.delivery.jobfields import (
    ALLOWED_FIELDS,
    EMPTY_ONLY_FIELDS,
    PRODUCER_FIELDS,
    allowed_only,
    describe,
    forbidden_fields,
)
from adapters.delivery.rqwire import (
    COMPLETIONS_QUEUE,
    DELIVER_JOB,
    ROUTE_JOB,
    ForbiddenJobField,
    MsgspecJSONSerializer,
    TetherJob,
    rq_job_key,
    tether_queue,
)
from router.enqueue import enqueue_completion
from tests.adapters.support import CHANNEL, make_delivery
from tests.router.factories import event
from tests.support.waiting import wait_for

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_contract_fields() -> set[str]:
    """The fields of the README's table "The fields a producer may write"."""
    text = README.read_text()
    block = text[text.index("**The fields a producer may write**"):]
    block = block[block.index("| field |"):block.index("\n\n", block.index("| field |"))]
    return {row.split("|")[1].strip().strip("`") for row in block.splitlines()[2:]}


def fields(client: redis.Redis, job_id: str) -> dict[bytes, bytes]:
    found: dict[bytes, bytes] = client.hgetall(rq_job_key(job_id))  # type: ignore[assignment]
    assert found, f"no job hash {job_id}"
    return found


def test_the_route_job_tether_enqueues_carries_only_producer_fields(real_redis: redis.Redis) -> None:
    job_id = enqueue_completion(real_redis, event())
    assert forbidden_fields(fields(real_redis, job_id)) == ()
    assert {f.decode() for f in fields(real_redis, job_id)} <= PRODUCER_FIELDS


@pytest.mark.parametrize("delay_s", [None, 30.0])
def test_delivery_jobs_now_and_scheduled_carry_only_producer_fields(real_redis: redis.Redis,
                                                                   delay_s: float | None) -> None:
    assert enqueue_delivery(real_redis, CHANNEL, make_delivery(), job_id="deliver-x", delay_s=delay_s)
    assert {f.decode() for f in fields(real_redis, "deliver-x")} <= PRODUCER_FIELDS


def test_the_readme_contract_lists_exactly_the_fields_a_producer_may_write() -> None:
    assert readme_contract_fields() == PRODUCER_FIELDS


def test_rqs_retries_scheduling_and_requeue_leave_only_allowed_fields(real_redis: redis.Redis) -> None:
    """A job that fails, is retried at once, then scheduled, then fails for good and is requeued (`rq requeue`)."""
    queue = Queue(COMPLETIONS_QUEUE, connection=real_redis, serializer=MsgspecJSONSerializer)
    job = queue.enqueue("math.sqrt", -1, retry=Retry(max=2, interval=[0, 1]))
    worker = SimpleWorker([queue], connection=real_redis, serializer=MsgspecJSONSerializer)
    seen: list[tuple[str, ...]] = []
    for _ in range(2):
        worker.work(burst=True, max_jobs=1)
        seen.append(forbidden_fields(fields(real_redis, job.id)))
    assert job.get_status() == "scheduled"

    def run_once_due() -> bool:
        worker.work(burst=True, max_jobs=1, with_scheduler=True)  # burst mode moves due jobs first
        return job.get_status() == "failed"

    wait_for(run_once_due, timeout_s=10, what="the scheduled retry run and failed for good")
    FailedJobRegistry(queue=queue).requeue(job.id)
    seen.append(forbidden_fields(fields(real_redis, job.id)))
    assert seen == [(), (), ()]
    assert b"exc_info" in fields(real_redis, job.id)


@pytest.mark.parametrize(("field", "value"), [
    ("success_callback_name", b"os.system"), ("failure_callback_name", b"x.y"), ("stopped_callback_name", b"x.y"),
    ("group_id", b"g"), ("webhooks", b"[]"), ("dependency_ids", b"[]"), ("meta", b"{}"), ("ttl", b"5"),
    ("repeats_left", b"1"), ("rate_limit_key", b"k"), ("result", b"1"), ("anything", b""),
])
def test_a_foreign_field_is_named(field: str, value: bytes) -> None:
    raw = {b"data": b"[]", b"origin": b"completions", b"status": b"queued", b"success_callback_name": b"",
           field.encode(): value}
    assert forbidden_fields(raw) == (field,)
    assert field.encode() not in allowed_only(raw)
    assert field in describe(forbidden_fields(raw))


def test_callback_names_and_group_ids_are_allowed_empty_only() -> None:
    assert forbidden_fields({f.encode(): b"" for f in ALLOWED_FIELDS}) == ()
    assert EMPTY_ONLY_FIELDS <= PRODUCER_FIELDS


def test_a_refused_job_is_restored_without_its_foreign_fields_and_refuses_its_function(
        real_redis: redis.Redis) -> None:
    queue = tether_queue(COMPLETIONS_QUEUE, real_redis)
    job = queue.enqueue(ROUTE_JOB, event(), retry=Retry(max=3))
    real_redis.hset(job.key, mapping={"failure_callback_name": "os.system", "webhooks": '[{"url": "http://x"}]',
                                      "dependency_ids": '["other"]', "stopped_callback_name": "os.system",
                                      "success_callback_name": "os.system"})
    loaded = TetherJob.fetch(job.id, connection=real_redis, serializer=MsgspecJSONSerializer)
    assert loaded.refused_fields == ("dependency_ids", "failure_callback_name", "stopped_callback_name",
                                     "success_callback_name", "webhooks")
    assert loaded.failure_callback is None and loaded.success_callback is None
    assert loaded.stopped_callback is None  # RQ runs it on a stop-job command, which the process tests do not send
    assert loaded.webhooks == [] and loaded.dependency_ids == []
    with pytest.raises(ForbiddenJobField, match="dependency_ids, failure_callback_name, stopped_callback_name"):
        _ = loaded.func
    assert loaded.retries_left == 3 and not loaded.should_retry


@pytest.mark.parametrize("func", ["os.system", DELIVER_JOB])
def test_a_job_that_can_never_run_is_not_retried_whatever_its_retries_left(real_redis: redis.Redis,
                                                                           func: str) -> None:
    queue = tether_queue(COMPLETIONS_QUEUE, real_redis)
    job = queue.enqueue(func, "x", retry=Retry(max=3))
    loaded = TetherJob.fetch(job.id, connection=real_redis, serializer=MsgspecJSONSerializer)
    assert loaded.should_retry is (func == DELIVER_JOB)
    real_redis.hset(job.key, "data", b"\x00 not json")
    undecodable = TetherJob.fetch(job.id, connection=real_redis, serializer=MsgspecJSONSerializer)
    assert undecodable.retries_left == 3 and not undecodable.should_retry
