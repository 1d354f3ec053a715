"""The proposal: where an event would go (the feature gate, then the decision table), as the decision record the
route script stores unless the event already has one. Reads bindings, never writes them."""

from __future__ import annotations

from typing import Any

from adapters.payloads import delivery_id_for
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.model import ConversationRef
from router.decision import BINDINGS_DISABLED, BoundDeliveryRouter, RouteDecision
from router.event import CompletionEvent
from router.store import DecisionRecord, without_secrets


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
