"""A record's stored form: one-letter fields, defaults and derived values left out, and back again."""

from __future__ import annotations

from bindings.codec import DEFAULTS, FIELDS, decode, encode_new
from bindings.model import ConversationRef, SessionBindingRecord


def record(**changes: object) -> SessionBindingRecord:
    base: dict[str, object] = {
        "binding_id": "0123456789ab",
        "target_session_key": "agent:main:subagent:abc",
        "target_kind": "subagent",
        "conversation": ConversationRef(channel="discord", conversation_id="1234567890123456789"),
        "status": "active",
        "bound_at": 1_764_000_000_000,
        "expires_at": 1_764_086_400_000,
        "idle_timeout_ms": 86_400_000,
        "last_activity_at": 1_764_000_000_000,
    }
    base.update(changes)
    return SessionBindingRecord(**base)  # type: ignore[arg-type]


def test_a_typical_record_stores_only_what_it_cannot_derive() -> None:
    flat = encode_new(record())
    assert dict(zip(flat[0::2], flat[1::2], strict=True)) == {
        "s": "agent:main:subagent:abc",
        "c": "discord",
        "v": "1234567890123456789",
        "b": "1764000000000",
        "i": "86400000",
    }


def test_round_trip_of_a_full_record() -> None:
    full = record(
        target_kind="session",
        conversation=ConversationRef(
            channel="discord", account_id="ops", conversation_id="222", parent_conversation_id="111"
        ),
        max_age_ms=3_600_000,
        expires_at=1_764_003_600_000,
        label="research",
        metadata={"threadId": "222", "webhookId": "w-1"},
    )
    assert decode(full.binding_id, [x.encode() for x in encode_new(full)]) == full


def test_expires_at_is_derived_from_the_stored_times() -> None:
    flat = encode_new(record(idle_timeout_ms=1000, expires_at=None))
    assert decode("x", flat).expires_at == 1_764_000_001_000
    assert decode("x", [*flat, "l", "1764000000500"]).expires_at == 1_764_000_001_500
    assert decode("x", [*flat, "m", "700"]).expires_at == 1_764_000_000_700


def test_field_letters_are_unique_and_defaults_name_known_fields() -> None:
    assert len(FIELDS) == len(set(FIELDS.values()))
    assert set(DEFAULTS) <= set(FIELDS)
