"""`tether worker webhook` as it runs: real worker processes (spawned, each with its own Redis connection), the
router, the real redis-server, and a local receiver verifying every request with `standardwebhooks`.

The reduced exactly-once case lives here; the long run with SIGKILLed workers is `tests/chaos` (`make chaos`).
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator
from multiprocessing.process import BaseProcess

import pytest
from rq.worker import Worker

from adapters.delivery.deadletter import DeadLetterQueue
from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, deliver_queue_name, tether_queue
from adapters.payloads import Content, Delivery, Identity, delivery_id_for
from bindings.config import load_config
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.service import SessionBindingService
from tests.adapters.webhook.conftest import WebhookWorld
from tests.fakes.webhook_receiver import Fault, Received, WebhookReceiver
from tests.support.waiting import wait_for
from tests.support.worker_processes import DELIVERY, Spawn, kill_worker, worker_main

# Twelve attempts: the reduced runs below lose a few answers on top of 503s and a killed worker.
CONFIG = """
[channels.webhook.threadBindings]
spawnSubagentSessions = true
""" + DELIVERY.replace("maxAttempts = 8", "maxAttempts = 12")

@pytest.fixture
def spawn(world: WebhookWorld) -> Iterator[Spawn]:
    """Start worker processes (`webhook` by default, or `router`); waits until each one listens."""
    world.config_path.write_text(world.config_path.read_text() + CONFIG)
    world.config = load_config(world.config_path)
    ctx = multiprocessing.get_context("spawn")
    procs: list[tuple[str, BaseProcess]] = []

    def start(name: str = "webhook") -> BaseProcess:
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


def delivery_to(conversation: ConversationRef, event_id: str, text: str = "Task complete") -> Delivery:
    return Delivery(delivery_id=delivery_id_for(event_id, conversation), event_id=event_id, destination=conversation,
                    mode="fallback", reason="no-active-binding", content=Content(text=text),
                    identity=Identity(username="research-agent"))


def settled(world: WebhookWorld, delivery_id: str, timeout_s: float = 30) -> str:
    ledger = Ledger(world.redis)

    def done() -> str | None:
        status = ledger.status(delivery_id)
        return status if status in ("delivered", "dead") else None

    result: str = wait_for(done, timeout_s=timeout_s, what=f"delivery {delivery_id} to settle")
    return result


def bind_room(world: WebhookWorld, room: str = "room-1") -> tuple[SessionBindingService, SessionBindingRecord]:
    svc = SessionBindingService(world.redis, world.config)
    record = svc.bind(target_session_key="agent:main:subagent:abc", target_kind="subagent",
                      conversation=ConversationRef(channel="webhook", conversation_id=room,
                                                   parent_conversation_id="lobby"))
    return svc, record


def test_a_routed_completion_lands_once_at_the_receiver_in_the_bound_conversation(world: WebhookWorld,
                                                                                  spawn: Spawn) -> None:
    from router.enqueue import enqueue_completion

    spawn("router")
    spawn()
    spawn()
    _, record = bind_room(world)
    event = {
        "eventId": "v1:agent:main:subagent:abc:run-1", "kind": "task_completion",
        "targetSessionKey": "agent:main:subagent:abc",
        "requester": {"channel": "webhook", "accountId": "default", "conversationId": "lobby"},
        "spawnMode": "session", "failClosed": False, "content": {"text": "Task complete: found 3 papers"},
        "identity": {"username": "research-agent"},
    }
    enqueue_completion(world.redis, event)
    enqueue_completion(world.redis, event)  # the same event twice
    delivery_id = delivery_id_for(str(event["eventId"]), record.conversation)
    assert settled(world, delivery_id) == "delivered"
    [m] = world.receiver.messages()
    assert (m.text, m.conversation_id, m.parent_conversation_id, m.username) == (
        "Task complete: found 3 papers", "room-1", "lobby", "research-agent")
    assert len(world.receiver.requests()) == 1
    ledger = Ledger(world.redis).get(delivery_id)
    assert ledger is not None and ledger.message_ids == [m.message_id]


def test_an_endpoint_answering_410_ends_the_binding_endpoint_gone(world: WebhookWorld, spawn: Spawn) -> None:
    spawn()
    svc, record = bind_room(world)
    world.receiver.set_gone("room-1")
    d = delivery_to(record.conversation, "ev-gone")
    d = Delivery(**{**{f: getattr(d, f) for f in d.__struct_fields__}, "binding_id": record.binding_id,
                    "mode": "bound"})
    assert settled(world, hand_off(world.redis, d, config=world.config)) == "dead"
    letter = DeadLetterQueue(world.redis).get(d.delivery_id)
    assert letter is not None and letter.reason == "destination-gone"
    ended = svc.get(record.binding_id)
    assert ended is not None and ended.status == "ended" and ended.end_reason == "endpoint-gone"


def faulty(receiver: WebhookReceiver) -> None:
    """Every fifth request answers 503; of the others, every fourth loses its answer after the receiver acted."""
    receiver.fault(Fault(kind="status", status=503, every=5, count=-1))
    receiver.fault(Fault(kind="drop", every=4, count=-1))


def text_of(i: int) -> str:
    # Every fourth delivery is long enough for two chunks: chunk order and per-chunk ids are exercised too.
    return f"event {i} " + ("word " * 900 if i % 4 == 0 else "")


def send_many(world: WebhookWorld, count: int) -> list[str]:
    room = ConversationRef(channel="webhook", conversation_id="room-1")
    return [hand_off(world.redis, delivery_to(room, f"ev-{i}", text_of(i)), config=world.config)
            for i in range(count)]


def chunks_of(world: WebhookWorld, count: int) -> list[int]:
    adapter = world.adapter()
    return [len(adapter.split(text_of(i))) for i in range(count)]


def resends_after_lost_answers(requests: list[Received]) -> Counter[str]:
    """Per webhook-id, how many times the receiver acted on it again after an answer it gave was lost."""
    acted = [r for r in requests if r.fault != "status"]
    lost = Counter(r.webhook_id for r in acted if r.answered == 0)
    return Counter({wid: n for wid, n in lost.items()})


def test_under_lost_answers_and_5xx_a_deduping_receiver_acts_on_every_chunk_exactly_once_even_with_a_killed_worker(
        world: WebhookWorld, spawn: Spawn) -> None:
    faulty(world.receiver)
    first = spawn()
    spawn()
    ids = send_many(world, 12)
    wait_for(lambda: len(world.receiver.messages()) >= 4, timeout_s=30, what="some messages")
    kill_worker(first)  # mid-run: its deliveries are taken over once its lease expires
    spawn()
    assert [settled(world, i, timeout_s=60) for i in ids] == ["delivered"] * len(ids)
    messages = world.receiver.messages()
    per_id = Counter(m.webhook_id for m in messages)
    assert set(per_id.values()) == {1}
    assert Counter(m.delivery_id for m in messages) == Counter(dict(zip(ids, chunks_of(world, len(ids)), strict=True)))
    assert chunks_of(world, len(ids))[0] == 2
    faults = Counter(r.fault for r in world.receiver.requests())
    assert faults["drop"] > 0 and faults["status"] > 0  # the faults did happen
    assert world.receiver.rejected() == []


def test_under_lost_answers_and_5xx_a_receiver_that_does_not_dedupe_sees_only_the_documented_resends(
        world: WebhookWorld, spawn: Spawn) -> None:
    world.receiver.state.dedupe = False
    faulty(world.receiver)
    spawn()
    spawn()
    ids = send_many(world, 12)
    assert [settled(world, i, timeout_s=60) for i in ids] == ["delivered"] * len(ids)
    messages = world.receiver.messages()
    copies = Counter(m.webhook_id for m in messages)
    extra = Counter({wid: n - 1 for wid, n in copies.items() if n > 1})
    # Each repeat is a resend of the same webhook-id after an answer was lost, and nothing else: a 503 (not acted
    # on) never causes one, and no chunk ever arrives under a second id.
    assert extra == resends_after_lost_answers(world.receiver.requests())
    assert sum(extra.values()) > 0
    assert len(copies) == sum(chunks_of(world, len(ids)))
