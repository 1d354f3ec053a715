"""The five tests the plan names, end to end: `tether worker router` and `tether worker discord` processes, the real
redis-server, the local Discord API; completions enter through `enqueue_completion` as a runner sends them, and the
messages are counted where they landed (the bound thread, the parent channel).

- test_manager_token_rotation_uses_latest_token_after_manager_reuse
- test_webhook_sends_update_channel_activity_timestamps
- test_two_active_bound_sessions_in_same_requester_channel_do_not_duplicate_to_main_channel
- test_completion_for_bound_session_mode_run_resolves_to_thread_destination_only
- test_disabled_spawn_flag_keeps_legacy_behavior_unchanged

Their routing halves, in-process, are in tests/router/test_route.py and tests/router/test_router_processes.py.
"""

from __future__ import annotations

from typing import Any

from adapters.delivery.ledger import Ledger
from adapters.discord.activity import ActivityLog
from adapters.payloads import delivery_id_for
from bindings.model import ConversationRef
from router.enqueue import enqueue_completion
from router.store import DecisionRecord, load_decision
from tests.adapters.discord.conftest import DiscordWorld, Spawn, use_worker_config
from tests.support.waiting import wait_for


def completion(event_id: str, session: str, requester: str, text: str, **extra: Any) -> dict[str, Any]:
    """A completion event as a TypeScript runner enqueues it, requested from conversation `requester`."""
    return {
        "eventId": event_id, "kind": "task_completion", "targetSessionKey": session,
        "requester": {"channel": "discord", "accountId": "default", "conversationId": requester},
        "spawnMode": "session", "failClosed": False, "content": {"text": text},
        "identity": {"username": "research-agent", "avatarUrl": "https://example.com/research.png"}, **extra,
    }


def delivered(world: DiscordWorld, event_id: str, destination: ConversationRef) -> None:
    """Wait until the event's delivery to `destination` has settled, and check it was delivered (the messages are
    then all out)."""
    ledger, delivery_id = Ledger(world.redis), delivery_id_for(event_id, destination)
    wait_for(lambda: ledger.status(delivery_id) in ("delivered", "dead"), timeout_s=30,
             what=f"{event_id} to settle at {destination.conversation_id}")
    record = ledger.get(delivery_id)
    assert record is not None and record.status == "delivered", record


def decided(world: DiscordWorld, event_id: str) -> DecisionRecord:
    """The router's decision for the event, once it is made."""
    found: DecisionRecord = wait_for(lambda: load_decision(world.redis, event_id), timeout_s=30,
                                     what=f"the routing decision for {event_id}")
    return found


def texts(world: DiscordWorld, conversation_id: str) -> list[str]:
    return [m.content for m in world.fake.messages(conversation_id)]


def parent(world: DiscordWorld) -> ConversationRef:
    return ConversationRef(channel="discord", conversation_id=world.parent.id)


def test_manager_token_rotation_uses_latest_token_after_manager_reuse(world: DiscordWorld, spawn: Spawn) -> None:
    """One long-lived Discord worker (the reused manager) sends, the token is rotated on the platform and in the
    token file, the same worker sends the next completion with the new token."""
    spawn("router")
    worker = spawn()
    enqueue_completion(world.redis, completion("v1:s:before", "agent:main:subagent:x", world.parent.id, "before"))
    delivered(world, "v1:s:before", parent(world))
    world.rotate_token("rotated-bot-token")  # the platform now refuses the old token
    enqueue_completion(world.redis, completion("v1:s:after", "agent:main:subagent:x", world.parent.id, "after"))
    delivered(world, "v1:s:after", parent(world))
    assert worker.is_alive()
    assert texts(world, world.parent.id) == ["before", "after"]
    sends = world.fake.requests("message_create")
    assert [(r.token, r.status) for r in sends] == [("test-bot-token", 200), ("rotated-bot-token", 200)]
    assert world.fake.invalid_requests == 0


