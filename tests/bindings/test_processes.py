"""Concurrency across real OS processes, each with its own Redis connection (tests/bindings/proc_worker.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from bindings.clock import ManualClock
from bindings.model import ConversationRef
from tests.bindings.proc_worker import GO_KEY, READY_KEY
from tests.bindings.support import T0, conv, service
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def run_together(client: redis.Redis, argvs: list[list[str]]) -> list[Any]:
    """Start one process per argv, release them at once when all are connected, return their JSON outputs."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.bindings.proc_worker", *argv],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for argv in argvs
    ]
    try:
        wait_for(lambda: client.llen(READY_KEY) == len(procs), timeout_s=30, what="every process to be ready")
        client.rpush(GO_KEY, *["go"] * len(procs))
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err.decode()
            outputs.append(json.loads(out))
        return outputs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_eight_processes_binding_one_conversation_leave_exactly_one_active(
    real_redis: redis.Redis, redis_url: str
) -> None:
    outputs = run_together(real_redis, [["bind", redis_url, f"p{i}", "thread-1"] for i in range(8)])
    ids = [o["bindingId"] for o in outputs]
    assert len(set(ids)) == 8
    svc = service(real_redis)
    winner = svc.resolve_by_conversation(ConversationRef(channel="discord", conversation_id="thread-1"))
    assert winner is not None and winner.binding_id in ids
    records = [svc.get(i) for i in ids]
    assert Counter((r.status, r.end_reason) for r in records if r) == {("active", None): 1, ("ended", "replaced"): 7}
    assert svc.count_active() == 1
    assert sum(1 for e in svc.events(100) if e["type"] == "unbind") == 7


def test_four_sweeper_processes_end_every_due_binding_exactly_once(real_redis: redis.Redis, redis_url: str) -> None:
    clock = ManualClock(T0)
    svc = service(real_redis, clock)

    def bind(cid: str, **kw: int) -> str:
        return svc.bind(target_session_key=f"s-{cid}", target_kind="subagent", conversation=conv(cid), **kw).binding_id

    idle = {bind(f"idle-{i}", ttl_ms=1000) for i in range(120)}
    aged = {bind(f"aged-{i}", ttl_ms=100_000, max_age_ms=1500) for i in range(120)}
    touched = {bind(f"touched-{i}", ttl_ms=1000) for i in range(40)}
    live = {bind(f"live-{i}", ttl_ms=100_000) for i in range(80)}
    clock.advance(900)
    for binding_id in touched:
        svc.touch(binding_id)  # due at T0 + 1900, after the sweep
    now = T0 + 1800

    outputs = run_together(real_redis, [["sweep", redis_url, f"s{i}", str(now)] for i in range(4)])
    ended = [(e["bindingId"], e["reason"]) for out in outputs for e in out]
    ended_ids = [binding_id for binding_id, _ in ended]
    assert len(ended_ids) == len(set(ended_ids)), "a binding was ended twice"
    assert dict(ended) == {**dict.fromkeys(idle, "idle-expired"), **dict.fromkeys(aged, "max-age-expired")}
    for binding_id in touched | live:
        rec = svc.get(binding_id)
        assert rec is not None and rec.status == "active"
    assert svc.count_active() == len(touched) + len(live)
    unbind_events = Counter(e["bindingId"] for e in svc.events(1000) if e["type"] == "unbind")
    assert set(unbind_events.values()) == {1} and len(unbind_events) == len(idle) + len(aged)
