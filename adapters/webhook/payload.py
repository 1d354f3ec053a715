"""The JSON bodies tether posts: `tether.message` (one per chunk) and `tether.conversation.create` (child placement).

Both have the Standard Webhooks envelope `{"type", "timestamp", "data"}`; `timestamp` is when this request was made
(ISO 8601, UTC), so it differs between a send and its resend while `webhook-id` and `data` stay the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import msgspec

from adapters.protocol import OutboundChunk
from bindings.model import ConversationRef

MESSAGE_TYPE = "tether.message"
CREATE_TYPE = "tether.conversation.create"

_encoder = msgspec.json.Encoder()


class Conversation(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    channel: str
    account_id: str
    conversation_id: str | None
    parent_conversation_id: str | None


class Identity(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    username: str | None
    avatar_url: str | None


class MessageData(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    delivery_id: str
    event_id: str
    chunk: int  # 0-based index of this chunk
    chunks: int
    conversation: Conversation
    text: str
    identity: Identity | None
    mode: str  # "bound" | "fallback"
    reason: str  # why the router chose this destination
    metadata: dict[str, str]


class CreateData(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    conversation: Conversation  # conversationId is null: the receiver names it in its answer
    label: str | None
    target_session_key: str


def webhook_id_for_chunk(idempotency_key: str) -> str:
    """The engine's key is deterministic per (delivery, chunk): every resend of a chunk carries the same id."""
    return f"msg_{idempotency_key}"


def webhook_id_for_create(account_id: str, parent: str, target_session_key: str, label: str | None) -> str:
    """Deterministic per bind request (same account, parent, session and label), so a receiver that dedupes answers
    a retried provisioning with the conversation it already created."""
    raw = "\x1f".join((account_id, parent, target_session_key, label or ""))
    return "conv_" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def _conversation(ref: ConversationRef) -> Conversation:
    return Conversation(channel=ref.channel, account_id=ref.account_id, conversation_id=ref.conversation_id,
                        parent_conversation_id=ref.parent_conversation_id)


def _envelope(kind: str, now_ms: int, data: object) -> bytes:
    stamp = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).isoformat(timespec="milliseconds")
    return _encoder.encode({"type": kind, "timestamp": stamp.replace("+00:00", "Z"), "data": data})


def message_body(chunk: OutboundChunk, now_ms: int) -> bytes:
    d = chunk.delivery
    metadata = {k: v for k, v in (("bindingId", d.binding_id), ("targetSessionKey", d.target_session_key)) if v}
    identity = Identity(username=d.identity.username, avatar_url=d.identity.avatar_url) if d.identity else None
    return _envelope(MESSAGE_TYPE, now_ms, MessageData(
        delivery_id=d.delivery_id, event_id=d.event_id, chunk=chunk.index, chunks=chunk.count,
        conversation=_conversation(d.destination), text=chunk.text, identity=identity, mode=d.mode, reason=d.reason,
        metadata=metadata))


def create_body(parent: ConversationRef, label: str | None, target_session_key: str, now_ms: int) -> bytes:
    return _envelope(CREATE_TYPE, now_ms, CreateData(conversation=_conversation(parent), label=label,
                                                     target_session_key=target_session_key))
