"""Normalisation of conversation references (DESIGN §3): the one place that decides when two refs are the same.

- channel: trimmed, lower-cased;
- accountId: trimmed, empty → `default`, lower-cased, runs of characters outside `[a-z0-9_-]` → `-`,
  leading/trailing `-` stripped, at most 64 characters (empty after all that → `default`);
- conversationId: trimmed only (platform ids are case-sensitive); empty → absent;
- parentConversationId: trimmed; empty or equal to conversationId → absent.
"""

from __future__ import annotations

import re

from bindings.errors import InvalidInput
from bindings.model import ConversationRef

DEFAULT_ACCOUNT_ID = "default"
MAX_ACCOUNT_ID_CHARS = 64

_OUTSIDE_ACCOUNT_ALPHABET = re.compile(r"[^a-z0-9_-]+")


def normalize_channel(channel: str | None) -> str:
    return (channel or "").strip().lower()


def normalize_account_id(account_id: str | None) -> str:
    trimmed = (account_id or "").strip()
    if not trimmed:
        return DEFAULT_ACCOUNT_ID
    canonical = _OUTSIDE_ACCOUNT_ALPHABET.sub("-", trimmed.lower()).strip("-")[:MAX_ACCOUNT_ID_CHARS]
    return canonical or DEFAULT_ACCOUNT_ID


def _normalize_id(value: str | None) -> str | None:
    trimmed = (value or "").strip()
    return trimmed or None


def normalize_conversation(ref: ConversationRef, *, field: str = "conversation") -> ConversationRef:
    """The canonical form of `ref`; a ref without a channel is InvalidInput (`<field>.channel`)."""
    channel = normalize_channel(ref.channel)
    if not channel:
        raise InvalidInput(f"{field}.channel", "a conversation needs a channel")
    conversation_id = _normalize_id(ref.conversation_id)
    parent = _normalize_id(ref.parent_conversation_id)
    return ConversationRef(
        channel=channel,
        account_id=normalize_account_id(ref.account_id),
        conversation_id=conversation_id,
        parent_conversation_id=None if parent == conversation_id else parent,
    )
