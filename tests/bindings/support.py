"""Builders shared by the binding store tests."""

from __future__ import annotations

import redis

from bindings.clock import ManualClock
from bindings.config import TetherConfig
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.provisioner import ConversationProvisioner
from bindings.service import SessionBindingService

SESSION = "agent:main:subagent:abc"
OTHER_SESSION = "agent:main:subagent:def"
T0 = 1_764_000_000_000


def conv(
    conversation_id: str | None = "thread-1",
    *,
    channel: str = "discord",
    account_id: str = "default",
    parent: str | None = None,
) -> ConversationRef:
    return ConversationRef(
        channel=channel, account_id=account_id, conversation_id=conversation_id, parent_conversation_id=parent
    )


def service(
    client: redis.Redis,
    clock: ManualClock | None = None,
    *,
    config: TetherConfig | None = None,
    provisioners: dict[str, ConversationProvisioner] | None = None,
) -> SessionBindingService:
    return SessionBindingService(
        client, config or TetherConfig(), clock=clock or ManualClock(T0), provisioners=provisioners
    )


def bind(
    svc: SessionBindingService,
    conversation_id: str = "thread-1",
    session: str = SESSION,
    *,
    ttl_ms: int | None = None,
    max_age_ms: int | None = None,
    metadata: dict[str, str] | None = None,
    label: str | None = None,
) -> SessionBindingRecord:
    return svc.bind(
        target_session_key=session,
        target_kind="subagent",
        conversation=conv(conversation_id),
        ttl_ms=ttl_ms,
        max_age_ms=max_age_ms,
        metadata=metadata,
        label=label,
    )
