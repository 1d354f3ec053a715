"""`tether worker matrix` as it runs: router and Matrix worker processes against the real homeserver (through the
fault proxy) and the real redis-server; everything counted by reading the rooms back."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from typing import Any

import pytest
from rq.worker import Worker

from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, deliver_queue_name, tether_queue
from adapters.payloads import delivery_id_for
from router.enqueue import enqueue_completion
from tests.support.matrix_world import MatrixWorld, delivery_to, room_ref
from tests.support.waiting import wait_for
from tests.support.worker_processes import DELIVERY, Spawn, kill_worker, worker_main


@pytest.fixture
def spawn(matrix_world: MatrixWorld) -> Iterator[Spawn]:
    w = matrix_world
    w.write_config(DELIVERY)
    ctx = multiprocessing.get_context("spawn")
    procs: list[tuple[str, BaseProcess]] = []

    def start(name: str = "matrix") -> BaseProcess:
        proc = ctx.Process(target=worker_main, args=(w.redis_url, str(w.config_path), name))
        proc.start()
        procs.append((name, proc))
        queue = tether_queue(COMPLETIONS_QUEUE if name == "router" else deliver_queue_name(name), w.redis)
        count = sum(1 for n, p in procs if p.is_alive() and n == name)
        wait_for(lambda: len(Worker.all(connection=w.redis, queue=queue)) >= count, timeout_s=30,
                 what=f"the {name} worker to listen")
        return proc

    yield start
    for _, proc in procs:
        kill_worker(proc)


def settled(w: MatrixWorld, delivery_id: str, timeout_s: float = 30) -> str:
    ledger = Ledger(w.redis)

    def done() -> str | None:
        status = ledger.status(delivery_id)
        return status if status in ("delivered", "dead") else None

    result: str = wait_for(done, timeout_s=timeout_s, what=f"delivery {delivery_id} to settle")
    return result


def completion(session: str, room: str, text: str) -> dict[str, Any]:
    return {
        "eventId": f"v1:{session}:run-1", "kind": "task_completion", "targetSessionKey": session,
        "requester": {"channel": "matrix", "accountId": "default", "conversationId": room},
        "spawnMode": "session", "failClosed": False, "content": {"text": text},
        "identity": {"username": "agent"},
    }


def test_two_sessions_in_two_threads_of_one_room_complete_at_once_one_message_each(
    matrix_world: MatrixWorld, spawn: Spawn
) -> None:
    w = matrix_world
    spawn("router")
    spawn()
    spawn()
    svc = w.service()
    a = w.bind_child(svc, session="agent:main:subagent:a", label="alpha")
    b = w.bind_child(svc, session="agent:main:subagent:b", label="beta")
    events = [completion("agent:main:subagent:a", w.room, "alpha done"),
              completion("agent:main:subagent:b", w.room, "beta done")]
    for event in events + events:  # each twice: the router dedupes the repeat
        enqueue_completion(w.redis, event)
    for record, event in ((a, events[0]), (b, events[1])):
        delivery_id = delivery_id_for(event["eventId"], record.conversation)
        assert settled(w, delivery_id) == "delivered"
    for record, text in ((a, "alpha done"), (b, "beta done")):
        root = record.conversation.conversation_id or ""
        assert [e["content"]["body"] for e in w.thread(w.room, root)] == [text]
    assert sorted(e["content"]["body"] for e in w.main_timeline(w.room)) == [
        "\N{ROBOT FACE} alpha", "\N{ROBOT FACE} beta"]  # the two roots, nothing else


def test_lost_answers_5xx_and_a_killed_worker_still_give_one_event_per_chunk(
    matrix_world: MatrixWorld, spawn: Spawn
) -> None:
    w = matrix_world
    # About half of all requests fail here: with the usual 8 attempts a delivery would be dead-lettered by chance
    # about once in ten runs, which is not what this test is about.
    w.write_config(DELIVERY.replace("maxAttempts = 8", "maxAttempts = 40"))
    record = w.bind_child(w.service())
    w.proxy.add("lose-answer", times=None, probability=0.3)
    w.proxy.add("5xx-after", times=None, probability=0.2)
    w.proxy.add("5xx", times=None, probability=0.2)
    first = spawn()
    spawn()
    ids = [hand_off(w.redis, delivery_to(record.conversation, f"ev-chaos-{i}", f"message {i}", record=record),
                    config=w.config) for i in range(12)]
    wait_for(lambda: Ledger(w.redis).status(ids[0]) == "delivered", timeout_s=30, what="a first delivery")
    kill_worker(first)  # SIGKILL mid-run: its leases expire and the reaper hands its deliveries on
    spawn()
    for delivery_id in ids:
        assert settled(w, delivery_id, timeout_s=180) == "delivered"
    bodies = [e["content"]["body"] for e in w.thread(w.room, record.conversation.conversation_id or "")]
    assert sorted(bodies) == sorted(f"message {i}" for i in range(12))
    assert len(w.main_timeline(w.room)) == 1  # the root only
    assert sum(w.proxy.stats.faults.values()) > 0


IN_FLIGHT_S = 0.05  # a send already on its way when the 429 was answered is not one sent in spite of it


def test_a_homeserver_429_holds_back_every_worker_until_retry_after(matrix_world: MatrixWorld, spawn: Spawn) -> None:
    w = matrix_world
    w.admin.invite(w.home.human, w.room, w.home.limited)
    w.admin.join(w.home.limited, w.room)
    from tests.support.worker_processes import DELIVERY as delivery_settings

    w.write_config(delivery_settings, user=w.home.limited)  # Synapse: 0.5 messages/s after a burst of 3
    for _ in range(3):
        spawn()
    ids = [hand_off(w.redis, delivery_to(room_ref(w.room), f"ev-limited-{i}", f"limited {i}"), config=w.config)
           for i in range(6)]
    for delivery_id in ids:
        assert settled(w, delivery_id, timeout_s=60) == "delivered"
    bodies = [e["content"]["body"] for e in w.main_timeline(w.room) if e["sender"] == w.home.limited.user_id]
    assert sorted(bodies) == sorted(f"limited {i}" for i in range(6))
    sends = [r for r in w.proxy.stats.log if r.method == "PUT" and "/send/" in r.path]
    limited = [r for r in sends if r.status == 429]
    assert limited, "the homeserver never said 429: the test proves nothing"
    for r in limited:
        assert r.retry_after_ms is not None
        until = r.answered + r.retry_after_ms / 1000
        too_early = [o for o in sends if r.answered + IN_FLIGHT_S < o.started < until - IN_FLIGHT_S]
        assert too_early == [], (r, too_early)
