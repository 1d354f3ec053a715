"""The route job: one completion event in, at most one delivery handed off (or a dead letter), every step recorded.

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
from rq import get_current_job
from rq.exceptions import DeserializationError
from rq.job import Job

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue, router_dead_letter_id
from adapters.delivery.handoff import finish_hand_off, hand_off, prepare_hand_off
from adapters.delivery.rqwire import ForbiddenJobFunction
from adapters.payloads import delivery_id_for
from adapters.redact import redact
from adapters.registry import has_adapter
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.errors import InvalidInput
from bindings.model import ConversationRef
from bindings.process_config import process_config
from router import keys
from router import metrics as prom
from router.content import build_delivery
from router.decision import BINDINGS_DISABLED, BindingLister, BoundDeliveryRouter, RouteDecision
from router.event import WHOLE_EVENT, CompletionEvent, parse_event, peek_event_id
from router.settings import dedupe_window_ms
from router.start_read import binding_service, bindings_for
from router.store import (
    DecisionRecord,
    destination_fields,
    destination_label,
    for_client,
    without_secrets,
)

__all__ = [
    "RouteResult",
    "adapter_available",
    "binding_service",
    "hand_off",  # re-exported with prepare_hand_off: the seams to the delivery engine, which tests replace
    "handle_route_failure",
    "prepare_hand_off",
    "propose",
    "route",
    "route_completion",
]

log = logging.getLogger("tether.router")

Outcome = Literal["handed-off", "duplicate", "invalid-event", "dead-letter"]

INVALID_EVENT = "invalid-event"
NO_DESTINATION = "no-destination"
ROUTE_FAILED = "route-failed"
_MISSING: Any = object()
_ERROR_MAX_CHARS = 1000


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


# ---- the RQ entry points ---------------------------------------------------------------------------------------


def route_completion(event: Any = _MISSING, /, *extra: Any, **unexpected: Any) -> dict[str, Any]:
    """RQ job `router.jobs.route_completion`: the job's one argument is the event object. Any other argument
    shape (written by a foreign producer) is an invalid event, dead-lettered like any other."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("route_completion runs inside an RQ worker; call router.jobs.route() directly instead")
    payload = event if (event is not _MISSING and not extra and not unexpected) else _WrongShape(event, extra,
                                                                                                unexpected)
    result = route(job.connection, process_config(), payload, job_id=job.id, attempts=_attempts(job),
                   bindings=bindings_for(job))
    out: dict[str, Any] = msgspec.to_builtins(result)
    return out


def handle_route_failure(job: Job, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                         tb: Any) -> bool:
    """RQ exception handler of the router worker.

    A payload that cannot be decoded, or that names a function outside tether's allowlist, is dead-lettered
    `invalid-event` at once (retrying cannot fix it). Any other error is left to RQ's retries; once none are left
    the event is dead-lettered `route-failed`, so `tether dlq replay` can route it again. Always lets the other
    handlers run."""
    try:
        client = job.connection
        config = process_config()
        now_ms = SYSTEM_CLOCK.now_ms()
        if isinstance(exc_value, DeserializationError | ForbiddenJobFunction):
            job.retries_left = None  # the payload will not change: no retry
            raw = _job_raw_data(job)
            message = (f"job function {job_func_name(job)!r} is not a tether job function"
                       if isinstance(exc_value, ForbiddenJobFunction) else "job data is not the JSON array "
                       "[func_name, null, [event], {}]")
            _dead_letter_invalid(client, config, raw, InvalidInput(WHOLE_EVENT, message), attempts=_attempts(job),
                                 now_ms=now_ms)
            return True
        if job.should_retry:
            log.warning("route job failed, will retry",
                        extra={"jobId": job.id, "error": _error_text(exc_type, exc_value),
                               "retriesLeft": job.retries_left})
            return True
        raw = _job_event_bytes(job)
        event_id = peek_event_id(raw)
        letter = DeadLetter(
            id=router_dead_letter_id(event_id, raw),
            event_id=event_id,
            delivery_id=None,
            reason=ROUTE_FAILED,
            attempts=_attempts(job),
            last_error=_error_text(exc_type, exc_value),
            destination=None,
            dead_at=now_ms,
            source="router",
            event=_truncate(raw, config.router.max_event_bytes),
        )
        DeadLetterQueue(client).put(letter)
        for_client(client).count(keys.outcome_counter(f"dead-letter:{ROUTE_FAILED}"))
        prom.count_event("dead-letter")
        log.error("route job failed for good: dead-lettered",
                  extra={"eventId": event_id, "jobId": job.id, "reason": ROUTE_FAILED, "error": letter.last_error})
    except Exception:
        log.exception("route failure handler failed", extra={"jobId": job.id})
    return True


