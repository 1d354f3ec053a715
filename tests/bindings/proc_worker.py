"""A separate OS process for the concurrency tests, with its own Redis connection.

    python -m tests.bindings.proc_worker bind URL NAME CONVERSATION_ID
    python -m tests.bindings.proc_worker sweep URL NAME NOW_MS

Each announces itself on the list `test:ready`, waits for a token on `test:go` (so all start together), acts,
and prints one JSON document on stdout.
"""

from __future__ import annotations

import json
import sys

import redis

from bindings.config import TetherConfig
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from bindings.sweep import sweep_once

READY_KEY = "test:ready"
GO_KEY = "test:go"


def main(argv: list[str]) -> None:
    mode, url, name, arg = argv
    client = redis.Redis.from_url(url)
    svc = SessionBindingService(client, TetherConfig())
    client.ping()
    client.rpush(READY_KEY, name)
    if client.blpop([GO_KEY], timeout=30) is None:
        raise SystemExit("no start signal")
    if mode == "bind":
        record = svc.bind(
            target_session_key=f"agent:main:subagent:{name}",
            target_kind="subagent",
            conversation=ConversationRef(channel="discord", conversation_id=arg),
        )
        print(json.dumps({"bindingId": record.binding_id}))
    elif mode == "sweep":
        ended: list[dict[str, str | None]] = []
        while True:
            batch = sweep_once(svc, now_ms=int(arg), limit=7)  # small batches: many interleaved calls
            if not batch:
                break
            ended += [{"bindingId": r.binding_id, "reason": r.end_reason} for r in batch]
        print(json.dumps(ended))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
