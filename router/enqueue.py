"""Putting completion events on the `completions` queue: validated first, JSON only, one round trip per batch.

Each event becomes one RQ job `router.jobs.route_completion` whose only argument is the event object, exactly as it
was given (unknown fields kept). Job ids are RQ's random ones: enqueuing an event twice makes two jobs, and the
router dedupes them by `eventId`. The README's queue contract describes the same job for non-Python producers.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
import redis
from rq.job import Job, Retry
from rq.queue import Queue
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

from adapters.delivery.rqwire import COMPLETIONS_QUEUE, ROUTE_JOB, tether_queue
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.connection import connect
from bindings.errors import InvalidInput
from bindings.process_config import process_config
from router.event import CompletionEvent, encode_event, parse_event
from router.settings import dedupe_window_ms
from router.store import for_client

EventInput = CompletionEvent | dict[str, Any] | str | bytes
log = logging.getLogger("tether.enqueue")

# How long a producer's enqueue keeps retrying through a Redis outage or failover (a Sentinel or cluster failover
# takes seconds to tens of seconds) before the error reaches the caller.
ENQUEUE_RETRY_BUDGET_S = 30.0

# Routing fails only on infrastructure trouble (Redis, the hand-off): retry it, scheduled by the worker. The first
# retry is immediate (RQ requeues it without the scheduler): a route job found abandoned by a killed worker, or left
# in RQ's intermediate queue, is run again at once, even while the dead worker's scheduler lock has not expired.
ROUTE_RETRY_INTERVALS_S: tuple[int, ...] = (0, 5, 30, 120, 600)


def route_retry() -> Retry:
    return Retry(max=len(ROUTE_RETRY_INTERVALS_S), interval=list(ROUTE_RETRY_INTERVALS_S))


class PreparedEvent(msgspec.Struct, frozen=True):
    event: CompletionEvent
    raw: bytes  # the JSON as given (or as encoded from a dict / CompletionEvent)
    argument: Any  # the job argument: `raw` decoded, unknown fields included


def prepare_event(event: EventInput, *, max_event_bytes: int | None = None) -> PreparedEvent:
    """Validate one event; raises InvalidInput naming the field (`requester.channel`)."""
    limit = process_config().router.max_event_bytes if max_event_bytes is None else max_event_bytes
    raw = encode_event(event)
    parsed = parse_event(raw, max_bytes=limit)
    return PreparedEvent(parsed, raw, msgspec.json.decode(raw))


# Route job ids carry a prefix of their own, so that a Redis ACL can let producers write route jobs
# (`~rq:job:route-*`) and nothing else: not the delivery jobs (`rq:job:deliver-*`), not bindings (see the README's
# security section).
ROUTE_JOB_ID_PREFIX = "route-"


def route_job(queue: Queue, prepared: PreparedEvent) -> Job:
    return queue.create_job(
        ROUTE_JOB,
        job_id=f"{ROUTE_JOB_ID_PREFIX}{uuid.uuid4()}",
        args=[prepared.argument],
        description=f"route {prepared.event.event_id}",  # RQ's default repeats the whole event
        retry=route_retry(),
    )


def enqueue_completion(redis_or_url: redis.Redis | str | None, event: EventInput, *,
                       max_event_bytes: int | None = None) -> str:
    """Validate and enqueue one event; returns the RQ job id. Raises InvalidInput (nothing written) if invalid."""
    return enqueue_completions(redis_or_url, [event], max_event_bytes=max_event_bytes)[0]


def enqueue_completions(redis_or_url: redis.Redis | str | None, events: Iterable[EventInput], *,
                        max_event_bytes: int | None = None) -> list[str]:
    """Validate every event, then enqueue them all in one pipeline (MULTI/EXEC); returns the job ids in order.
    One invalid event raises InvalidInput with the field prefixed by its index (`[3].content.text`) and nothing
    is written."""
    batch = list(events)
    prepared: list[PreparedEvent] = []
    for i, event in enumerate(batch):
        try:
            prepared.append(prepare_event(event, max_event_bytes=max_event_bytes))
        except InvalidInput as exc:
            if len(batch) == 1:
                raise
            raise InvalidInput(f"[{i}].{exc.field}", exc.message) from None
    return enqueue_prepared(_client(redis_or_url), prepared)


def enqueue_prepared(client: redis.Redis, prepared: Sequence[PreparedEvent], *,
                     retry_budget_s: float = ENQUEUE_RETRY_BUDGET_S) -> list[str]:
    """Enqueue the batch in one transaction, riding out a Redis outage or failover for up to `retry_budget_s`
    (beyond the client's own few seconds of retries), then raising the connection error. A server answering
    callers (`tether api`) passes 0: its caller gets a quick 503 and retries itself.

    A retry cannot enqueue twice: the jobs and their ids are built once, and a retry first checks whether the
    previous attempt's transaction went through (its answer lost with the connection): MULTI/EXEC wrote every job
    of the batch or none, so the first job's hash tells."""
    if not prepared:
        return []
    queue = tether_queue(COMPLETIONS_QUEUE, client)
    jobs = [route_job(queue, item) for item in prepared]
    for attempt in Retrying(
        retry=retry_if_exception_type((redis.ConnectionError, redis.TimeoutError)),
        stop=stop_after_delay(retry_budget_s),
        wait=wait_exponential_jitter(multiplier=0.1, max=2.0),
        before_sleep=_log_retry,
        reraise=True,
    ):
        with attempt:
            if attempt.retry_state.attempt_number > 1 and client.exists(jobs[0].key):
                break  # the previous attempt's transaction was applied
            pipe = client.pipeline(transaction=True)
            for job in jobs:
                queue.enqueue_job(job, pipeline=pipe)
            pipe.execute()
    return [job.id for job in jobs]


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning("enqueue failed on a Redis connection error; retrying",
                extra={"attempt": state.attempt_number, "error": str(error)})


def requeue_event(client: redis.Redis, event: EventInput, *, reroute: bool = False,
                  clock: Clock = SYSTEM_CLOCK) -> str:
    """Route an event again (`tether dlq replay`): a new route job that owns the event, so it is not taken for a
    duplicate. Without `reroute` it reuses the event's sticky decision, and the hand-off, keyed by the delivery
    id, sends nothing twice; with `reroute` the current decision moves to the event's history and routing decides
    afresh (a new destination gets a new delivery). Returns the new job id; InvalidInput if the event is invalid."""
    config = process_config()
    prepared = prepare_event(event, max_event_bytes=config.router.max_event_bytes)
    store = for_client(client, dedupe_window_ms=dedupe_window_ms(config))
    queue = tether_queue(COMPLETIONS_QUEUE, client)
    job = route_job(queue, prepared)
    script_keys, script_args = store.requeue_args(
        event_id=prepared.event.event_id, job_id=job.id, reroute=reroute, raw_event=prepared.raw,
        now_ms=clock.now_ms(),
    )
    pipe = client.pipeline(transaction=True)
    pipe.multi()  # explicitly, as RQ's enqueue_job expects of a pipeline that already holds commands
    store.requeue(script_keys, script_args, client=pipe)
    queue.enqueue_job(job, pipeline=pipe)
    pipe.execute()
    return str(job.id)


_clients: dict[str, redis.Redis] = {}


def _client(redis_or_url: redis.Redis | str | None) -> redis.Redis:
    """A client given as is; a URL (or None: the configured one) opens one client per URL per process."""
    if redis_or_url is None or isinstance(redis_or_url, str):
        key = redis_or_url or ""
        if key not in _clients:
            _clients[key] = connect(redis_or_url)
        return _clients[key]
    return redis_or_url
