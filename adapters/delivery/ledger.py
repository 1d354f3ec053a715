"""The delivery ledger: one Redis hash per delivery, the single source of truth for "has this been sent?".

Status moves `pending` → `sending` → `delivered` | `dead` (and `sending` → `pending` on a retryable failure or an
expired lease; `dead` → `pending` on replay). Every change is one Lua script (`ledger_*.lua` beside this module):

- `claim` grants a lease (owner + deadline) and draws a new fencing token; every later write of that attempt
  (`renew`, `record_chunk`, `complete`, `retry`, `die`) carries the token and is refused once another claim has drawn
  a newer one. A worker therefore sends only while it holds the lease, and a stale worker cannot move the record.
- Chunks are recorded in order with their platform message ids; the next attempt resumes after the last recorded
  one, so a recorded chunk is never sent again. A chunk whose send started but was never recorded is "in flight":
  its outcome is unknown and the next attempt reconciles it first (see `adapters.delivery.engine`).
- A delivered record is kept for the retention period (the router's dedupe window) so duplicates still find it;
  a dead record is kept until its dead letter is replayed or purged.
- The watch index (a zset: delivery id → deadline) lets the lease reaper find expired leases and lost jobs in
  O(due), never by SCAN.

Record fields (hash): status, deliveryId, eventId, channel, payload (Delivery JSON), attempts, fence, owner,
leaseUntil, chunks, done, inflight, msg:{i}, lastError, createdAt, updatedAt, nextAttemptAt, deliveredAt, deadAt,
deadReason, job (RQ id of the job expected to run it next), replays, reaps, rearm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import msgspec
import redis

from adapters.delivery import keys, rqwire
from adapters.delivery.deadletter import DeadLetter, scrubbed
from adapters.payloads import DELIVERY_DECODER, Delivery
from adapters.redact import clean_error
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.lua import ScriptSet
from bindings.replies import as_text

LedgerStatus = Literal["pending", "sending", "delivered", "dead"]
ScriptName = Literal["open", "claim", "renew", "record_chunk", "complete", "retry", "die", "reap", "revive"]
SCRIPT_NAMES: tuple[ScriptName, ...] = (
    "open", "claim", "renew", "record_chunk", "complete", "retry", "die", "reap", "revive",
)

DEFAULT_RETENTION_S = 7 * 24 * 3600
# A retry job may run this much before its nextAttemptAt (clocks of two hosts) and still claim.
EARLY_TOLERANCE_MS = 1000


class LedgerRecord(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """A delivery's ledger record as `tether explain` and `tether dlq show` print it."""

    delivery_id: str
    event_id: str
    channel: str
    status: LedgerStatus
    attempts: int
    fence: int
    chunks: int | None
    chunks_done: int
    message_ids: list[str]  # platform message id of each recorded chunk, in order
    created_at: int
    updated_at: int
    owner: str | None = None
    lease_until: int | None = None
    inflight_chunk: int | None = None
    next_attempt_at: int | None = None
    last_error: str | None = None
    delivered_at: int | None = None
    dead_at: int | None = None
    dead_reason: str | None = None
    job_id: str | None = None
    replays: int = 0
    delivery: Delivery | None = None


class OpenResult(msgspec.Struct, frozen=True):
    """`job`: "enqueued" (the open wrote job `job_id`), "present" (a job `job_id` exists already), "caller" (the
    record is pending under `job_id` and no job was written: enqueue it), "none" (not pending: nothing to run)."""

    outcome: Literal["created", "revived", "exists"]
    status: LedgerStatus
    job_id: str
    job: Literal["enqueued", "present", "caller", "none"] = "caller"


class JobSpec(NamedTuple):
    """An RQ job for `Ledger.open` to enqueue with the record, its one argument being the delivery: what
    `Queue.enqueue(func_name, delivery, job_id=…, unique=True, job_timeout=timeout_s, result_ttl=result_ttl_s,
    failure_ttl=failure_ttl_s, description=description)` would enqueue on `queue` at `enqueued_at` (RQ's format)."""

    queue: str
    func_name: str
    description: str
    timeout_s: int
    result_ttl_s: int
    failure_ttl_s: int
    enqueued_at: str


