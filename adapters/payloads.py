"""What the router hands to an adapter worker: frozen camelCase msgspec Structs, decoded by Decoders built once.

New fields always get defaults: workers of two versions may share a queue during a rolling deploy.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

from bindings.model import ConversationRef

RouteMode = Literal["bound", "fallback"]


class _Wire(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True, kw_only=True):
    pass


class Identity(_Wire, frozen=True):
    """Who the message appears to come from, where the platform allows per-message identity."""

    username: str | None = None
    avatar_url: str | None = None


class Content(_Wire, frozen=True):
    text: str


class Delivery(_Wire, frozen=True):
    """One message to one destination. `delivery_id` is deterministic: same event + destination, same id."""

    delivery_id: str
    event_id: str
    destination: ConversationRef
    mode: RouteMode
    reason: str
    content: Content
    identity: Identity | None = None
    binding_id: str | None = None
    target_session_key: str | None = None
    event_created_at: int | None = None  # ms epoch, for the enqueue→delivered latency
    routed_at: int | None = None


def delivery_id_for(event_id: str, destination: ConversationRef) -> str:
    parts = (event_id, destination.channel, destination.account_id, destination.conversation_id or "")
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"d-{digest}"


DELIVERY_DECODER = msgspec.json.Decoder(Delivery)