# ---- routing ---------------------------------------------------------------------------------------------------


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
        raw = _payload_bytes(payload)
    except InvalidInput as exc:
        return _dead_letter_invalid(client, config, _describe_payload(payload), exc, attempts=attempts, now_ms=now_ms)
    try:
        event = parse_event(raw, max_bytes=config.router.max_event_bytes)
    except InvalidInput as exc:
        return _dead_letter_invalid(client, config, raw, exc, attempts=attempts, now_ms=now_ms)

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


def propose(
    event: CompletionEvent,
    config: TetherConfig,
    bindings: Any,
    *,
    now_ms: int,
    job_id: str,
    clock: Clock = SYSTEM_CLOCK,
) -> DecisionRecord:
    """The feature gate, then the decision table; `bindings` is a zero-argument callable giving the binding
    service, called only when bindings are consulted.

    The gate is the requester's channel/account (`channels.<c>.threadBindings.enabled` and
    `spawnSubagentSessions`): when off, the decision is `fallback`/`bindings-disabled` to the requester's
    conversation and bindings are not read. Without a requester channel there is nothing to gate on before the
    table; a `bound` result is then gated on the chosen binding's channel/account instead."""
    requester = event.requester_ref()
    gated_early = requester is not None and bool(requester.channel)
    if requester is not None and gated_early and not _bindings_enabled(config, requester):
        decision = RouteDecision(binding=None, mode="fallback", reason=BINDINGS_DISABLED)
    else:
        decision = BoundDeliveryRouter(bindings(), clock).resolve_destination(
            event_kind=event.kind,
            target_session_key=event.target_session_key,
            requester=requester,
            fail_closed=event.fail_closed,
        )
        if decision.binding is not None and not gated_early and not _bindings_enabled(
            config, decision.binding.conversation
        ):
            decision = RouteDecision(binding=None, mode="fallback", reason=BINDINGS_DISABLED)
    destination = decision.binding.conversation if decision.binding is not None else _legacy_destination(requester)
    return DecisionRecord(
        event_id=event.event_id,
        mode=decision.mode,
        reason=decision.reason,
        decided_at=now_ms,
        job_id=job_id,
        target_session_key=event.target_session_key,
        binding_id=decision.binding.binding_id if decision.binding is not None else None,
        binding=without_secrets(decision.binding) if decision.binding is not None else None,
        destination=destination,
        delivery_ids=[] if destination is None else [delivery_id_for(event.event_id, destination)],
    )


def _bindings_enabled(config: TetherConfig, conversation: ConversationRef) -> bool:
    gate = config.thread_bindings(conversation.channel, conversation.account_id)
    return gate.enabled and gate.spawn_subagent_sessions


def _legacy_destination(requester: ConversationRef | None) -> ConversationRef | None:
    """Fallback goes to the requester's conversation; without a channel and conversation id there is none."""
    if requester is None or not requester.channel or not requester.conversation_id:
        return None
    return requester


# ---- collaborators (one place each, so tests and the benchmark can see what the router touches) ---------------


_adapters_seen: set[str] = set()


def adapter_available(channel: str) -> bool:
    """`adapters.registry.has_adapter`, remembered once true: entry-point discovery costs milliseconds."""
    if channel in _adapters_seen:
        return True
    if has_adapter(channel):
        _adapters_seen.add(channel)
        return True
    return False


# ---- dead letters ----------------------------------------------------------------------------------------------


def _dead_letter_invalid(client: redis.Redis, config: TetherConfig, raw: bytes, exc: InvalidInput, *, attempts: int,
                         now_ms: int) -> RouteResult:
    event_id = peek_event_id(raw)
    letter = DeadLetter(
        id=router_dead_letter_id(event_id, raw),
        event_id=event_id,
        delivery_id=None,
        reason=INVALID_EVENT,
        attempts=attempts,
        last_error=redact(str(exc)),
        destination=None,
        dead_at=now_ms,
        source="router",
        event=_truncate(raw, config.router.max_event_bytes),
    )
    DeadLetterQueue(client).put(letter)
    for_client(client).count(keys.outcome_counter(INVALID_EVENT))
    prom.count_event("invalid-event")
    log.warning("invalid event: dead-lettered", extra={"eventId": event_id, "reason": INVALID_EVENT,
                                                         "field": exc.field, "error": letter.last_error})
    return RouteResult(outcome="invalid-event", event_id=event_id, dead_letter_id=letter.id,
                       dead_letter_reason=INVALID_EVENT)