def test_webhook_sends_update_channel_activity_timestamps(world: DiscordWorld, spawn: Spawn) -> None:
    """A bound completion goes out through the thread's webhook; the thread's outbound activity is stamped with
    that send (time, message, path) and the binding is touched, later than the bind stamped it."""
    spawn("router")
    spawn()
    record = world.bind_child(world.service(), session="agent:main:subagent:hook")
    thread = record.conversation.conversation_id
    assert thread is not None and record.last_activity_at is not None
    sent_from = world.fake.now_ms()
    enqueue_completion(world.redis, completion("v1:hook:run-1", "agent:main:subagent:hook", world.parent.id,
                                               "Task complete: via the webhook"))
    delivered(world, "v1:hook:run-1", record.conversation)
    sent_until = world.fake.now_ms()
    [msg] = world.fake.messages(thread)
    assert (msg.content, msg.author_kind) == ("Task complete: via the webhook", "webhook")
    assert texts(world, world.parent.id) == []
    activity = ActivityLog(world.redis).get("default", thread)
    assert activity is not None and (activity.last_via, activity.last_message_id) == ("webhook", msg.id)
    assert sent_from <= activity.last_outbound_at <= sent_until
    touched = world.service().get(record.binding_id)
    assert touched is not None and touched.last_activity_at is not None
    # Touched by the send, after the activity was stamped; the bind's own stamp is older than both.
    assert touched.last_activity_at >= activity.last_outbound_at > record.last_activity_at


def test_two_active_bound_sessions_in_same_requester_channel_do_not_duplicate_to_main_channel(
    world: DiscordWorld, spawn: Spawn
) -> None:
    """Two sessions bound to two threads of the same channel complete at the same moment, each runner retrying its
    enqueue (3 jobs per event) across two routers and two Discord workers: each thread gets its completion once,
    the channel the requests came from gets nothing."""
    for name in ("router", "router", "discord", "discord"):
        spawn(name)
    svc = world.service()
    records = {s: world.bind_child(svc, session=s, label=s.rsplit(":", 1)[1])
               for s in ("agent:main:subagent:a", "agent:main:subagent:b")}
    events = [completion(f"v1:{s}:run-1", s, world.parent.id, f"done by {s}") for s in records]
    for _ in range(3):
        for event in events:
            enqueue_completion(world.redis, event)
    for s, record in records.items():
        delivered(world, f"v1:{s}:run-1", record.conversation)
    for s, record in records.items():
        assert texts(world, record.conversation.conversation_id or "") == [f"done by {s}"]
    assert texts(world, world.parent.id) == []
    assert len([r for r in world.fake.requests("webhook_execute") if r.status == 200]) == 2


def test_completion_for_bound_session_mode_run_resolves_to_thread_destination_only(
    world: DiscordWorld, spawn: Spawn
) -> None:
    """A session spawned in session mode and bound to a thread: its completion (sent twice) lands once in the
    thread, with the sub-agent's identity, and never in the parent channel."""
    spawn("router")
    spawn()
    record = world.bind_child(world.service(), session="agent:main:subagent:abc")
    thread = record.conversation.conversation_id
    assert thread is not None
    event = completion("v1:agent:main:subagent:abc:run-1", "agent:main:subagent:abc", world.parent.id,
                       "Task complete: found 3 papers", spawnMode="session")
    enqueue_completion(world.redis, event)
    enqueue_completion(world.redis, event)  # a duplicate of the same event
    decision = decided(world, event["eventId"])
    assert (decision.mode, decision.reason, decision.destination) == ("bound", "requester-match", record.conversation)
    delivered(world, event["eventId"], record.conversation)
    [msg] = world.fake.messages(thread)
    assert msg.content == "Task complete: found 3 papers"
    assert (msg.author_kind, msg.author_username, msg.avatar_url) == (
        "webhook", "research-agent", "https://example.com/research.png")
    assert texts(world, world.parent.id) == []


def test_disabled_spawn_flag_keeps_legacy_behavior_unchanged(world: DiscordWorld, spawn: Spawn) -> None:
    """`spawnSubagentSessions = false` (the default): a session may still be bound to a thread, but its completion
    goes where it always went, to the requester's channel, as the bot; the thread gets nothing."""
    use_worker_config(world, spawn_subagent_sessions=False)  # before the workers start: they read it once
    spawn("router")
    spawn()
    record = world.bind_child(world.service(), session="agent:main:subagent:legacy")
    thread = record.conversation.conversation_id
    assert thread is not None
    enqueue_completion(world.redis, completion("v1:legacy:run-1", "agent:main:subagent:legacy", world.parent.id,
                                               "Task complete: as before"))
    decision = decided(world, "v1:legacy:run-1")
    assert (decision.mode, decision.reason, decision.destination) == ("fallback", "bindings-disabled", parent(world))
    delivered(world, "v1:legacy:run-1", parent(world))
    [msg] = world.fake.messages(world.parent.id)
    assert (msg.content, msg.author_kind) == ("Task complete: as before", "bot")
    assert texts(world, thread) == []
