"""The Telegram adapter as it runs: `tether worker telegram` processes (multiprocessing "spawn", each with its own
Redis connection) and the router, driven by the delivery engine, against the local Bot API and the real
redis-server."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess

import pytest
from rq.worker import Worker

from adapters.delivery.deadletter import DeadLetterQueue
from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, deliver_queue_name, tether_queue
from adapters.payloads import Content, Delivery, Identity, delivery_id_for
from bindings.config import TetherConfig
from bindings.model import ConversationRef, SessionBindingRecord
from router.enqueue import enqueue_completion
from tests.adapters.telegram.conftest import TelegramWorld
from tests.support.waiting import wait_for
from tests.support.worker_processes import kill_worker, worker_main

DELIVERY = """
[delivery]
maxAttempts = 8
backoffMinS = 0.05
backoffMaxS = 0.2
leaseS = 3
reaperIntervalS = 0.25
"""

Spawn = Callable[..., BaseProcess]


@pytest.fixture
def config(world: TelegramWorld) -> TetherConfig:
    return world.reconfigure(DELIVERY)


@pytest.fixture
def spawn(world: TelegramWorld, config: TetherConfig) -> Iterator[Spawn]:
    """Start worker processes (`telegram` by default, or `router`); waits until each one listens."""
    ctx = multiprocessing.get_context("spawn")
    procs: list[tuple[str, BaseProcess]] = []

    def start(name: str = "telegram") -> BaseProcess:
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
        kill_worker(proc)


def event(session: str, run: str, text: str, requester: ConversationRef) -> dict[str, object]:
    return {
        "eventId": f"v1:{session}:{run}", "kind": "task_completion", "targetSessionKey": session,
        "requester": {"channel": "telegram", "accountId": "default", "conversationId": requester.conversation_id,
                      "parentConversationId": requester.parent_conversation_id},
        "spawnMode": "session", "failClosed": False, "content": {"text": text},
        "identity": {"username": "research-agent", "avatarUrl": None},
    }


def delivery_to(conversation: ConversationRef, event_id: str, text: str = "Task complete", *,
                record: SessionBindingRecord | None = None) -> Delivery:
    return Delivery(
        delivery_id=delivery_id_for(event_id, conversation), event_id=event_id, destination=conversation,
        mode="bound" if record else "fallback", reason="requester-match" if record else "no-active-binding",
        content=Content(text=text), identity=Identity(username="research-agent"),
        binding_id=record.binding_id if record else None,
        target_session_key=record.target_session_key if record else None,
    )


def settled(world: TelegramWorld, delivery_id: str, timeout_s: float = 30) -> str:
    ledger = Ledger(world.redis)

    def done() -> str | None:
        status = ledger.status(delivery_id)
        return status if status in ("delivered", "dead") else None

    result: str = wait_for(done, timeout_s=timeout_s, what=f"delivery {delivery_id} to settle")
    return result


def test_tether_worker_telegram_is_a_known_worker() -> None:
    out = subprocess.run([sys.executable, "-m", "workers", "worker", "nosuch"], capture_output=True, text=True,
                         check=False)
    assert "telegram" in out.stderr + out.stdout


def test_two_sessions_in_two_topics_of_one_forum_complete_at_once_one_message_each_none_in_general(
    world: TelegramWorld, spawn: Spawn
) -> None:
    spawn("router")
    spawn()
    spawn()
    svc = world.service()
    a = world.bind_child(svc, session="agent:main:subagent:a", label="alpha")
    b = world.bind_child(svc, session="agent:main:subagent:b", label="beta")
    for record, name in ((a, "alpha"), (b, "beta")):
        ev = event(record.target_session_key, "run-1", f"{name} done", record.conversation)
        enqueue_completion(world.redis, ev)
        enqueue_completion(world.redis, ev)  # a duplicate of the same event
    for record in (a, b):
        delivery_id = delivery_id_for(f"v1:{record.target_session_key}:run-1", record.conversation)
        assert settled(world, delivery_id) == "delivered"
    forum = world.forum.id
    assert [m.text for m in world.fake.messages(forum, int(a.metadata["topicId"]))] == ["alpha done"]
    assert [m.text for m in world.fake.messages(forum, int(b.metadata["topicId"]))] == ["beta done"]
    assert world.fake.messages(forum, general=True) == []


def test_a_migration_mid_run_loses_nothing_and_duplicates_nothing(world: TelegramWorld, spawn: Spawn) -> None:
    spawn("router")
    spawn()
    spawn()
    group = world.fake.add_chat("group", title="team")
    record = world.bind_chat(group.id, session="agent:main:subagent:m")
    requester = record.conversation
    ids = []
    for i in range(12):
        if i == 5:
            wait_for(lambda: len(world.fake.messages(group.id)) >= 3, timeout_s=30, what="a few sends before")
            world.fake.migrate(group.id)
        ev = event(record.target_session_key, f"run-{i}", f"result {i}", requester)
        enqueue_completion(world.redis, ev)
        ids.append(f"v1:{record.target_session_key}:run-{i}")
    dids = [delivery_id_for(eid, requester) for eid in ids]
    new_id = world.fake.chat(group.id).migrated_to
    assert new_id is not None
    # events enqueued after the move resolve to the binding's new conversation: their delivery ids differ
    moved = ConversationRef(channel="telegram", conversation_id=str(new_id))
    ledger = Ledger(world.redis)

    def status_of(did: str, eid: str) -> str | None:
        return ledger.status(did) or ledger.status(delivery_id_for(eid, moved))

    wait_for(lambda: all(status_of(d, e) in ("delivered", "dead") for d, e in zip(dids, ids, strict=True)),
             timeout_s=60, what="all twelve deliveries to settle")
    assert [status_of(d, e) for d, e in zip(dids, ids, strict=True)] == ["delivered"] * 12
    landed = world.fake.messages(group.id) + world.fake.messages(new_id)
    assert sorted(m.text for m in landed) == sorted(f"result {i}" for i in range(12))  # none lost, none twice
    assert world.fake.messages(new_id)  # and the later ones went to the supergroup
    binding = world.service().get(record.binding_id)
    assert binding is not None and binding.status == "active" and binding.conversation.conversation_id == str(new_id)


@pytest.mark.parametrize(("policy", "messages", "status"), [("resend", 2, "delivered"),
                                                            ("dead-letter", 1, "dead")])
def test_a_lost_answer_follows_unknown_send(world: TelegramWorld, spawn: Spawn, policy: str, messages: int,
                                            status: str) -> None:
    world.reconfigure(f'unknownSend = "{policy}"\n' + DELIVERY)
    spawn()
    chat = world.fake.add_chat("private")
    world.fake.inject("response_lost", route="sendMessage")
    did = hand_off(world.redis, delivery_to(ConversationRef(channel="telegram", conversation_id=str(chat.id)),
                                            f"ev-lost-{policy}"), config=world.config)
    assert settled(world, did) == status
    assert len(world.fake.messages(chat.id)) == messages  # "resend": the one duplicate it allows
    if status == "dead":
        letter = DeadLetterQueue(world.redis).get(did)
        assert letter is not None and letter.reason == "unknown-send"


def test_a_deleted_topic_dead_letters_ends_the_binding_and_sends_nothing_to_general(
    world: TelegramWorld, spawn: Spawn
) -> None:
    spawn()
    record = world.bind_child()
    world.fake.set_topic(world.forum.id, int(record.metadata["topicId"]), "deleted")
    did = hand_off(world.redis, delivery_to(record.conversation, "ev-gone", record=record), config=world.config)
    assert settled(world, did) == "dead"
    letter = DeadLetterQueue(world.redis).get(did)
    assert letter is not None and letter.reason == "destination-gone"
    ended = world.service().get(record.binding_id)
    assert ended is not None and ended.status == "ended" and ended.end_reason == "thread-delete"
    assert world.fake.messages(world.forum.id) == []


def test_a_kicked_bot_ends_the_binding_chat_gone_and_the_dead_letter_holds_no_token(
    world: TelegramWorld, spawn: Spawn
) -> None:
    spawn()
    group = world.fake.add_chat("supergroup")
    record = world.bind_chat(group.id)
    world.fake.set_chat(group.id, bot_status="kicked")
    did = hand_off(world.redis, delivery_to(record.conversation, "ev-kicked", record=record), config=world.config)
    assert settled(world, did) == "dead"
    ended = world.service().get(record.binding_id)
    assert ended is not None and ended.end_reason == "chat-gone"
    letter = DeadLetterQueue(world.redis).get(did)
    assert letter is not None and "bot was kicked" in letter.last_error
    dump = b"".join(world.redis.dump(k) or b"" for k in world.redis.keys("*"))
    assert world.fake.tokens[0].encode() not in dump


def test_limits_are_enforced_before_sending_across_worker_processes(world: TelegramWorld, spawn: Spawn) -> None:
    world.fake.set_limits(per_chat_per_s=5.0, per_chat_burst=2)
    world.reconfigure(DELIVERY, rates="[channels.telegram.rateLimit]\nperConversationPerSecond = 5\n"
                                      "perConversationBurst = 2\n")
    for _ in range(3):
        spawn()
    chat = world.fake.add_chat("private")
    dest = ConversationRef(channel="telegram", conversation_id=str(chat.id))
    ids = [hand_off(world.redis, delivery_to(dest, f"ev-rate-{i}", f"m {i}"), config=world.config)
           for i in range(10)]
    for did in ids:
        assert settled(world, did) == "delivered"
    assert sorted(m.text for m in world.fake.messages(chat.id)) == sorted(f"m {i}" for i in range(10))
    # Each process reserves its slot before sending; two requests reserved 200 ms apart can still arrive a few ms
    # closer (scheduling jitter), which the local API answers with a 429 of a few ms. Nothing more is allowed.
    refused = [r for r in world.fake.requests("sendMessage") if r.status == 429]
    assert len(refused) <= 2, refused
    assert all(r.description and float(r.description.rsplit(" ", 1)[1]) < 0.05 for r in refused), refused


def test_with_dead_letter_a_send_refused_by_429s_is_retried_not_taken_for_a_lost_answer(
    world: TelegramWorld, spawn: Spawn
) -> None:
    world.reconfigure('unknownSend = "dead-letter"\n' + DELIVERY)
    spawn()
    chat = world.fake.add_chat("private")
    world.fake.inject("rate_limit", route="sendMessage", retry_after_s=0.05, times=7)  # the first attempt gives up
    did = hand_off(world.redis, delivery_to(ConversationRef(channel="telegram", conversation_id=str(chat.id)),
                                            "ev-429s"), config=world.config)
    assert settled(world, did) == "delivered"
    record = Ledger(world.redis).get(did)
    assert record is not None and record.attempts == 2
    assert len(world.fake.messages(chat.id)) == 1
