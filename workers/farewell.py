"""The "Session ended …" message a conversation gets when its binding ends on its own, through normal delivery."""

from __future__ import annotations

import redis

from adapters.payloads import Content, Delivery, Identity, delivery_id_for
from bindings.model import SessionBindingRecord

# Endings that deserve a word in the conversation. A deleted thread cannot be written to; a replaced binding is
# followed by the new binding's own messages; a caller's unbind says what it wants itself.
FAREWELL_REASONS = {"idle-expired": "after a period of inactivity", "max-age-expired": "after reaching its maximum age",
                    "thread-archived": "because the thread was archived"}


def farewell_text(record: SessionBindingRecord) -> str:
    why = FAREWELL_REASONS.get(record.end_reason or "", f"({record.end_reason})")
    who = record.label or record.target_session_key
    return f"Session ended {why}: {who}. Messages here are no longer routed to that session."


def farewell_delivery(record: SessionBindingRecord, now_ms: int) -> Delivery:
    event_id = f"farewell:{record.binding_id}"
    return Delivery(
        delivery_id=delivery_id_for(event_id, record.conversation),
        event_id=event_id,
        destination=record.conversation,
        mode="bound",
        reason=f"farewell:{record.end_reason}",
        content=Content(text=farewell_text(record)),
        identity=Identity(username="tether"),
        binding_id=None,  # the binding has ended: nothing to touch
        target_session_key=record.target_session_key,
        event_created_at=now_ms,
        routed_at=now_ms,
    )


def send_farewell(client: redis.Redis, record: SessionBindingRecord, now_ms: int) -> str | None:
    """Hand the farewell to its channel's adapter; None when the reason asks for none or no adapter exists."""
    if record.end_reason not in FAREWELL_REASONS:
        return None
    from adapters.delivery.handoff import hand_off
    from adapters.registry import has_adapter

    if not has_adapter(record.conversation.channel):
        return None
    return hand_off(client, farewell_delivery(record, now_ms))
