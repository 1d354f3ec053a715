"""The fields of an RQ job hash (`rq:job:<id>`) that a job on a tether queue may carry: an allowlist, in one place.

RQ 3 acts on more of a job hash than the function it names: `success_callback_name`, `failure_callback_name` and
`stopped_callback_name` are imported and called, `webhooks` are HTTP requests the worker sends, `dependency_ids`
hold the job back, `repeats_left` re-enqueues it, `rate_limit_key` throttles it, `meta` and `result` are decoded.
Anyone who can write a job hash (what the queue contract invites non-Python producers to do) could make a tether
worker import a module, call a function or reach a host. `TetherJob.restore` (adapters/delivery/rqwire.py) checks every
hash against this allowlist before RQ reads any of it; a job with any other field, or a callback name or group id
that is not empty, is refused (dead-lettered `forbidden-job-field`) and RQ never sees the foreign fields.

The sets are derived from what writes tether's job hashes (tests/adapters/delivery/test_jobfields.py checks each
writer's hash against them): `router/enqueue.py` and `adapters/delivery/enqueue.py` through RQ's own
`Queue.enqueue_job` / `Queue.enqueue(…, unique=True)` / `enqueue_in`, the hand-off's Lua (`ledger_open_fn.lua`), the
README's queue contract for other producers; and RQ itself while it retries, schedules and requeues those jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# What a producer writes: tether's own (through RQ's Job.to_dict, or the hand-off's Lua) and the README's contract.
PRODUCER_FIELDS: frozenset[str] = frozenset({
    "data", "origin", "status", "created_at", "enqueued_at", "description", "timeout", "result_ttl", "failure_ttl",
    "retries_left", "retry_intervals",
    # RQ's Job.to_dict always writes these, empty on a new job (a producer may leave them out).
    "success_callback_name", "failure_callback_name", "stopped_callback_name", "started_at", "ended_at",
    "last_heartbeat", "worker_name", "group_id",
})

# What RQ adds to a tether job while it handles it: a retried, rescheduled, requeued (`rq requeue`) or abandoned
# job comes back onto its queue with these set.
RQ_LIFECYCLE_FIELDS: frozenset[str] = frozenset({"exc_info", "number_of_retries"})

ALLOWED_FIELDS: frozenset[str] = PRODUCER_FIELDS | RQ_LIFECYCLE_FIELDS

# Allowed only empty: a name here is something RQ would import and call, or a group it would act on.
EMPTY_ONLY_FIELDS: frozenset[str] = frozenset({
    "success_callback_name", "failure_callback_name", "stopped_callback_name", "group_id",
})


_ALLOWED_BYTES = frozenset(f.encode() for f in ALLOWED_FIELDS)
_EMPTY_ONLY_BYTES = tuple(f.encode() for f in EMPTY_ONLY_FIELDS)


def forbidden_fields(raw: Mapping[bytes, bytes] | Mapping[str, bytes] | Mapping[str, str]) -> tuple[str, ...]:
    """The names of the fields of a job hash (as HGETALL returns it) that no tether producer writes, sorted;
    empty when the hash is one tether's workers may act on."""
    if raw.keys() <= _ALLOWED_BYTES and not any(raw.get(f) for f in _EMPTY_ONLY_BYTES):  # type: ignore[call-overload]
        return ()  # every job tether wrote itself: one set comparison (RQ fetches a job several times per run)
    names: list[str] = []
    for key, value in raw.items():
        name = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        if name not in ALLOWED_FIELDS or (name in EMPTY_ONLY_FIELDS and value not in (b"", "")):
            names.append(name)
    return tuple(sorted(names))


def allowed_only(raw: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    """The hash with every forbidden field left out, which is all RQ gets to read of a refused job."""
    refused = set(forbidden_fields(raw))
    return {k: v for k, v in raw.items() if _name(k) not in refused}


_DESCRIBED_MAX = 20  # field names are the writer's to choose: keep the message bounded
_NAME_MAX_CHARS = 64


def describe(names: Iterable[str]) -> str:
    """The `lastError` of a refused job: the forbidden fields by name."""
    shown = [n if len(n) <= _NAME_MAX_CHARS else n[:_NAME_MAX_CHARS] + "…" for n in names]
    listed = ", ".join(shown[:_DESCRIBED_MAX]) + (f" and {len(shown) - _DESCRIBED_MAX} more"
                                                  if len(shown) > _DESCRIBED_MAX else "")
    return f"job hash carries fields no tether producer writes: {listed} (see the README's queue contract)"


def _name(key: bytes | str) -> str:
    return key.decode("utf-8", "replace") if isinstance(key, bytes) else key
