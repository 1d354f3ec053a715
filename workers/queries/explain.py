"""Why an event went where it went (`tether explain`, `GET /v1/events/{eventId}`)."""

from __future__ import annotations

from typing import Any

import msgspec
import redis

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue, router_dead_letter_id
from adapters.delivery.ledger import Ledger, LedgerRecord
from router.store import DecisionRecord, EventState, for_client


class Explanation(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    event_id: str
    known: bool  # False: never seen, or past the dedupe window
    first_seen_at: int | None
    job_id: str | None
    duplicates: int
    decision: DecisionRecord | None
    history: list[DecisionRecord]
    deliveries: list[dict[str, Any]]  # ledger records (without the payload) or {"deliveryId", "status": None}
    dead_letters: list[DeadLetter]

    @property
    def found(self) -> bool:
        """Anything to tell: the router knows the event, or a dead letter names it."""
        return self.known or bool(self.dead_letters)


def explain_event(client: redis.Redis, event_id: str) -> Explanation:
    state: EventState | None = for_client(client).state(event_id)
    decisions = ([] if state is None else state.history) + ([state.decision] if state and state.decision else [])
    delivery_ids = list(dict.fromkeys(d for dec in decisions for d in dec.delivery_ids))
    ledger = Ledger(client)
    deliveries = [_ledger_view(i, ledger.get(i)) for i in delivery_ids]
    dlq = DeadLetterQueue(client)
    letter_ids = [router_dead_letter_id(event_id, b""), *delivery_ids]
    letters = [letter for letter in (dlq.get(i) for i in letter_ids) if letter is not None]
    return Explanation(
        event_id=event_id,
        known=state is not None,
        first_seen_at=state.first_seen_at if state else None,
        job_id=state.job_id if state else None,
        duplicates=state.duplicates if state else 0,
        decision=state.decision if state else None,
        history=state.history if state else [],
        deliveries=deliveries,
        dead_letters=[msgspec.structs.replace(letter, delivery=None, event=None) for letter in letters],
    )


def _ledger_view(delivery_id: str, record: LedgerRecord | None) -> dict[str, Any]:
    if record is None:
        return {"deliveryId": delivery_id, "status": None}
    out: dict[str, Any] = msgspec.to_builtins(msgspec.structs.replace(record, delivery=None))
    out.pop("delivery", None)
    return out
