"""Routing one completion event: at most one delivery handed off (or a dead letter), every step recorded.

    validate ─► feature gate + decision table (a proposal) ─► build its content (router.content)
             ─► dedupe + sticky store + hand-off to deliver.<channel> of a new decision (route.lua, one round trip)
             ─► a sticky decision (a retry, a replay): build its content, hand_off (one more round trip)

The proposal, and the delivery carrying it, are computed before the script so that deduping, storing the decision
and handing its delivery off are one atomic step; when the event already has a decision (a retry, a replay) or
belongs to another job (a duplicate) the proposal is dropped unused. Content never influences the destination: it is
built from a decision already made. Routing reads bindings but never writes them.

Outcomes: `handed-off`; `duplicate` (another job owns the event: nothing happens); dead letters `invalid-event`
(with the validation message and its field path), `no-destination` (fallback without a requester),
`no-adapter:<channel>`, and `route-failed` (an unexpected error that outlived the job's retries).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import msgspec
import redis

from adapters.delivery.handoff import finish_hand_off, hand_off, prepare_hand_off
from adapters.redact import redact
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.errors import InvalidInput
from bindings.model import ConversationRef
from router import metrics as prom
from router.availability import adapter_available
from router.content import build_delivery
from router.dead_letters import INVALID_EVENT, NO_DESTINATION, dead_letter_event
from router.decision import BindingLister
from router.event import parse_event
from router.payload import describe_payload, payload_bytes
from router.propose import propose
from router.settings import dedupe_window_ms
from router.start_read import binding_service
from router.store import DecisionRecord, destination_fields, destination_label, for_client

__all__ = [
    "RouteResult",
    "dead_letter_invalid",
    "hand_off",  # with prepare_hand_off: the seams to the delivery engine, which tests replace
    "prepare_hand_off",
    "route",
]

log = logging.getLogger("tether.router")

Outcome = Literal["handed-off", "duplicate", "invalid-event", "dead-letter"]


class RouteResult(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True, kw_only=True):
    """What a route job returns (RQ keeps it as the job's result)."""

    outcome: Outcome
    event_id: str | None = None
    decision: Literal["new", "sticky"] | None = None
    mode: str | None = None
    reason: str | None = None
    binding_id: str | None = None
    destination: ConversationRef | None = None
    delivery_id: str | None = None
    dead_letter_id: str | None = None
    dead_letter_reason: str | None = None
    owner_job_id: str | None = None  # for a duplicate: the job that routes the event


def route(
    client: redis.Redis,
    config: TetherConfig,
    payload: Any,
    *,
    job_id: str,
    attempts: int = 1,
    clock: Clock = SYSTEM_CLOCK,
    bindings: BindingLister | None = None,
) -> RouteResult:
    """Route one event (the job's argument, already JSON-decoded). `bindings` defaults to the binding service
    on `client`. Raises only on infrastructure errors (Redis, hand-off), which the job's retries handle."""
    now_ms = clock.now_ms()
    try:
        raw = payload_bytes(payload)
    except InvalidInput as exc:
        return dead_letter_invalid(client, config, describe_payload(payload), exc, attempts=attempts, now_ms=now_ms)
    try:
        event = parse_event(raw, max_bytes=config.router.max_event_bytes)
    except InvalidInput as exc:
        return dead_letter_invalid(client, config, raw, exc, attempts=attempts, now_ms=now_ms)

    store = for_client(client, dedupe_window_ms=dedupe_window_ms(config))
    proposal = propose(event, config, lambda: bindings or binding_service(client), now_ms=now_ms, job_id=job_id,
                       clock=clock)
    # A new decision is handed off by the very script that stores it (one round trip, no gap between the two);
    # a sticky one (a retry, a replay) is handed off below, on its own.
    call = None
    if proposal.destination is not None and adapter_available(proposal.destination.channel):
        call = prepare_hand_off(client, build_delivery(event, proposal))
    claim = store.claim(event_id=event.event_id, job_id=job_id, raw_event=raw, proposal=proposal, now_ms=now_ms,
                        hand_off=call)
    if claim.status == "duplicate":
        prom.count_event("duplicate")
        log.info("duplicate event: nothing to do",
                 extra={"eventId": event.event_id, "jobId": job_id, "ownerJobId": claim.owner_job_id})
        return RouteResult(outcome="duplicate", event_id=event.event_id, owner_job_id=claim.owner_job_id)
    decision = claim.decision
    assert decision is not None
    if claim.status == "new":
        prom.count_decision(decision.mode, decision.reason)
        log.info("routing decision", extra={
            "eventId": decision.event_id,
            "mode": decision.mode,
            "reason": decision.reason,
            "bindingId": decision.binding_id,
            "destination": destination_fields(decision.destination),
            "targetSessionKey": decision.target_session_key,
            "jobId": job_id,
        })
    result = RouteResult(
        outcome="handed-off",
        event_id=event.event_id,
        decision=claim.status,
        mode=decision.mode,
        reason=decision.reason,
        binding_id=decision.binding_id,
        destination=decision.destination,
    )

    if decision.destination is None:
        return _dead_letter_decided(client, config, result, decision=decision, raw=raw, reason=NO_DESTINATION,
                                    attempts=attempts, now_ms=now_ms)
    if not adapter_available(decision.destination.channel):
        reason = f"no-adapter:{decision.destination.channel}"
        return _dead_letter_decided(client, config, result, decision=decision, raw=raw, reason=reason,
                                    attempts=attempts, now_ms=now_ms)

    if call is not None and claim.handed_off is not None:
        delivery_id = finish_hand_off(client, call, claim.handed_off)
    else:
        # Idempotent: a retry after a crash anywhere here hands off the same delivery, once.
        delivery_id = hand_off(client, build_delivery(event, decision))
    prom.count_event("handed-off")
    return msgspec.structs.replace(result, delivery_id=delivery_id)


def dead_letter_invalid(client: redis.Redis, config: TetherConfig, raw: bytes, exc: InvalidInput, *, attempts: int,
                         now_ms: int) -> RouteResult:
    letter = dead_letter_event(client, config, raw, reason=INVALID_EVENT, attempts=attempts, now_ms=now_ms,
                               last_error=redact(str(exc)))
    log.warning("invalid event: dead-lettered", extra={"eventId": letter.event_id, "reason": INVALID_EVENT,
                                                         "field": exc.field, "error": letter.last_error})
    return RouteResult(outcome="invalid-event", event_id=letter.event_id, dead_letter_id=letter.id,
                       dead_letter_reason=INVALID_EVENT)


def _dead_letter_decided(client: redis.Redis, config: TetherConfig, result: RouteResult, *, decision: DecisionRecord,
                         raw: bytes, reason: str, attempts: int, now_ms: int) -> RouteResult:
    """An event with a decision but nowhere to hand it: kept, with the decision, for a replay."""
    letter = dead_letter_event(client, config, raw, reason=reason, attempts=attempts, now_ms=now_ms,
                               decision=decision)
    log.warning("event has nowhere to go: dead-lettered", extra={
        "eventId": decision.event_id, "mode": decision.mode, "reason": reason,
        "destination": destination_label(decision.destination) or None})
    return msgspec.structs.replace(result, outcome="dead-letter", dead_letter_id=letter.id, dead_letter_reason=reason)
