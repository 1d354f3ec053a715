"""Every tether worker's first RQ exception handler: a job refused for foreign fields becomes a dead letter.

`TetherJob` (adapters/delivery/rqwire.py) restores a job hash without the fields no tether producer writes and raises
`ForbiddenJobField` when RQ asks for its function; by then RQ has imported nothing, called nothing and has no
webhook to send. This handler files the job as dead letter `forbidden-job-field`, with the field names in
`lastError`, and stops the handler chain (the router's and the adapter's handlers have nothing to add). RQ then
fails the job without retrying it (`TetherJob.should_retry`) and the worker takes the next one.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

import msgspec

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue, DeadLetterSource, payload_dead_letter_id
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, ForbiddenJobField
from bindings.clock import SYSTEM_CLOCK

log = logging.getLogger("tether.worker")

FORBIDDEN_JOB_FIELD = "forbidden-job-field"
RAW_KEPT_BYTES = 64 * 1024
_ENCODER = msgspec.json.Encoder()


def refuse_foreign_job(job: Any, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                       tb: TracebackType | None) -> bool:
    """RQ exception handler: dead-letters a `ForbiddenJobField` job and returns False (no other handler runs);
    True for every other error."""
    if not isinstance(exc_value, ForbiddenJobField):
        return True
    try:
        DeadLetterQueue(job.connection).put(refused_letter(job, exc_value))
    except Exception:  # Redis gone: RQ still fails the job, and it stays in RQ's failed registry
        log.exception("could not dead-letter a refused job", extra={"jobId": job.id})
    log.warning("job refused: its hash carries fields no tether producer writes", extra={
        "jobId": job.id, "queue": job.origin, "reason": FORBIDDEN_JOB_FIELD, "fields": list(exc_value.fields)})
    return False


def refused_letter(job: Any, exc: ForbiddenJobField) -> DeadLetter:
    """The dead letter of a refused job. A router letter keeps the job's argument as its event, so that
    `tether dlq replay` can route it again in a job tether writes itself."""
    raw = _raw_data(job)
    source: DeadLetterSource = "router" if job.origin == COMPLETIONS_QUEUE else "delivery"
    kept = _event_argument(job) if source == "router" else None
    if kept is None:
        kept = raw
    return DeadLetter(
        id=payload_dead_letter_id(str(job.id).encode() + b"\0" + raw),
        event_id=None,
        delivery_id=None,
        reason=FORBIDDEN_JOB_FIELD,
        attempts=0,
        last_error=str(exc),
        destination=None,
        dead_at=SYSTEM_CLOCK.now_ms(),
        source=source,
        event=kept[:RAW_KEPT_BYTES].decode("utf-8", "replace"),
    )


def _raw_data(job: Any) -> bytes:
    try:
        data = job.data
    except Exception:
        return b""
    return data if isinstance(data, bytes) else str(data).encode()


def _event_argument(job: Any) -> bytes | None:
    try:
        args = list(job.args)
        return _ENCODER.encode(args[0]) if len(args) == 1 and not job.kwargs else None
    except Exception:
        return None
