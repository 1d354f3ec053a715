"""The adapter worker's RQ exception handler: a job whose payload cannot be a delivery becomes a dead letter.

Outcomes of real deliveries never reach it (the job decides them itself). What does: a payload that is not JSON
(RQ's DeserializationError), a JSON payload that is not a delivery, a job naming a function outside tether's
allowlist. Each is dead-lettered once (the letter id is derived from the raw payload) and the worker goes on.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from rq.exceptions import DeserializationError

from adapters.delivery.deadletter import DeadLetterQueue, unreadable_job_letter
from adapters.delivery.jobs import InvalidDeliveryPayload
from adapters.delivery.rqwire import ForbiddenJobFunction
from bindings.clock import SYSTEM_CLOCK

log = logging.getLogger("tether.delivery")

def _reason(exc_value: BaseException) -> str | None:
    if isinstance(exc_value, ForbiddenJobFunction):
        return "forbidden-job-function"
    if isinstance(exc_value, (DeserializationError, InvalidDeliveryPayload)):
        return "invalid-delivery"
    return None


def handle_delivery_failure(job: Any, exc_type: type[BaseException], exc_value: BaseException,
                            tb: TracebackType | None) -> bool:
    """RQ exception handler (returns True: later handlers still run)."""
    reason = _reason(exc_value)
    if reason is None:
        return True
    try:
        raw = job.data
    except Exception:  # whatever RQ holds, the letter is still filed
        raw = b""
    raw_bytes = raw if isinstance(raw, bytes) else str(raw).encode()
    letter = unreadable_job_letter(
        raw_bytes, job_id=str(job.id), reason=reason, dead_at=SYSTEM_CLOCK.now_ms(),
        error=f"{type(exc_value).__name__}: {exc_value}" + (f" ({exc_value.__cause__})" if exc_value.__cause__ else ""))
    DeadLetterQueue(job.connection).put(letter)
    log.warning("delivery job dead-lettered", extra={
        "jobId": job.id, "queue": getattr(job, "origin", None), "reason": reason, "deadLetterId": letter.id})
    return True
