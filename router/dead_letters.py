"""The router's one way to give up on an event: a dead letter (`source="router"`) keeping the raw event (and the
decision, when one was made) for `tether dlq replay`, counted in the router's counters and metrics.

Reasons: `invalid-event` (with the validation message and its field path), `no-destination`, `no-adapter:<channel>`,
`route-failed` (an unexpected error that outlived the job's retries).
"""

from __future__ import annotations

import msgspec
import redis

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue, router_dead_letter_id
from bindings.config import TetherConfig
from router import keys
from router import metrics as prom
from router.event import peek_event_id
from router.store import DecisionRecord, for_client

INVALID_EVENT = "invalid-event"
NO_DESTINATION = "no-destination"
ROUTE_FAILED = "route-failed"


def dead_letter_event(client: redis.Redis, config: TetherConfig, raw: bytes, *, reason: str, attempts: int,
                      now_ms: int, last_error: str | None = None,
                      decision: DecisionRecord | None = None) -> DeadLetter:
    """File the event `raw` as dead (once: the letter id comes from the event id or the payload) and count it."""
    event_id = decision.event_id if decision is not None else peek_event_id(raw)
    letter = DeadLetter(
        id=router_dead_letter_id(event_id, raw),
        event_id=event_id,
        delivery_id=decision.delivery_ids[0] if decision is not None and decision.delivery_ids else None,
        reason=reason,
        attempts=attempts,
        last_error=last_error,
        destination=decision.destination if decision is not None else None,
        dead_at=now_ms,
        source="router",
        event=_truncate(raw, config.router.max_event_bytes),
        decision=msgspec.to_builtins(decision) if decision is not None else None,
    )
    DeadLetterQueue(client).put(letter)
    invalid = reason == INVALID_EVENT
    for_client(client).count(keys.outcome_counter(INVALID_EVENT if invalid else f"dead-letter:{reason}"))
    prom.count_event("invalid-event" if invalid else "dead-letter")
    return letter


def _truncate(raw: bytes, max_bytes: int) -> str:
    text = raw[:max_bytes].decode("utf-8", errors="replace")
    return text if len(raw) <= max_bytes else text + f"…[{len(raw) - max_bytes} more bytes dropped]"