class Claim(msgspec.Struct, frozen=True):
    """The answer to a claim: `outcome == "claimed"` grants the lease with `fence`; anything else means hands off."""

    outcome: Literal["claimed", "missing", "delivered", "dead", "busy", "early"]
    fence: int = 0
    attempts: int = 0
    chunks_done: int = 0
    chunks: int = 0
    inflight_chunk: int | None = None
    until_ms: int | None = None  # busy: lease deadline; early: next attempt time

    @property
    def granted(self) -> bool:
        return self.outcome == "claimed"


class Reaped(msgspec.Struct, frozen=True):
    outcome: Literal["skip", "finished", "live", "expired", "check"]
    job_id: str | None = None  # expired: the job to enqueue; check: the job expected to run it
    new_job_id: str | None = None  # check: the job to enqueue if the expected one is gone
    payload: bytes | None = None
    channel: str | None = None


class Revived(msgspec.Struct, frozen=True):
    outcome: Literal["revived", "rearmed", "missing", "pending", "sending", "delivered", "dead"]
    job_id: str | None = None
    payload: bytes | None = None
    channel: str | None = None


# Lua functions (ledger_*_fn.lua) prepended to the scripts that call them.
_FUNCTIONS: dict[str, str] = {"open": "open", "complete": "complete", "record_chunk": "complete"}
OPEN_FUNCTION_FILE = "adapters.delivery:ledger_open_fn"
"""`ledger_open(K, k, A, a)` (ledger_open_fn.lua), for scripts that hand a delivery off themselves: list it before
the script in their `ScriptSet` and pass it the keys and arguments of `Ledger.open_call` at offsets k and a of KEYS
and ARGV."""


def _files(name: str) -> tuple[str, ...]:
    function = _FUNCTIONS.get(name)
    return (f"ledger_{name}",) if function is None else (f"ledger_{function}_fn", f"ledger_{name}")


SCRIPTS: ScriptSet[ScriptName] = ScriptSet("adapters.delivery", {name: _files(name) for name in SCRIPT_NAMES})


def open_result(reply: Any) -> OpenResult:
    """What `ledger_open` returned, as an OpenResult."""
    return OpenResult(as_text(reply[0]), as_text(reply[1]), as_text(reply[2]), as_text(reply[3]))  # type: ignore[arg-type]



def _opt_int(value: Any) -> int | None:
    return None if value is None or value in (b"", "") else int(value)


