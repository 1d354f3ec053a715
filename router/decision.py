"""The decision table of DESIGN §4: where a completion goes, as a pure function over the target session's bindings.

| # | condition                                                           | mode     | reason                         |
|---|---------------------------------------------------------------------|----------|--------------------------------|
| 1 | target session key empty                                            | fallback | missing-target-session         |
| 2 | no active binding                                                   | fallback | no-active-binding              |
| 3 | no requester and fail_closed                                        | fallback | missing-requester              |
| 4 | no requester, exactly one active binding                            | bound    | single-active-binding          |
| 5 | no requester, several                                               | fallback | ambiguous-without-requester    |
| 6 | requester without channel or conversationId                         | fallback | invalid-requester              |
| 7 | among bindings on the requester's channel + account: the one on the | bound    | requester-match                |
|   | requester's conversation, else the only one *under* it (its parent) |          |                                |
| 8 | exactly one active binding, not fail_closed, same channel + account | bound    | single-active-binding-fallback |
| 9 | otherwise                                                           | fallback | no-requester-match             |

Row 7 reads "the only one" as the only binding whose conversation is a child (thread) of the requester's
conversation. Read as "the only binding on that channel + account", row 7 would swallow every case of row 8 (the
only active binding, on the same channel + account), and `fail_closed` would never matter once a requester is
known. So: a thread under the requester's channel is a requester match even with `fail_closed`; a lone binding
elsewhere on the same channel + account is taken only when not `fail_closed` (row 8).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

import msgspec

from adapters.payloads import RouteMode
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.errors import InvalidInput
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.normalize import normalize_account_id, normalize_channel
from router.event import SUPPORTED_KINDS, TASK_COMPLETION

MISSING_TARGET_SESSION: Final = "missing-target-session"
NO_ACTIVE_BINDING: Final = "no-active-binding"
MISSING_REQUESTER: Final = "missing-requester"
SINGLE_ACTIVE_BINDING: Final = "single-active-binding"
AMBIGUOUS_WITHOUT_REQUESTER: Final = "ambiguous-without-requester"
INVALID_REQUESTER: Final = "invalid-requester"
REQUESTER_MATCH: Final = "requester-match"
SINGLE_ACTIVE_BINDING_FALLBACK: Final = "single-active-binding-fallback"
NO_REQUESTER_MATCH: Final = "no-requester-match"
BINDINGS_DISABLED: Final = "bindings-disabled"  # the feature gate, decided before the table (see router.jobs)

REASONS: tuple[str, ...] = (
    MISSING_TARGET_SESSION,
    NO_ACTIVE_BINDING,
    MISSING_REQUESTER,
    SINGLE_ACTIVE_BINDING,
    AMBIGUOUS_WITHOUT_REQUESTER,
    INVALID_REQUESTER,
    REQUESTER_MATCH,
    SINGLE_ACTIVE_BINDING_FALLBACK,
    NO_REQUESTER_MATCH,
    BINDINGS_DISABLED,
)


class RouteDecision(msgspec.Struct, frozen=True, kw_only=True):
    binding: SessionBindingRecord | None
    mode: RouteMode
    reason: str


def _bound(binding: SessionBindingRecord, reason: str) -> RouteDecision:
    return RouteDecision(binding=binding, mode="bound", reason=reason)


def _fallback(reason: str) -> RouteDecision:
    return RouteDecision(binding=None, mode="fallback", reason=reason)


def decide(
    bindings: Sequence[SessionBindingRecord],
    *,
    target_session_key: str | None,
    requester: ConversationRef | None,
    fail_closed: bool,
    event_kind: str = TASK_COMPLETION,
    now_ms: int | None = None,
) -> RouteDecision:
    """Apply the table to `bindings` (the target session's; inactive ones, or ones past `now_ms`, are ignored)."""
    if event_kind not in SUPPORTED_KINDS:
        raise InvalidInput("kind", f"unsupported event kind {event_kind!r}; only {TASK_COMPLETION!r} is routed")
    if not (target_session_key or "").strip():
        return _fallback(MISSING_TARGET_SESSION)
    active = [b for b in bindings if b.status == "active" and (now_ms is None or b.is_active(now_ms))]
    if not active:
        return _fallback(NO_ACTIVE_BINDING)
    if requester is None:
        if fail_closed:
            return _fallback(MISSING_REQUESTER)
        if len(active) == 1:
            return _bound(active[0], SINGLE_ACTIVE_BINDING)
        return _fallback(AMBIGUOUS_WITHOUT_REQUESTER)
    channel = normalize_channel(requester.channel)
    account = normalize_account_id(requester.account_id)
    conversation_id = (requester.conversation_id or "").strip()
    if not channel or not conversation_id:
        return _fallback(INVALID_REQUESTER)
    same_account = [
        b for b in active
        if normalize_channel(b.conversation.channel) == channel
        and normalize_account_id(b.conversation.account_id) == account
    ]
    for b in same_account:
        if (b.conversation.conversation_id or "").strip() == conversation_id:
            return _bound(b, REQUESTER_MATCH)
    children = [b for b in same_account if (b.conversation.parent_conversation_id or "").strip() == conversation_id]
    if len(children) == 1:
        return _bound(children[0], REQUESTER_MATCH)
    if len(active) == 1 and not fail_closed and len(same_account) == 1:
        return _bound(active[0], SINGLE_ACTIVE_BINDING_FALLBACK)
    return _fallback(NO_REQUESTER_MATCH)


class BindingLister(Protocol):
    """The part of `bindings.service.SessionBindingService` the router reads."""

    def list_by_session(self, target_session_key: str) -> list[SessionBindingRecord]: ...


class BoundDeliveryRouter:
    """`resolve_destination` of DESIGN §7 over a binding service (any object with `list_by_session`)."""

    def __init__(self, service: BindingLister, clock: Clock = SYSTEM_CLOCK) -> None:
        self.service = service
        self.clock = clock

    def resolve_destination(
        self,
        event_kind: str,
        target_session_key: str | None,
        requester: ConversationRef | None,
        fail_closed: bool = False,
    ) -> RouteDecision:
        key = (target_session_key or "").strip()
        bindings = self.service.list_by_session(key) if key else []
        return decide(
            bindings,
            target_session_key=key,
            requester=requester,
            fail_closed=fail_closed,
            event_kind=event_kind,
            now_ms=self.clock.now_ms(),
        )
