"""The Discord adapter as it runs: `tether worker discord` processes (multiprocessing "spawn", each with its own Redis
connection) driven by the delivery engine, against the local Discord API and the real redis-server."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess

import pytest
from rq.worker import Worker

from adapters.delivery.deadletter import DeadLetterQueue
from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, deliver_queue_name, tether_queue
from adapters.discord.activity import ActivityLog
from adapters.payloads import Content, Delivery, Identity, delivery_id_for
from bindings.config import TetherConfig, load_config
from bindings.model import ConversationRef, SessionBindingRecord
from tests.adapters.discord.conftest import DiscordWorld, write_config
from tests.support.waiting import wait_for

DELIVERY = """
[delivery]
maxAttempts = 8
backoffMinS = 0.05
backoffMaxS = 0.2
leaseS = 3
reaperIntervalS = 0.25
"""

Spawn = Callable[..., BaseProcess]


def worker_main(url: str, config_path: str, name: str) -> None:
    """One worker process: its own session (so the test can kill it with anything it started)."""
    os.setsid()
    os.environ["TETHER_CONFIG"] = config_path
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from bindings.config import load_config
    from bindings.connection import connect
    from workers.runner import run_worker

    client = connect(url)
    config = load_config()
    if name == "router":
        from workers.worker_router import router_spec

        spec = router_spec(client, config)
    else:
        from workers.worker_adapter import adapter_spec

        spec = adapter_spec(name, client, config)
    run_worker(client, spec)


def _kill(proc: BaseProcess) -> None:
    if proc.pid is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # not yet its own session leader
        proc.kill()
    proc.join(timeout=10)


@pytest.fixture
def config(world: DiscordWorld) -> TetherConfig:
    write_config(world.config_path, world.fake.base_url, world.token_path, DELIVERY)
    world.config = load_config(world.config_path)
    return world.config


@pytest.fixture
def spawn(world: DiscordWorld, config: TetherConfig) -> Iterator[Spawn]:
    """Start worker processes (`discord` by default, or `router`); waits until each one listens."""
    ctx = multiprocessing.get_context("spawn")
    procs: list[tuple[str, BaseProcess]] = []

    def start(name: str = "discord") -> BaseProcess:
        proc = ctx.Process(target=worker_main, args=(world.redis_url, str(world.config_path), name))
        proc.start()
        procs.append((name, proc))
        queue = tether_queue(COMPLETIONS_QUEUE if name == "router" else deliver_queue_name(name), world.redis)
        count = sum(1 for n, p in procs if p.is_alive() and n == name)
        wait_for(lambda: len(Worker.all(connection=world.redis, queue=queue)) >= count, timeout_s=30,
                 what=f"the {name} worker to listen")
        return proc

    yield start
    for _, proc in procs:
        _kill(proc)


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


def test_manager_token_rotation_uses_latest_token_after_manager_reuse(world: DiscordWorld, spawn: Spawn) -> None:
    """One long-lived worker sends, the token file is rotated, the same worker sends again with the new token."""
    worker = spawn()
    first = hand_off(world.redis, delivery_to(parent_ref(world), "ev-before"), config=world.config)
    assert settled(world, first) == "delivered"
    world.rotate_token("rotated-bot-token")  # the platform now refuses the old token
    second = hand_off(world.redis, delivery_to(parent_ref(world), "ev-after"), config=world.config)
    assert settled(world, second) == "delivered"
    assert worker.is_alive()
    sends = world.fake.requests("message_create")
    assert [(r.token, r.status) for r in sends] == [("test-bot-token", 200), ("rotated-bot-token", 200)]
    assert world.fake.invalid_requests == 0


def test_webhook_sends_update_channel_activity_timestamps(world: DiscordWorld, spawn: Spawn) -> None:
    spawn()
    record = world.bind_child(world.service())
    thread = record.conversation.conversation_id
    assert thread is not None
    before = world.fake.now_ms()
    delivery_id = hand_off(world.redis, delivery_to(record.conversation, "ev-hook", record=record),
                           config=world.config)
    assert settled(world, delivery_id) == "delivered"
    activity = ActivityLog(world.redis).get("default", thread)
    assert activity is not None and activity.last_via == "webhook"
    assert before <= activity.last_outbound_at <= world.fake.now_ms()
    [msg] = world.fake.messages(thread)
    assert activity.last_message_id == msg.id
    touched = world.service().get(record.binding_id)
    assert touched is not None and touched.last_activity_at is not None
    assert touched.last_activity_at >= before


def test_bot_sends_update_channel_activity_timestamps(world: DiscordWorld, spawn: Spawn) -> None:
    spawn()
    before = world.fake.now_ms()
    delivery_id = hand_off(world.redis, delivery_to(parent_ref(world), "ev-bot"), config=world.config)
    assert settled(world, delivery_id) == "delivered"
    activity = ActivityLog(world.redis).get("default", world.parent.id)
    assert activity is not None and activity.last_via == "bot"
    assert before <= activity.last_outbound_at <= world.fake.now_ms()


def test_bound_completion_lands_once_in_the_thread_with_the_subagent_identity_and_not_in_the_parent(
    world: DiscordWorld, spawn: Spawn
) -> None:
    from router.enqueue import enqueue_completion

    spawn("router")
    spawn()
    record = world.bind_child(world.service(), session="agent:main:subagent:abc")
    thread = record.conversation.conversation_id
    assert thread is not None
    event = {
        "eventId": "v1:agent:main:subagent:abc:run-1", "kind": "task_completion",
        "targetSessionKey": "agent:main:subagent:abc",
        "requester": {"channel": "discord", "accountId": "default", "conversationId": world.parent.id},
        "spawnMode": "session", "failClosed": False, "content": {"text": "Task complete: found 3 papers"},
        "identity": {"username": "research-agent", "avatarUrl": "https://example.com/research.png"},
    }
    enqueue_completion(world.redis, event)
    enqueue_completion(world.redis, event)  # a duplicate of the same event
    wait_for(lambda: world.fake.messages(thread), timeout_s=20, what="the message in the thread")
    delivery_id = delivery_id_for(event["eventId"], record.conversation)  # type: ignore[arg-type]
    assert settled(world, delivery_id) == "delivered"
    [msg] = world.fake.messages(thread)
    assert msg.content == "Task complete: found 3 papers"
    assert (msg.author_kind, msg.author_username, msg.avatar_url) == (
        "webhook", "research-agent", "https://example.com/research.png")
    assert world.fake.messages(world.parent.id) == []


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


IN_FLIGHT_MS = 50  # a request already on its way when a 429 was answered is not one sent in spite of it


def test_429_storms_send_nothing_while_a_bucket_is_exhausted(world: DiscordWorld, spawn: Spawn) -> None:
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
    injected = [r for r in requests if r.injected == "rate_limit"]
    assert len(injected) == 3
    # A 429 the fake did not inject means a request went over the bucket tether tracks; the only excuse is having
    # been on its way already when an injected 429 was answered.
    for r in requests:
        if r.status == 429 and r.injected is None:
            assert any(0 <= r.at_ms - i.at_ms <= IN_FLIGHT_MS for i in injected), r
    # After each 429, nothing reached that bucket until its retry_after had passed.
    for r in requests:
        if r.status == 429:
            too_early = [o for o in requests if r.at_ms + IN_FLIGHT_MS < o.at_ms < r.at_ms + 400]
            assert too_early == [], (r, too_early)


def test_global_429_blocks_every_worker_until_retry_after(world: DiscordWorld, spawn: Spawn) -> None:
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
    # Requests already on their way get a global 429 too; nothing is *sent* until retry_after has passed.
    during = [r for r in requests
              if r.auth == "bot" and blocked.at_ms + IN_FLIGHT_MS < r.at_ms < blocked.at_ms + 1000]
    assert during == []
    assert all(r.global_limit for r in requests if r.status == 429)
    assert len([m for m in world.fake.messages() if m.content.startswith("hello")]) == len(ids)


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
