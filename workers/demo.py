"""`tether run --demo`: two sub-agent sessions bound to two threads of one channel, one unbound session, their
completions at the same moment, and one duplicate event. Prints every routing decision and delivery, then a summary.

The console adapter (a separate worker) prints the delivered messages themselves.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import click
import redis

from adapters.delivery.ledger import Ledger, LedgerRecord
from bindings.config import load_config
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from router import enqueue_completions
from router.store import DecisionRecord, load_decision

CHANNEL = "console"
MAIN = "general"  # the requester's (main) conversation
SESSIONS = {
    "research": "agent:main:subagent:research",
    "review": "agent:main:subagent:review",
    "summary": "agent:main:subagent:summary",  # never bound: falls back to the main conversation
}
WAIT_S = 30.0


def _event(run: str, name: str, text: str) -> dict[str, object]:
    return {
        "eventId": f"v1:{SESSIONS[name]}:{run}",
        "kind": "task_completion",
        "targetSessionKey": SESSIONS[name],
        "requester": {"channel": CHANNEL, "accountId": "default", "conversationId": MAIN},
        "spawnMode": "session",
        "failClosed": False,
        "content": {"text": text},
        "identity": {"username": f"{name}-agent"},
        "createdAt": int(time.time() * 1000),
        "metadata": {"demo": "true"},
    }


def _wait(what: str, stop: threading.Event, probe: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while not stop.is_set():
        if probe():
            return True
        if time.monotonic() > deadline:
            click.echo(f"demo: gave up waiting for {what} after {WAIT_S:.0f}s (is a worker down? see `tether status`)")
            return False
        stop.wait(0.1)
    return False


def play(client: redis.Redis, stop: threading.Event) -> None:
    run = uuid.uuid4().hex[:8]
    svc = SessionBindingService(client, load_config())
    echo = click.echo
    echo(f"\n== demo run {run}: channel {CHANNEL!r}, main conversation {MAIN!r}")
    for name in ("research", "review"):
        record = svc.bind(
            target_session_key=SESSIONS[name], target_kind="subagent",
            conversation=ConversationRef(channel=CHANNEL, conversation_id=f"{MAIN}/{name}-{run}",
                                         parent_conversation_id=MAIN),
            label=f"{name} thread",
        )
        echo(f"bound   {SESSIONS[name]} -> thread {record.conversation.conversation_id} ({record.binding_id})")
    echo(f"unbound {SESSIONS['summary']} (its completion falls back to {MAIN!r})")

    events = [
        _event(run, "research", "Research complete: three sources agree; details in the thread."),
        _event(run, "review", "Review complete: two comments, no blockers."),
        _event(run, "summary", "Summary complete: posted to the main conversation."),
    ]
    duplicate = dict(events[0])  # the runner retried its enqueue: same eventId
    enqueue_completions(client, [*events, duplicate])
    echo(f"enqueued {len(events)} completions at the same moment, plus 1 duplicate of the first\n")

    decisions: dict[str, DecisionRecord] = {}

    def all_decided() -> bool:
        for e in events:
            eid = str(e["eventId"])
            if eid not in decisions and (d := load_decision(client, eid)) is not None:
                decisions[eid] = d
                dest = d.destination
                where = f"{dest.channel}:{dest.conversation_id}" if dest else "-"
                echo(f"decision {eid}: mode={d.mode} reason={d.reason} -> {where}")
        return len(decisions) == len(events)

    if not _wait("routing decisions", stop, all_decided):
        return
    ledger = Ledger(client)
    done: dict[str, LedgerRecord] = {}

    def all_delivered() -> bool:
        for d in decisions.values():
            for did in d.delivery_ids:
                rec = ledger.get(did)
                if did not in done and rec is not None and rec.status in ("delivered", "dead"):
                    done[did] = rec
                    echo(f"delivery {did} ({rec.event_id}): {rec.status}, attempts={rec.attempts}, "
                         f"messages={','.join(rec.message_ids) or '-'}")
        return len(done) == sum(len(d.delivery_ids) for d in decisions.values())

    if not _wait("deliveries", stop, all_delivered):
        return
    bound = [d for d in decisions.values() if d.mode == "bound"]
    to_main = [d for d in bound if d.destination and d.destination.conversation_id == MAIN]
    echo("\n== summary")
    echo(f"events enqueued: {len(events) + 1} (1 duplicate), decisions: {len(decisions)} "
         f"({len(bound)} bound, {len(decisions) - len(bound)} fallback), deliveries: "
         f"{sum(1 for r in done.values() if r.status == 'delivered')} delivered, "
         f"{sum(1 for r in done.values() if r.status == 'dead')} dead")
    echo(f"bound completions copied to the main conversation: {len(to_main)}")
    echo("try: tether explain " + str(events[0]["eventId"]) + "   |   tether status   |   Ctrl-C to stop\n")
