"""What is waiting, who is working, what is dead, what is bound (`tether status`, `GET /v1/status`)."""

from __future__ import annotations

import msgspec
import redis

from adapters.delivery.deadletter import DeadLetterQueue
from bindings.service import SessionBindingService
from workers.queues import QueueState, WorkerState, queue_state, tether_queue_names, worker_states


class OldestWaiting(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    enqueued_at: str  # ISO 8601 UTC
    age_s: float | None


class StatusSummary(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    redis: str  # the URL without its password
    queues: list[QueueState]
    workers: list[WorkerState]
    dead_letters: int
    active_bindings: int
    oldest_waiting_event: OldestWaiting | None  # the oldest event on `completions`


def status_summary(client: redis.Redis, redis_label: str) -> StatusSummary:
    queues = [queue_state(client, name) for name in tether_queue_names(client)]
    completions = next((q for q in queues if q.name == "completions"), None)
    oldest = None
    if completions is not None and completions.oldest_enqueued_at:
        oldest = OldestWaiting(enqueued_at=completions.oldest_enqueued_at, age_s=completions.oldest_age_s)
    return StatusSummary(
        redis=redis_label,
        queues=queues,
        workers=worker_states(client),
        dead_letters=DeadLetterQueue(client).count(),
        active_bindings=SessionBindingService(client).count_active(),
        oldest_waiting_event=oldest,
    )
