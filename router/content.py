"""Content generation, kept apart from destination selection (DESIGN §2, invariant 1): given a decision already
made, build the one Delivery that carries the event's text and identity, unchanged, to that decision's destination.
Nothing here can change where a message goes.
"""

from __future__ import annotations

from adapters.payloads import Content, Delivery, delivery_id_for
from router.event import CompletionEvent
from router.store import DecisionRecord


def build_delivery(event: CompletionEvent, decision: DecisionRecord) -> Delivery:
    if decision.destination is None:
        raise ValueError(f"decision for {decision.event_id!r} has no destination: nothing to deliver")
    return Delivery(
        delivery_id=delivery_id_for(event.event_id, decision.destination),
        event_id=event.event_id,
        destination=decision.destination,
        mode=decision.mode,
        reason=decision.reason,
        content=Content(text=event.content.text),
        identity=event.identity,
        binding_id=decision.binding_id,
        target_session_key=event.target_session_key,
        event_created_at=event.created_at,
        routed_at=decision.decided_at,  # of the first decision: a retry hands off the very same delivery
    )
