"""RQ plumbing shared by every tether queue: names, a msgspec JSON serializer (never pickle) and a Job class that
refuses to run anything but tether's own job functions.

A job's `data` is the JSON array `[func_name, null, [payload], {}]`; RQ zlib-compresses it when it writes the job
itself, but also accepts it uncompressed, which is what non-Python producers write (see the README's queue contract).
The `rq_*` helpers name RQ's own keys, for Lua scripts that enqueue a job in the same atomic step as their own writes
(the delivery hand-off, `adapters/delivery/ledger_open_fn.lua`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from rq.job import Job
from rq.queue import Queue
from rq.utils import now, utcformat

from adapters.delivery.jobfields import allowed_only, describe, forbidden_fields
from bindings.errors import TetherError

COMPLETIONS_QUEUE = "completions"
DELIVER_QUEUE_PREFIX = "deliver."

# Every function a tether worker may execute, by the dotted name stored in the job. Strings only, so this module
# imports neither router nor the adapters' job modules.
ROUTE_JOB = "router.jobs.route_completion"
DELIVER_JOB = "adapters.delivery.jobs.deliver"
JOB_FUNCTIONS: frozenset[str] = frozenset({ROUTE_JOB, DELIVER_JOB})


def deliver_queue_name(channel: str) -> str:
    return f"{DELIVER_QUEUE_PREFIX}{channel}"


class ForbiddenJobFunction(TetherError):
    """A job names a function outside tether's allowlist (written by someone else into tether's queues)."""


class ForbiddenJobField(TetherError):
    """A job's hash carries fields no tether producer writes (callbacks, webhooks, dependencies, …)."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        super().__init__(describe(fields))
        self.fields = fields


class MsgspecJSONSerializer:
    """RQ serializer: JSON via msgspec. RQ also stores job results and exception text through it."""

    _encoder = msgspec.json.Encoder()
    _decoder = msgspec.json.Decoder()

    @classmethod
    def dumps(cls, obj: Any, /) -> bytes:
        return cls._encoder.encode(obj)

    @classmethod
    def loads(cls, data: bytes, /) -> Any:
        return cls._decoder.decode(data)


class TetherJob(Job):
    """A job RQ may run only as tether's: its hash holds only the fields tether's producers write
    (`adapters.delivery.jobfields`), and its function is one of tether's; RQ would otherwise import any dotted name.

    A hash with foreign fields is restored without them, so RQ never reads a callback name, a webhook or a
    dependency of it; the job is then refused when RQ asks for its function (`ForbiddenJobField`), which fails it
    the ordinary way: the worker's exception handler dead-letters it and the worker goes on. A job that can never
    run (foreign fields, a foreign function, undecodable data) is never retried, whatever `retries_left` says."""

    refused_fields: tuple[str, ...] = ()

    def restore(self, raw_data: Any) -> Any:
        refused = forbidden_fields(raw_data)
        if refused:
            self.refused_fields = refused
            raw_data = allowed_only(raw_data)
        return super().restore(raw_data)

    @property
    def should_retry(self) -> bool:
        return super().should_retry and self.runnable()

    def runnable(self) -> bool:
        """Whether retrying could ever run this job: false for foreign fields, a foreign function or data that
        does not decode."""
        if self.refused_fields:
            return False
        try:
            return self.func_name in JOB_FUNCTIONS and self.instance is None
        except Exception:  # RQ's DeserializationError, or anything a foreign `data` makes it raise
            return False

    @property
    def func(self) -> Any:
        if self.refused_fields:
            raise ForbiddenJobField(self.refused_fields)
        name = self.func_name
        if name not in JOB_FUNCTIONS or self.instance is not None:
            raise ForbiddenJobFunction(f"refusing to run job function {name!r}: not a tether job function")
        return super().func


def tether_queue(name: str, connection: Any) -> Queue:
    return Queue(name, connection=connection, serializer=MsgspecJSONSerializer, job_class=TetherJob)


# ---- RQ's own key names and time format, for scripts that write a job themselves ---------------------------


def rq_job_key(job_id: str) -> str:
    """`rq:job:<id>`: the hash RQ keeps a job in."""
    return TetherJob.key_for(job_id)


def rq_queue_key(name: str) -> str:
    """`rq:queue:<name>`: the list of job ids waiting on a queue."""
    return Queue.redis_queue_namespace_prefix + name


def rq_queues_key() -> str:
    """`rq:queues`: the set of every queue key, which `rq info` and workers listing queues read."""
    return Queue.redis_queues_keys


def rq_timestamp() -> str:
    """Now, as RQ writes times into a job hash (`rq.utils.utcformat`: `2026-11-24T12:00:00.000000Z`)."""
    return utcformat(now())
