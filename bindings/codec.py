"""A binding record as a Redis hash with one-letter field names (a million records: every byte counts).

The letters are part of the storage format, shared with the Lua scripts (`lib.lua` reads `t`, `b`, `i`, `m`, `l`,
`s`, `c`, `a`, `v`); never reuse a letter for another meaning. Absent optional values are absent fields, and so
are the commonest values (`DEFAULTS`). `expiresAt` is not stored: it follows from boundAt, lastActivityAt and the
two timeouts (`deadline`), so it can never disagree with them. Integers are stored as decimal strings, which
Redis keeps as integers inside a listpack. With these rules a typical record's listpack stays within 128 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import msgspec

from bindings.model import BindingStatus, ConversationRef, SessionBindingRecord, TargetKind
from bindings.replies import as_text

FIELDS: dict[str, str] = {
    "s": "targetSessionKey",
    "k": "targetKind",
    "c": "conversation.channel",
    "a": "conversation.accountId",
    "v": "conversation.conversationId",
    "p": "conversation.parentConversationId",
    "t": "status",
    "b": "boundAt",
    "i": "idleTimeoutMs",
    "m": "maxAgeMs",
    "l": "lastActivityAt",  # absent until the first touch: then it equals boundAt
    "n": "label",
    "d": "metadata",  # JSON object of strings; absent when empty
    "x": "endedAt",
    "y": "endReason",
}

# Values left out of the stored hash; `lib.lua`'s `as_table` restores the ones the scripts read (t, a).
DEFAULTS: dict[str, str] = {"t": "active", "k": "subagent", "a": "default"}

_metadata_decoder = msgspec.json.Decoder(dict[str, str])


def deadline(bound_at: int, last_activity_at: int, idle_timeout_ms: int | None, max_age_ms: int | None) -> int | None:
    """expiresAt: the earlier of the idle deadline and the max-age deadline; None when neither applies."""
    deadlines = []
    if idle_timeout_ms:
        deadlines.append(last_activity_at + idle_timeout_ms)
    if max_age_ms:
        deadlines.append(bound_at + max_age_ms)
    return min(deadlines) if deadlines else None


def encode_new(record: SessionBindingRecord) -> list[str]:
    """Field/value pairs, flat, of a freshly bound (active) record."""
    conv = record.conversation
    pairs: list[tuple[str, str | int | None]] = [
        ("s", record.target_session_key),
        ("k", record.target_kind),
        ("c", conv.channel),
        ("a", conv.account_id),
        ("v", conv.conversation_id),
        ("p", conv.parent_conversation_id),
        ("t", record.status),
        ("b", record.bound_at),
        ("i", record.idle_timeout_ms),
        ("m", record.max_age_ms),
        ("l", None if record.last_activity_at == record.bound_at else record.last_activity_at),
        ("n", record.label),
        ("d", msgspec.json.encode(record.metadata).decode() if record.metadata else None),
    ]
    flat: list[str] = []
    for name, value in pairs:
        if value is not None and DEFAULTS.get(name) != value:
            flat += [name, str(value)]
    return flat



def decode(binding_id: str, flat: Sequence[bytes | str]) -> SessionBindingRecord:
    """The record from HGETALL's flat field/value list (as scripts return it)."""
    h: dict[str, str] = {as_text(flat[i]): as_text(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}
    return decode_mapping(binding_id, h)


def decode_mapping(binding_id: str, h: Mapping[str, str]) -> SessionBindingRecord:
    def opt_int(name: str) -> int | None:
        value = h.get(name)
        return None if value is None else int(value)

    def text(name: str) -> str:
        return h.get(name) or DEFAULTS[name]

    bound_at = int(h["b"])
    last_activity_at = opt_int("l") or bound_at
    idle_timeout_ms = opt_int("i")
    max_age_ms = opt_int("m")
    return SessionBindingRecord(
        binding_id=binding_id,
        target_session_key=h["s"],
        target_kind=cast(TargetKind, text("k")),
        conversation=ConversationRef(
            channel=h["c"],
            account_id=text("a"),
            conversation_id=h.get("v"),
            parent_conversation_id=h.get("p"),
        ),
        status=cast(BindingStatus, text("t")),
        bound_at=bound_at,
        expires_at=deadline(bound_at, last_activity_at, idle_timeout_ms, max_age_ms),
        idle_timeout_ms=idle_timeout_ms,
        max_age_ms=max_age_ms,
        last_activity_at=last_activity_at,
        label=h.get("n"),
        metadata=_metadata_decoder.decode(h["d"]) if "d" in h else {},
        ended_at=opt_int("x"),
        end_reason=h.get("y"),
    )
