"""The router's RQ entry points: the job `router.jobs.route_completion` (its dotted name is part of the queue
contract, see the README) and the router worker's exception handler. Routing itself is `router.routing.route`."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from rq import get_current_job
from rq.exceptions import DeserializationError
from rq.job import Job

from adapters.delivery.rqwire import ForbiddenJobFunction
from bindings.clock import SYSTEM_CLOCK
from bindings.errors import InvalidInput
from bindings.process_config import process_config
from router.dead_letters import ROUTE_FAILED, dead_letter_event
from router.event import WHOLE_EVENT
from router.payload import MISSING, WrongShape, attempts_of, error_text, job_event_bytes, job_func_name, job_raw_data
from router.routing import dead_letter_invalid, route
from router.start_read import bindings_for

__all__ = ["handle_route_failure", "route_completion"]

log = logging.getLogger("tether.router")


def route_completion(event: Any = MISSING, /, *extra: Any, **unexpected: Any) -> dict[str, Any]:
    """RQ job `router.jobs.route_completion`: the job's one argument is the event object. Any other argument
    shape (written by a foreign producer) is an invalid event, dead-lettered like any other."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("route_completion runs inside an RQ worker; call router.routing.route() directly instead")
    payload = event if (event is not MISSING and not extra and not unexpected) else WrongShape(event, extra,
                                                                                               unexpected)
    result = route(job.connection, process_config(), payload, job_id=job.id, attempts=attempts_of(job),
                   bindings=bindings_for(job))
    out: dict[str, Any] = msgspec.to_builtins(result)
    return out


def handle_route_failure(job: Job, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                         tb: Any) -> bool:
    """RQ exception handler of the router worker.

    A payload that cannot be decoded, or that names a function outside tether's allowlist, is dead-lettered
    `invalid-event` at once (retrying cannot fix it). Any other error is left to RQ's retries; once none are left
    the event is dead-lettered `route-failed`, so `tether dlq replay` can route it again. Always lets the other
    handlers run."""
    try:
        client = job.connection
        config = process_config()
        now_ms = SYSTEM_CLOCK.now_ms()
        if isinstance(exc_value, DeserializationError | ForbiddenJobFunction):
            raw = job_raw_data(job)
            message = (f"job function {job_func_name(job)!r} is not a tether job function"
                       if isinstance(exc_value, ForbiddenJobFunction) else "job data is not the JSON array "
                       "[func_name, null, [event], {}]")
            dead_letter_invalid(client, config, raw, InvalidInput(WHOLE_EVENT, message), attempts=attempts_of(job),
                                now_ms=now_ms)
            return True
        if job.should_retry:
            log.warning("route job failed, will retry",
                        extra={"jobId": job.id, "error": error_text(exc_type, exc_value),
                               "retriesLeft": job.retries_left})
            return True
        raw = job_event_bytes(job)
        letter = dead_letter_event(client, config, raw, reason=ROUTE_FAILED, attempts=attempts_of(job),
                                   now_ms=now_ms, last_error=error_text(exc_type, exc_value))
        log.error("route job failed for good: dead-lettered",
                  extra={"eventId": letter.event_id, "jobId": job.id, "reason": ROUTE_FAILED,
                         "error": letter.last_error})
    except Exception:
        log.exception("route failure handler failed", extra={"jobId": job.id})
    return True
