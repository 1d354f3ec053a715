"""What is waiting where: tether's RQ queues, their depths and the oldest waiting job."""

from __future__ import annotations

import datetime as dt

import msgspec
import redis
from rq.queue import Queue
from rq.worker import Worker

from adapters.delivery.rqwire import (
    COMPLETIONS_QUEUE,
    DELIVER_QUEUE_PREFIX,
    MsgspecJSONSerializer,
    TetherJob,
    tether_queue,
)


class QueueState(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    name: str
    depth: int
    oldest_enqueued_at: str | None  # ISO 8601 UTC
    oldest_age_s: float | None
    scheduled: int  # retries waiting for their time
    failed: int  # RQ's failed registry (tether dead-letters its own failures; this should stay 0)


def tether_queue_names(client: redis.Redis) -> list[str]:
    names = {q.name for q in Queue.all(connection=client, serializer=MsgspecJSONSerializer)}
    names.add(COMPLETIONS_QUEUE)
    return sorted(n for n in names if n == COMPLETIONS_QUEUE or n.startswith(DELIVER_QUEUE_PREFIX))


def queue_state(client: redis.Redis, name: str, now: dt.datetime | None = None) -> QueueState:
    queue = tether_queue(name, client)
    now = now or dt.datetime.now(dt.UTC)
    oldest_at: dt.datetime | None = None
    first = queue.get_job_ids(0, 1)
    if first:
        job = TetherJob.fetch(first[0], connection=client, serializer=MsgspecJSONSerializer)
        oldest_at = job.enqueued_at
        if oldest_at is not None and oldest_at.tzinfo is None:
            oldest_at = oldest_at.replace(tzinfo=dt.UTC)
    return QueueState(
        name=name,
        depth=queue.count,
        oldest_enqueued_at=oldest_at.isoformat() if oldest_at else None,
        oldest_age_s=round((now - oldest_at).total_seconds(), 3) if oldest_at else None,
        scheduled=queue.scheduled_job_registry.count,
        failed=queue.failed_job_registry.count,
    )


class WorkerState(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    name: str
    queues: list[str]
    state: str
    pid: int | None
    hostname: str | None


def worker_states(client: redis.Redis) -> list[WorkerState]:
    out = []
    for w in Worker.all(connection=client):
        out.append(
            WorkerState(
                name=w.name, queues=w.queue_names(), state=str(w.get_state()), pid=w.pid, hostname=w.hostname
            )
        )
    return sorted(out, key=lambda s: s.name)
