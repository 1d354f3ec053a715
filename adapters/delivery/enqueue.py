"""Putting a delivery job on `deliver.<channel>`: now, or later (RQ's scheduled registry, which survives restarts)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import redis
from rq.exceptions import DuplicateJobError

from adapters.delivery.ledger import JobSpec
from adapters.delivery.rqwire import DELIVER_JOB, deliver_queue_name, rq_timestamp, tether_queue
from adapters.payloads import Delivery

JOB_TIMEOUT_S = 600  # a job that long is stuck; the lease reaper has long since handed the delivery on
RESULT_TTL_S = 3600
FAILURE_TTL_S = 7 * 24 * 3600


def job_payload(delivery: Delivery | bytes) -> dict[str, Any]:
    """The job's one argument: the delivery as a JSON object (from a Struct or the ledger's stored JSON)."""
    if isinstance(delivery, bytes):
        decoded: dict[str, Any] = msgspec.json.decode(delivery)
        return decoded
    built: dict[str, Any] = msgspec.to_builtins(delivery)
    return built


def delivery_job(channel: str, *, job_id: str) -> JobSpec:
    """The job `enqueue_delivery` would enqueue now, for `Ledger.open` to write in the hand-off's own script."""
    return JobSpec(deliver_queue_name(channel), DELIVER_JOB, f"deliver {job_id}", JOB_TIMEOUT_S, RESULT_TTL_S,
                   FAILURE_TTL_S, rq_timestamp())


def enqueue_delivery(client: redis.Redis, channel: str, delivery: Delivery | bytes, *, job_id: str,
                     delay_s: float | None = None) -> bool:
    """Enqueue one delivery job under `job_id`; False when a job with that id already exists (nothing enqueued)."""
    queue = tether_queue(deliver_queue_name(channel), client)
    options: dict[str, Any] = {
        "job_id": job_id, "unique": True, "job_timeout": JOB_TIMEOUT_S, "result_ttl": RESULT_TTL_S,
        "failure_ttl": FAILURE_TTL_S, "description": f"deliver {job_id}",
    }
    payload = job_payload(delivery)
    try:
        if delay_s is not None and delay_s > 0:
            queue.enqueue_in(timedelta(seconds=delay_s), DELIVER_JOB, payload, **options)
        else:
            queue.enqueue(DELIVER_JOB, payload, **options)
    except DuplicateJobError:
        return False
    return True