class Ledger:
    def __init__(self, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK,
                 retention_s: int = DEFAULT_RETENTION_S) -> None:
        self.client = client
        self.clock = clock
        self.retention_s = retention_s

    def _run(self, name: ScriptName, delivery_id: str, args: Sequence[str | int | bytes],
             extra_keys: Sequence[str] = ()) -> Any:
        keys_ = [keys.delivery(delivery_id), keys.delivery_watch(), *extra_keys]
        return SCRIPTS.run(self.client, name, keys_, [delivery_id, *args])

    def now_ms(self) -> int:
        return self.clock.now_ms()

    # -- reads ------------------------------------------------------------------------------------------------

    def get(self, delivery_id: str) -> LedgerRecord | None:
        raw: dict[bytes, bytes] = self.client.hgetall(keys.delivery(delivery_id))  # type: ignore[assignment]
        if not raw or b"status" not in raw:
            return None
        return _record(delivery_id, {as_text(k): v for k, v in raw.items()})

    def status(self, delivery_id: str) -> LedgerStatus | None:
        raw = self.client.hget(keys.delivery(delivery_id), "status")
        return None if raw is None else as_text(raw)  # type: ignore[return-value]

    def due(self, now_ms: int, limit: int = 200) -> list[str]:
        """Deliveries whose watch deadline has passed (expired leases, jobs that never ran), oldest first."""
        raw: list[bytes] = self.client.zrangebyscore(  # type: ignore[assignment]
            keys.delivery_watch(), "-inf", now_ms, start=0, num=limit)
        return [as_text(i) for i in raw]

    # -- writes (each one Lua script) -------------------------------------------------------------------------

    def open(self, delivery: Delivery, *, job_id: str, watch_at_ms: int, now_ms: int | None = None,
             job: JobSpec | None = None, payload: bytes | None = None) -> OpenResult:
        """Create (or revive) the record; with `job`, also enqueue that RQ job under `job_id` in the same step
        whenever the record is left pending under `job_id` without one. `payload`: the delivery's JSON, when the
        caller has it already."""
        return self.run_open(*self.open_call(delivery, job_id=job_id, watch_at_ms=watch_at_ms, now_ms=now_ms,
                                             job=job, payload=payload))

    def run_open(self, keys_: list[str], args: list[str | int | bytes]) -> OpenResult:
        """`open` with the keys and arguments `open_call` gave."""
        return open_result(SCRIPTS.run(self.client, "open", keys_, args))

    def open_call(self, delivery: Delivery, *, job_id: str, watch_at_ms: int, now_ms: int | None = None,
                  job: JobSpec | None = None,
                  payload: bytes | None = None) -> tuple[list[str], list[str | int | bytes]]:
        """The keys and arguments of `open`, for `ledger_open` in a script of the caller's (`OPEN_FUNCTION_FILE`)."""
        now = self.now_ms() if now_ms is None else now_ms
        keys_ = [keys.delivery(delivery.delivery_id), keys.delivery_watch()]
        args: list[str | int | bytes] = [
            delivery.delivery_id, now, payload if payload is not None else msgspec.json.encode(delivery),
            delivery.destination.channel, delivery.event_id, job_id, watch_at_ms,
        ]
        if job is not None:
            keys_ += [rqwire.rq_job_key(job_id), rqwire.rq_queue_key(job.queue), rqwire.rq_queues_key()]
            args += [job.func_name, job.queue, job.description, job.timeout_s, job.result_ttl_s, job.failure_ttl_s,
                     job.enqueued_at]
        return keys_, args

    def claim(self, delivery_id: str, *, owner: str, lease_ms: int, chunk_count: int, mark_next: bool = False,
              now_ms: int | None = None) -> Claim:
        """Take the lease. With `mark_next`, a granted claim also marks the next chunk in flight, as
        `renew(sending_chunk=...)` would (the returned `inflight_chunk` is still the one found)."""
        now = self.now_ms() if now_ms is None else now_ms
        out = self._run("claim", delivery_id, [now, owner, lease_ms, chunk_count, EARLY_TOLERANCE_MS,
                                               int(mark_next)])
        outcome = as_text(out[0])
        if outcome == "claimed":
            inflight = int(out[5])
            return Claim("claimed", fence=int(out[1]), attempts=int(out[2]), chunks_done=int(out[3]),
                         chunks=int(out[4]), inflight_chunk=None if inflight < 0 else inflight)
        return Claim(outcome, until_ms=int(out[1]) if len(out) > 1 else None)  # type: ignore[arg-type]

    def renew(self, delivery_id: str, fence: int, *, lease_ms: int, sending_chunk: int | None = None,
              now_ms: int | None = None) -> bool:
        """Extend the lease; with `sending_chunk`, also mark that chunk in flight (it must be the next one)."""
        now = self.now_ms() if now_ms is None else now_ms
        index = -1 if sending_chunk is None else sending_chunk
        return bool(self._run("renew", delivery_id, [fence, now, lease_ms, index]))

    def record_chunk(self, delivery_id: str, fence: int, index: int, message_id: str, *, lease_ms: int,
                     now_ms: int | None = None) -> bool:
        now = self.now_ms() if now_ms is None else now_ms
        return bool(int(self._run("record_chunk", delivery_id, [fence, index, message_id, now, lease_ms])[0]))

    def record_last_chunk(self, delivery_id: str, fence: int, index: int, message_id: str, *, lease_ms: int,
                          now_ms: int | None = None) -> list[str] | None:
        """`record_chunk` and, as that was the last chunk, `complete`, in one step: the message ids of all chunks,
        or None when the token is stale or the chunk is not the next one."""
        now = self.now_ms() if now_ms is None else now_ms
        out = self._run("record_chunk", delivery_id, [fence, index, message_id, now, lease_ms, self.retention_s])
        if not int(out[0]):
            return None
        if len(out) == 1:
            raise RuntimeError(f"chunk {index} of delivery {delivery_id} was recorded but is not its last")
        return [as_text(m) for m in out[1:]]

    def complete(self, delivery_id: str, fence: int, *, now_ms: int | None = None) -> list[str] | None:
        """Mark delivered; returns the message ids of all chunks, or None when the token is stale."""
        now = self.now_ms() if now_ms is None else now_ms
        out = self._run("complete", delivery_id, [fence, now, self.retention_s])
        if not int(out[0]):
            return None
        return [as_text(m) for m in out[1:]]

    def retry(self, delivery_id: str, fence: int, *, next_attempt_at_ms: int, error: str, job_id: str,
              watch_at_ms: int, now_ms: int | None = None, unsent: bool = False) -> bool:
        """Back to pending. `unsent`: the chunk in flight certainly did not leave (its mark is dropped, so the next
        attempt sends it without treating it as an unknown outcome)."""
        now = self.now_ms() if now_ms is None else now_ms
        return bool(self._run("retry", delivery_id, [
            fence, now, next_attempt_at_ms, clean_error(error), job_id, watch_at_ms, int(unsent),
        ]))

    def die(self, delivery_id: str, fence: int, letter: DeadLetter, *, now_ms: int | None = None) -> bool:
        """Mark dead and file `letter` (secrets redacted) in one step."""
        now = self.now_ms() if now_ms is None else now_ms
        letter = scrubbed(letter)
        return bool(self._run("die", delivery_id, [
            fence, now, letter.reason, letter.last_error or "", msgspec.json.encode(letter), letter.id,
        ], extra_keys=[keys.dead_letter(letter.id), keys.dead_letter_index()]))

    def reap(self, delivery_id: str, *, lease_ms: int, job_prefix: str, now_ms: int | None = None) -> Reaped:
        now = self.now_ms() if now_ms is None else now_ms
        out = self._run("reap", delivery_id, [now, lease_ms, job_prefix])
        outcome = as_text(out[0])
        if outcome == "expired":
            return Reaped("expired", job_id=as_text(out[1]), payload=out[2], channel=as_text(out[3]))
        if outcome == "check":
            return Reaped("check", job_id=as_text(out[1]) or None, new_job_id=as_text(out[2]), payload=out[3],
                          channel=as_text(out[4]))
        return Reaped(outcome)  # type: ignore[arg-type]

    def revive(self, delivery_id: str, letter_id: str, *, job_prefix: str, watch_at_ms: int, rearm: bool = False,
               now_ms: int | None = None) -> Revived:
        now = self.now_ms() if now_ms is None else now_ms
        out = self._run("revive", delivery_id, [letter_id, now, job_prefix, watch_at_ms,
                                                 "rearm" if rearm else "replay"],
                        extra_keys=[keys.dead_letter(letter_id), keys.dead_letter_index()])
        outcome = as_text(out[0])
        if outcome == "revived":
            return Revived("revived", job_id=as_text(out[1]), payload=out[2], channel=as_text(out[3]))
        return Revived(outcome)  # type: ignore[arg-type]

    def set_job(self, delivery_id: str, job_id: str) -> None:
        """Note which job is now expected to run the delivery (informational for the reaper's next check)."""
        self.client.hset(keys.delivery(delivery_id), "job", job_id)

    def expire_dead(self, delivery_id: str) -> bool:
        """After its dead letter is purged, a dead record is kept only for the retention period."""
        if self.status(delivery_id) != "dead":
            return False
        return bool(self.client.expire(keys.delivery(delivery_id), self.retention_s))


