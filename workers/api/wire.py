"""Request and response bodies of the HTTP API that are not already tether's own Structs (binding records, dead
letters, explanations, status), with the query parameters of each endpoint as Structs too: one source for the
validation and for the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from bindings.model import ConversationRef, Placement, SessionBindingRecord

# A string with something in it: the services trim and refuse blank keys, ids and reasons.
NonEmpty = Annotated[str, msgspec.Meta(min_length=1, pattern=r"\S")]


class _Wire(msgspec.Struct, frozen=True, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """Requests refuse unknown fields: a misspelt `palcement` must not silently bind in the current conversation."""


class BindRequest(_Wire, frozen=True):
    """`POST /v1/bindings`. Placement `child`: `conversation` names the parent (`parentConversationId`, no
    `conversationId`) and the channel's adapter creates the conversation (a thread) first."""

    target_session_key: NonEmpty
    conversation: ConversationRef
    target_kind: Literal["subagent", "session"] = "subagent"
    placement: Placement = "current"
    label: str | None = None  # the thread's name for placement child
    metadata: dict[str, str] | None = None
    ttl_ms: int | None = None  # idle timeout (None: configured idleHours; 0: none)
    max_age_ms: int | None = None  # maximum age (None: configured maxAgeHours; 0: none)


class TouchRequest(_Wire, frozen=True):
    at: int | None = None  # ms epoch of the activity; default now


class UnbindRequest(_Wire, frozen=True):
    """`POST /v1/bindings/unbind`: end every binding of a session."""

    target_session_key: NonEmpty
    reason: NonEmpty = "unbound"


class Ended(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """The records an unbind ended (empty when nothing was active)."""

    ended: list[SessionBindingRecord]


class ReplayRequest(_Wire, frozen=True):
    """`POST /v1/dead-letters/replay`: `ids` or `all: true`, not both."""

    ids: list[str] | None = None
    all: bool = False
    reroute: bool = False  # route the event again (a new decision) instead of resending


class Health(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ok", "ready"]


# ---- query parameters -------------------------------------------------------------------------------------------


class _Query(msgspec.Struct, frozen=True, rename="camel", kw_only=True, forbid_unknown_fields=True):
    pass


class SessionQuery(_Query, frozen=True):
    target_session_key: NonEmpty


class ResolveQuery(_Query, frozen=True):
    channel: NonEmpty
    conversation_id: NonEmpty
    account_id: str = "default"


class UnbindQuery(_Query, frozen=True):
    reason: NonEmpty = "unbound"


class LettersQuery(_Query, frozen=True):
    reason: str | None = None  # a value ending in ':' matches as a prefix (`no-adapter:`)
    source: Literal["router", "delivery"] | None = None
    channel: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=0)] | None = None  # at most this many, oldest first
