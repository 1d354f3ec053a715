"""Builders for router tests: binding records, events and a config with thread-bound spawning switched on."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from bindings.model import ConversationRef, SessionBindingRecord

_ids = itertools.count(1)
NOW_MS = 1_764_000_000_000

SPAWN_ON_TOML = """
[channels.discord.threadBindings]
enabled = true
spawnSubagentSessions = true

[channels.console.threadBindings]
enabled = true
spawnSubagentSessions = true
"""

SPAWN_OFF_TOML = """
[channels.discord.threadBindings]
enabled = true
spawnSubagentSessions = false
"""


def write_config(tmp_path: Path, text: str = SPAWN_ON_TOML) -> Path:
    path = tmp_path / "tether.toml"
    path.write_text(text)
    return path


def conv(conversation_id: str | None, *, channel: str = "discord", account_id: str = "default",
         parent: str | None = None) -> ConversationRef:
    return ConversationRef(channel=channel, account_id=account_id, conversation_id=conversation_id,
                           parent_conversation_id=parent)


def binding(conversation: ConversationRef, *, session: str = "agent:main:subagent:abc", status: str = "active",
            expires_at: int | None = None, binding_id: str | None = None) -> SessionBindingRecord:
    return SessionBindingRecord(
        binding_id=binding_id or f"b{next(_ids)}",
        target_session_key=session,
        target_kind="subagent",
        conversation=conversation,
        status=status,  # type: ignore[arg-type]
        bound_at=NOW_MS - 1000,
        expires_at=expires_at,
    )


def event(event_id: str = "v1:agent:main:subagent:abc:run-1", *, session: str | None = "agent:main:subagent:abc",
          requester: dict[str, Any] | None = None, no_requester: bool = False, text: str = "Task complete: done",
          **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "eventId": event_id,
        "kind": "task_completion",
        "targetSessionKey": session,
        "requester": None if no_requester else (requester or {
            "channel": "discord", "accountId": "default", "conversationId": "111", "parentConversationId": None}),
        "spawnMode": "session",
        "failClosed": False,
        "content": {"text": text},
        "identity": {"username": "research-agent", "avatarUrl": None},
        "createdAt": NOW_MS,
        "metadata": {},
    }
    out.update(extra)
    return out
