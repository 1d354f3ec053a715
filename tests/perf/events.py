"""The completion events the routing and end-to-end benchmarks send: one per sub-agent session in turn, each bound to
a thread under the requester's channel, so every event is routed `bound` / `requester-match`."""

from __future__ import annotations

import time
from typing import Any

SESSIONS = 100


def session(i: int) -> str:
    return f"agent:main:subagent:{i:04d}"


def make_event(i: int, tag: str, *, channel: str, requester_conversation: str) -> dict[str, Any]:
    return {
        "eventId": f"v1:{session(i % SESSIONS)}:{tag}-{i}",
        "kind": "task_completion",
        "targetSessionKey": session(i % SESSIONS),
        "requester": {"channel": channel, "accountId": "default", "conversationId": requester_conversation},
        "spawnMode": "run",
        "failClosed": False,
        "content": {"text": f"Task complete: result {i} " + "lorem ipsum " * 20},
        "identity": {"username": "research-agent", "avatarUrl": None},
        "createdAt": int(time.time() * 1000),
        "metadata": {},
    }
