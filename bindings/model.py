"""Binding records: camelCase on the wire (JSON, Redis), snake_case in Python."""

from __future__ import annotations

from typing import Literal

import msgspec

TargetKind = Literal["subagent", "session", "acp"]
BindingStatus = Literal["active", "ending", "ended"]
Placement = Literal["current", "child"]

TARGET_KINDS: tuple[str, ...] = ("subagent", "session")  # "acp" is reserved: accepted by the type, refused by bind


class ConversationRef(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """Where a message goes: a conversation of one account on one channel (platform)."""

    channel: str
    account_id: str = "default"
    conversation_id: str | None = None
    parent_conversation_id: str | None = None


class SessionBindingRecord(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    binding_id: str
    target_session_key: str
    target_kind: TargetKind
    conversation: ConversationRef
    status: BindingStatus
    bound_at: int
    expires_at: int | None = None
    idle_timeout_ms: int | None = None
    max_age_ms: int | None = None
    last_activity_at: int | None = None
    label: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    ended_at: int | None = None
    end_reason: str | None = None

    def is_active(self, now_ms: int) -> bool:
        return self.status == "active" and (self.expires_at is None or now_ms < self.expires_at)


def to_json(obj: object) -> bytes:
    return msgspec.json.encode(obj)