def _record(delivery_id: str, raw: dict[str, bytes]) -> LedgerRecord:
    def s(name: str) -> str | None:
        v = raw.get(name)
        return None if v is None else as_text(v)

    def i(name: str) -> int | None:
        return _opt_int(raw.get(name))

    chunks_done = i("done") or 0
    payload = raw.get("payload")
    delivery: Delivery | None = None
    if payload:
        try:
            delivery = DELIVERY_DECODER.decode(payload)
        except msgspec.DecodeError:
            delivery = None
    return LedgerRecord(
        delivery_id=s("deliveryId") or delivery_id,
        event_id=s("eventId") or "",
        channel=s("channel") or "",
        status=s("status"),  # type: ignore[arg-type]
        attempts=i("attempts") or 0,
        fence=i("fence") or 0,
        chunks=i("chunks"),
        chunks_done=chunks_done,
        message_ids=[s(f"msg:{n}") or "" for n in range(chunks_done)],
        created_at=i("createdAt") or 0,
        updated_at=i("updatedAt") or 0,
        owner=s("owner"),
        lease_until=i("leaseUntil"),
        inflight_chunk=i("inflight"),
        next_attempt_at=i("nextAttemptAt"),
        last_error=s("lastError"),
        delivered_at=i("deliveredAt"),
        dead_at=i("deadAt"),
        dead_reason=s("deadReason"),
        job_id=s("job"),
        replays=i("replays") or 0,
        delivery=delivery,
    )
