"""The Discord adapter as it runs: `tether worker discord` processes (multiprocessing "spawn", each with its own Redis
connection) driven by the delivery engine, against the local Discord API and the real redis-server.

The plan's five end-to-end scenarios (router and Discord workers, messages counted where they landed) are in
test_plan_end_to_end.py."""

from __future__ import annotations

import pytest

from adapters.delivery.deadletter import DeadLetterQueue
from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.discord.activity import ActivityLog
from adapters.payloads import Content, Delivery, Identity, delivery_id_for
from bindings.model import ConversationRef, SessionBindingRecord
from tests.adapters.discord.conftest import DiscordWorld, Spawn
from tests.support.waiting import wait_for

# Other platforms' worker tests imported these from here (branches in flight may still): they live in
# tests/support/worker_processes.py now.
from tests.support.worker_processes import DELIVERY, worker_main  # noqa: F401
from tests.support.worker_processes import kill_worker as _kill  # noqa: F401


def delivery_to(conversation: ConversationRef, event_id: str, text: str = "Task complete", *,
                record: SessionBindingRecord | None = None) -> Delivery:
    return Delivery(
        delivery_id=delivery_id_for(event_id, conversation), event_id=event_id, destination=conversation,
        mode="bound" if record else "fallback", reason="requester-match" if record else "no-active-binding",
        content=Content(text=text), identity=Identity(username="research-agent", avatar_url="https://e.x/r.png"),
        binding_id=record.binding_id if record else None,
        target_session_key=record.target_session_key if record else None,
    )


def settled(world: DiscordWorld, delivery_id: str, timeout_s: float = 20) -> str:
    ledger = Ledger(world.redis)

    def done() -> str | None:
        status = ledger.status(delivery_id)
        return status if status in ("delivered", "dead") else None

    result: str = wait_for(done, timeout_s=timeout_s, what=f"delivery {delivery_id} to settle")
    return result


def parent_ref(world: DiscordWorld) -> ConversationRef:
    return ConversationRef(channel="discord", conversation_id=world.parent.id)


def test_bot_sends_update_channel_activity_timestamps(world: DiscordWorld, spawn: Spawn) -> None:
    spawn()
    before = world.fake.now_ms()
    delivery_id = hand_off(world.redis, delivery_to(parent_ref(world), "ev-bot"), config=world.config)
    assert settled(world, delivery_id) == "delivered"
    activity = ActivityLog(world.redis).get("default", world.parent.id)
    assert activity is not None and activity.last_via == "bot"
    assert before <= activity.last_outbound_at <= world.fake.now_ms()


def test_deleted_thread_dead_letters_destination_gone_ends_the_binding_and_sends_nothing_to_the_parent(
    world: DiscordWorld, spawn: Spawn
) -> None:
    spawn()
    svc = world.service()
    record = world.bind_child(svc)
    thread = record.conversation.conversation_id
    assert thread is not None
    world.fake.delete_channel(thread)
    delivery_id = hand_off(world.redis, delivery_to(record.conversation, "ev-gone", record=record),
                           config=world.config)
    assert settled(world, delivery_id) == "dead"
    letter = DeadLetterQueue(world.redis).get(delivery_id)
    assert letter is not None and letter.reason == "destination-gone"
    ended = svc.get(record.binding_id)
    assert ended is not None and ended.status == "ended" and ended.end_reason == "thread-delete"
    assert world.fake.messages(world.parent.id) == []
    assert world.fake.messages(thread) == []


def test_response_lost_after_create_on_the_webhook_path_gives_exactly_one_message_after_the_retry(
    world: DiscordWorld, spawn: Spawn
) -> None:
    spawn()
    record = world.bind_child(world.service())
    thread = record.conversation.conversation_id
    assert thread is not None
    # The message is stored, the answer lost; the adapter's own search fails too (503s), so the attempt ends as
    # retryable and the engine's retry reconciles before sending again.
    world.fake.inject("response_lost", route="webhook_execute")
    world.fake.inject("status", route="messages_list", status=503, times=4)
    delivery_id = hand_off(world.redis, delivery_to(record.conversation, "ev-lost-hook", record=record),
                           config=world.config)
    assert settled(world, delivery_id) == "delivered"
    [msg] = world.fake.messages(thread)
    ledger = Ledger(world.redis).get(delivery_id)
    assert ledger is not None and ledger.attempts >= 2
    assert ledger.message_ids == [msg.id]
    assert [r.status for r in world.fake.requests("webhook_execute")] == [0]  # sent once, never again


