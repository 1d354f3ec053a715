"""`tether run --demo`: two sub-agent sessions bound to two threads of one channel, one unbound session, their
completions at the same moment, and one duplicate event. Prints every routing decision and delivery, then a summary.

The console adapter (a separate worker) prints the delivered messages themselves, and appends each one to the
JSON-lines file named by TETHER_CONSOLE_JSONL (`tether run --demo` sets it when unset): the summary counts in that
file what was actually printed where, so "copied to the main conversation" is a count of messages, not of decisions.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
PRINTED_WAIT_S = 5.0
# Named here as data (workers/ imports no platform package): the console adapter's JSON-lines output.
PRINTED_LOG_ENV = "TETHER_CONSOLE_JSONL"


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


def _wait(what: str, stop: threading.Event, probe: Callable[[], bool], wait_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + wait_s
    while not stop.is_set():
        if probe():
            return True
        if time.monotonic() > deadline:
            click.echo(f"demo: gave up waiting for {what} after {wait_s:.0f}s (is a worker down? see `tether status`)")
            return False
        stop.wait(0.1)
    return False


def printed_messages(path: Path, event_ids: set[str]) -> list[dict[str, Any]]:
    """The messages the console printed for these events, as its JSON-lines file records them (one per chunk)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            message = json.loads(line)
        except ValueError:
            continue  # a line being written right now
        if isinstance(message, dict) and message.get("eventId") in event_ids:
            found.append(message)
    return found


def play(client: redis.Redis, stop: threading.Event, *, printed: Path | None = None) -> None:
    """`printed`: the console adapter's JSON-lines file (default: $TETHER_CONSOLE_JSONL)."""
    if printed is None and os.environ.get(PRINTED_LOG_ENV):
        printed = Path(os.environ[PRINTED_LOG_ENV])
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
    delivered = sum(len(r.message_ids) for r in done.values() if r.status == "delivered")
    echo("\n== summary")
    echo(f"events enqueued: {len(events) + 1} (1 duplicate), decisions: {len(decisions)} "
         f"({len(bound)} bound, {len(decisions) - len(bound)} fallback), deliveries: "
         f"{sum(1 for r in done.values() if r.status == 'delivered')} delivered, "
         f"{sum(1 for r in done.values() if r.status == 'dead')} dead")
    _count_printed(printed, {str(e["eventId"]) for e in events}, {d.event_id for d in bound}, delivered, stop)
    echo("try: tether explain " + str(events[0]["eventId"]) + "   |   tether status   |   Ctrl-C to stop\n")


def _count_printed(printed: Path | None, event_ids: set[str], bound_ids: set[str], delivered: int,
                   stop: threading.Event) -> None:
    """Count, in what the console printed, the messages of this run by conversation: a bound completion found in
    the main conversation is a copy, whatever the decisions say."""
    echo = click.echo
    if printed is None:
        echo(f"bound completions copied to the main conversation: not counted (set {PRINTED_LOG_ENV} for the "
             "console worker and the demo)")
        return
    messages: list[dict[str, Any]] = []

    def all_printed() -> bool:
        messages[:] = printed_messages(printed, event_ids)
        return len(messages) >= delivered

    if not _wait(f"the console's record of {delivered} messages in {printed}", stop, all_printed, PRINTED_WAIT_S):
        echo("bound completions copied to the main conversation: not counted (the console worker writes no "
             f"{printed})")
        return
    in_main = [m for m in messages if (m.get("conversation") or {}).get("conversationId") == MAIN]
    copied = [m for m in in_main if m.get("eventId") in bound_ids]
    echo(f"messages printed: {len(messages)} ({len(in_main)} in the main conversation {MAIN!r}, "
         f"{len(messages) - len(in_main)} in threads)")
    echo(f"bound completions copied to the main conversation: {len(copied)} (counted in {printed})")