def _dead_letter_decided(client: redis.Redis, config: TetherConfig, result: RouteResult, *, decision: DecisionRecord,
                         raw: bytes, reason: str, attempts: int, now_ms: int) -> RouteResult:
    """An event with a decision but nowhere to hand it: kept, with the decision, for a replay."""
    letter = DeadLetter(
        id=router_dead_letter_id(decision.event_id, raw),
        event_id=decision.event_id,
        delivery_id=decision.delivery_ids[0] if decision.delivery_ids else None,
        reason=reason,
        attempts=attempts,
        last_error=None,
        destination=decision.destination,
        dead_at=now_ms,
        source="router",
        event=_truncate(raw, config.router.max_event_bytes),
        decision=msgspec.to_builtins(decision),
    )
    DeadLetterQueue(client).put(letter)
    for_client(client).count(keys.outcome_counter(f"dead-letter:{reason}"))
    prom.count_event("dead-letter")
    log.warning("event has nowhere to go: dead-lettered", extra={
        "eventId": decision.event_id, "mode": decision.mode, "reason": reason,
        "destination": destination_label(decision.destination) or None})
    return msgspec.structs.replace(result, outcome="dead-letter", dead_letter_id=letter.id, dead_letter_reason=reason)


# ---- payload plumbing ------------------------------------------------------------------------------------------


class _WrongShape:
    """A job whose arguments are not exactly one event object."""

    def __init__(self, first: Any, extra: tuple[Any, ...], unexpected: dict[str, Any]) -> None:
        self.args = ([] if first is _MISSING else [first]) + list(extra)
        self.kwargs = unexpected


_PAYLOAD_ENCODER = msgspec.json.Encoder()


def _payload_bytes(payload: Any) -> bytes:
    if isinstance(payload, _WrongShape):
        raise InvalidInput(WHOLE_EVENT, f"the job must carry exactly one argument, the event object "
                                        f"(got {len(payload.args)} positional, {len(payload.kwargs)} keyword)")
    if not isinstance(payload, dict):
        raise InvalidInput(WHOLE_EVENT, f"expected the event as a JSON object, got {_json_type(payload)}")
    try:
        return _PAYLOAD_ENCODER.encode(payload)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(WHOLE_EVENT, f"not representable as JSON: {exc}") from None


def _describe_payload(payload: Any) -> bytes:
    target = {"args": payload.args, "kwargs": payload.kwargs} if isinstance(payload, _WrongShape) else payload
    try:
        return _PAYLOAD_ENCODER.encode(target)
    except (TypeError, ValueError, OverflowError):
        return repr(target).encode()


def _json_type(value: Any) -> str:
    names = {str: "a string", list: "an array", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _job_raw_data(job: Job) -> bytes:
    try:
        data = job.data
    except Exception:
        return b""
    return data if isinstance(data, bytes) else str(data).encode()


def _job_event_bytes(job: Job) -> bytes:
    """The event argument of a job, as JSON, else the job's raw data."""
    try:
        args = list(job.args)
    except Exception:
        return _job_raw_data(job)
    if len(args) == 1:
        try:
            return _PAYLOAD_ENCODER.encode(args[0])
        except (TypeError, ValueError, OverflowError):
            pass
    return _job_raw_data(job)


def job_func_name(job: Job) -> str:
    try:
        return str(job.func_name)
    except Exception:
        return "<undecodable>"


def _attempts(job: Job) -> int:
    return (job.number_of_retries or 0) + 1


def _truncate(raw: bytes, max_bytes: int) -> str:
    text = raw[:max_bytes].decode("utf-8", errors="replace")
    return text if len(raw) <= max_bytes else text + f"…[{len(raw) - max_bytes} more bytes dropped]"


def _error_text(exc_type: type[BaseException] | None, exc_value: BaseException | None) -> str:
    name = exc_type.__name__ if exc_type is not None else "Error"
    return redact(f"{name}: {exc_value}")[:_ERROR_MAX_CHARS]