def test_response_lost_after_create_on_the_bot_path_gives_exactly_one_message_after_the_retry(
    world: DiscordWorld, spawn: Spawn
) -> None:
    spawn()
    world.fake.inject("response_lost", route="message_create", times=4)  # every try of the first attempt
    delivery_id = hand_off(world.redis, delivery_to(parent_ref(world), "ev-lost-bot"), config=world.config)
    assert settled(world, delivery_id) == "delivered"
    [msg] = world.fake.messages(world.parent.id)
    ledger = Ledger(world.redis).get(delivery_id)
    assert ledger is not None and ledger.attempts >= 2 and ledger.message_ids == [msg.id]
    creates = world.fake.requests("message_create")
    assert len(creates) == 5 and sum(1 for r in creates if r.deduped) == 4


def test_429_storms_end_with_every_message_delivered_once(world: DiscordWorld, spawn: Spawn) -> None:
    """How soon after each 429 anything reaches the bucket again is timing: tests/perf/discord_429.py measures it."""
    world.fake.set_limit("message_create", 3, 1.0)
    for skip in (1, 4, 8):  # a storm: 429s out of the blue (Discord's shared limits, other apps), 0.4 s each
        world.fake.inject("rate_limit", route="message_create", skip=skip, retry_after_s=0.4, scope="user")
    for _ in range(3):
        spawn()
    ids = [hand_off(world.redis, delivery_to(parent_ref(world), f"ev-storm-{i}", f"storm {i}"), config=world.config)
           for i in range(10)]
    for delivery_id in ids:
        assert settled(world, delivery_id, timeout_s=40) == "delivered"
    assert sorted(m.content for m in world.fake.messages(world.parent.id)) == sorted(f"storm {i}" for i in range(10))
    requests = world.fake.requests("message_create")
    assert len([r for r in requests if r.injected == "rate_limit"]) == 3
    assert not any(r.deduped for r in requests)  # no chunk was sent again after a 429: each went out once


def test_global_429_is_honoured_by_every_worker_and_every_message_lands_once(world: DiscordWorld,
                                                                            spawn: Spawn) -> None:
    """That nothing is sent until the global retry_after has passed is timing: tests/perf/discord_429.py."""
    channels = [world.fake.add_channel(f"room-{i}") for i in range(6)]
    world.fake.inject("rate_limit", route="message_create", skip=4, scope="global", retry_after_s=1.0)
    for _ in range(3):
        spawn()
    ids = [hand_off(world.redis, delivery_to(ConversationRef(channel="discord", conversation_id=ch.id),
                                             f"ev-global-{i}-{ch.id}", f"hello {i}"), config=world.config)
           for i in range(3) for ch in channels]
    for delivery_id in ids:
        assert settled(world, delivery_id, timeout_s=30) == "delivered"
    requests = world.fake.requests()
    [blocked] = [r for r in requests if r.injected == "rate_limit"]
    assert blocked.global_limit and blocked.scope == "global"
    # Requests already on their way get a global 429 too: every 429 the workers saw was the global one.
    assert all(r.global_limit for r in requests if r.status == 429)
    for ch in channels:
        assert sorted(m.content for m in world.fake.messages(ch.id)) == [f"hello {i}" for i in range(3)]

LEASE_S = 3.0  # the `leaseS` of DELIVERY above


@pytest.mark.parametrize("stall", ["slow-webhook-send", "rate-limit-wait-on-the-bot-path"])
def test_a_send_that_outlasts_the_lease_is_not_sent_again_by_another_worker(world: DiscordWorld, spawn: Spawn,
                                                                            stall: str) -> None:
    """The sending worker stays alive but its send takes over twice the lease (the platform holds the request, or
    a 429 makes the worker wait): its lease is renewed meanwhile, so the idle second worker, whose reaper runs every
    0.25 s, never takes the delivery over and nothing is sent twice."""
    first, second = spawn(), spawn()
    if stall == "slow-webhook-send":  # the webhook path has no idempotency key: a second send would be a 2nd message
        record = world.bind_child(world.service())
        assert record.conversation.conversation_id is not None
        target, route = record.conversation, "webhook_execute"
        world.fake.inject("latency", route=route, delay_s=LEASE_S * 2.5, times=1)
    else:
        record, target, route = None, parent_ref(world), "message_create"
        world.fake.inject("rate_limit", route=route, retry_after_s=LEASE_S * 2.2, scope="user", times=1)
    delivery_id = hand_off(world.redis, delivery_to(target, f"ev-stall-{stall}", "slow but once", record=record),
                           config=world.config)
    assert settled(world, delivery_id, timeout_s=40) == "delivered"
    assert first.is_alive() and second.is_alive()
    landed = world.fake.messages(target.conversation_id)
    assert [m.content for m in landed] == ["slow but once"]
    accepted = [r for r in world.fake.requests(route) if r.status == 200]
    assert len(accepted) == 1 and not accepted[0].deduped  # one send reached the platform, not two deduplicated
    ledger = Ledger(world.redis).get(delivery_id)
    assert ledger is not None and (ledger.attempts, ledger.fence) == (1, 1)  # never claimed by a second worker
