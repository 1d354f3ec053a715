"""What a route job carries: the event argument as JSON bytes, or a clear `InvalidInput` saying why it is none; and
what can still be read of a job RQ could not run (its raw data, its event argument, its function name)."""

from __future__ import annotations

from typing import Any

import msgspec
from rq.job import Job

from adapters.redact import redact
from bindings.errors import InvalidInput
from router.event import WHOLE_EVENT

MISSING: Any = object()
_ERROR_MAX_CHARS = 1000
_ENCODER = msgspec.json.Encoder()


class WrongShape:
    """A job whose arguments are not exactly one event object."""

    def __init__(self, first: Any, extra: tuple[Any, ...], unexpected: dict[str, Any]) -> None:
        self.args = ([] if first is MISSING else [first]) + list(extra)
        self.kwargs = unexpected


def payload_bytes(payload: Any) -> bytes:
    """The event object as JSON; raises InvalidInput when the job's argument is no JSON object."""
    if isinstance(payload, WrongShape):
        raise InvalidInput(WHOLE_EVENT, f"the job must carry exactly one argument, the event object "
                                        f"(got {len(payload.args)} positional, {len(payload.kwargs)} keyword)")
    if not isinstance(payload, dict):
        raise InvalidInput(WHOLE_EVENT, f"expected the event as a JSON object, got {_json_type(payload)}")
    try:
        return _ENCODER.encode(payload)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(WHOLE_EVENT, f"not representable as JSON: {exc}") from None


def describe_payload(payload: Any) -> bytes:
    """Whatever the job carried, as bytes to keep in a dead letter."""
    target = {"args": payload.args, "kwargs": payload.kwargs} if isinstance(payload, WrongShape) else payload
    try:
        return _ENCODER.encode(target)
    except (TypeError, ValueError, OverflowError):
        return repr(target).encode()


def _json_type(value: Any) -> str:
    names = {str: "a string", list: "an array", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def job_raw_data(job: Job) -> bytes:
    try:
        data = job.data
    except Exception:
        return b""
    return data if isinstance(data, bytes) else str(data).encode()


def job_event_bytes(job: Job) -> bytes:
    """The event argument of a job, as JSON, else the job's raw data."""
    try:
        args = list(job.args)
    except Exception:
        return job_raw_data(job)
    if len(args) == 1:
        try:
            return _ENCODER.encode(args[0])
        except (TypeError, ValueError, OverflowError):
            pass
    return job_raw_data(job)


def job_func_name(job: Job) -> str:
    try:
        return str(job.func_name)
    except Exception:
        return "<undecodable>"


def attempts_of(job: Job) -> int:
    return (job.number_of_retries or 0) + 1


def error_text(exc_type: type[BaseException] | None, exc_value: BaseException | None) -> str:
    name = exc_type.__name__ if exc_type is not None else "Error"
    return redact(f"{name}: {exc_value}")[:_ERROR_MAX_CHARS]
