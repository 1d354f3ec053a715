"""The dead-letter queue: every delivery or event that tether gave up on, with its reason, until replayed or purged.

Router dead letters (`invalid-event`, `no-destination`, `no-adapter:<channel>`) and delivery dead letters
(`destination-gone`, `retries-exhausted`, permanent platform errors) share it. Ids are deterministic
(the delivery id, or `e-<hash of the event id or payload>`), so dead-lettering the same thing twice keeps one entry.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import msgspec
import redis

from adapters.delivery import keys
from adapters.payloads import Delivery
from adapters.redact import clean_error, redact
from bindings.model import ConversationRef
from bindings.replies import as_text

DeadLetterSource = Literal["router", "delivery"]


class DeadLetter(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    id: str
    event_id: str | None
    delivery_id: str | None
    reason: str
    attempts: int
    last_error: str | None
    destination: ConversationRef | None
    dead_at: int
    source: DeadLetterSource
    delivery: Delivery | None = None  # what to send again on replay (delivery dead letters)
    event: str | None = None  # the raw event as received, for router dead letters (replayed through routing)
    decision: dict[str, Any] | None = None


_DECODER = msgspec.json.Decoder(DeadLetter)
_ENCODER = msgspec.json.Encoder()


def router_dead_letter_id(event_id: str | None, raw: bytes | str) -> str:
    basis = event_id if event_id else (raw if isinstance(raw, bytes) else raw.encode())
    return "e-" + hashlib.sha256(basis.encode() if isinstance(basis, str) else basis).hexdigest()[:32]


def payload_dead_letter_id(raw: bytes) -> str:
    """Id of a dead letter for a delivery job whose payload could not be read (no delivery id to go by)."""
    return "j-" + hashlib.sha256(raw).hexdigest()[:32]


RAW_KEPT_CHARS = 64 * 1024  # of an unreadable job's payload


def delivery_letter(delivery: Delivery, *, reason: str, error: str, attempts: int, dead_at: int) -> DeadLetter:
    """The dead letter of a delivery the engine gave up on: replayable, with the decision behind it."""
    return DeadLetter(
        id=delivery.delivery_id,
        event_id=delivery.event_id,
        delivery_id=delivery.delivery_id,
        reason=reason,
        attempts=attempts,
        last_error=clean_error(error),
        destination=delivery.destination,
        dead_at=dead_at,
        source="delivery",
        delivery=delivery,
        decision=decision_info(delivery),
    )


def unreadable_job_letter(raw: bytes, *, job_id: str, reason: str, error: str, dead_at: int) -> DeadLetter:
    """The dead letter of a delivery job whose payload is no delivery (kept raw, up to RAW_KEPT_CHARS)."""
    return DeadLetter(
        id=payload_dead_letter_id(raw or job_id.encode()),
        event_id=None,
        delivery_id=None,
        reason=reason,
        attempts=0,
        last_error=clean_error(error),
        destination=None,
        dead_at=dead_at,
        source="delivery",
        event=raw[:RAW_KEPT_CHARS].decode("utf-8", "replace"),
    )


def decision_info(delivery: Delivery) -> dict[str, object]:
    """The routing decision behind a delivery, as dead letters keep it."""
    info: dict[str, object] = {"mode": delivery.mode, "reason": delivery.reason}
    if delivery.binding_id:
        info["bindingId"] = delivery.binding_id
    if delivery.target_session_key:
        info["targetSessionKey"] = delivery.target_session_key
    if delivery.routed_at:
        info["routedAt"] = delivery.routed_at
    return info


def matches(letter: DeadLetter, *, reason: str | None = None, source: str | None = None,
            channel: str | None = None) -> bool:
    """Filter of `tether dlq list`: a reason matches exactly or by prefix ending in ':' (`no-adapter:`)."""
    prefix_match = reason is not None and reason.endswith(":") and letter.reason.startswith(reason)
    if reason is not None and letter.reason != reason and not prefix_match:
        return False
    if source is not None and letter.source != source:
        return False
    return channel is None or (letter.destination is not None and letter.destination.channel == channel)


def scrubbed(letter: DeadLetter) -> DeadLetter:
    """The letter with secrets removed from its last error (and from a kept raw event)."""
    changes: dict[str, Any] = {}
    if letter.last_error is not None:
        cleaned = redact(letter.last_error)
        if cleaned != letter.last_error:
            changes["last_error"] = cleaned
    if letter.event is not None:
        cleaned = redact(letter.event)
        if cleaned != letter.event:
            changes["event"] = cleaned
    return msgspec.structs.replace(letter, **changes) if changes else letter


class DeadLetterQueue:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def put(self, letter: DeadLetter) -> str:
        """Store (or overwrite) a dead letter, secrets redacted; atomic with its index entry."""
        letter = scrubbed(letter)
        pipe = self.client.pipeline(transaction=True)
        pipe.set(keys.dead_letter(letter.id), _ENCODER.encode(letter))
        pipe.zadd(keys.dead_letter_index(), {letter.id: letter.dead_at})
        pipe.execute()
        return letter.id

    def get(self, letter_id: str) -> DeadLetter | None:
        raw = self.client.get(keys.dead_letter(letter_id))
        return None if raw is None else _DECODER.decode(raw)

    def ids(self, offset: int = 0, limit: int | None = None) -> list[str]:
        """Oldest first."""
        end = -1 if limit is None else offset + limit - 1
        raw: list[bytes] = self.client.zrange(keys.dead_letter_index(), offset, end)  # type: ignore[assignment]
        return [as_text(i) for i in raw]

    def letters(self, offset: int = 0, limit: int | None = None) -> list[DeadLetter]:
        ids = self.ids(offset, limit)
        if not ids:
            return []
        raws = self.client.mget([keys.dead_letter(i) for i in ids])
        return [_DECODER.decode(r) for r in raws if r is not None]

    def count(self) -> int:
        return int(self.client.zcard(keys.dead_letter_index()))

    def remove(self, letter_id: str) -> bool:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(keys.dead_letter(letter_id))
        pipe.zrem(keys.dead_letter_index(), letter_id)
        deleted, _ = pipe.execute()
        return bool(deleted)

    def purge(self, letter_ids: list[str] | None = None) -> int:
        """Remove the given dead letters, or all of them; returns how many were removed."""
        ids = self.ids() if letter_ids is None else letter_ids
        return sum(1 for i in ids if self.remove(i))
