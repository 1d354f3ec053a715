"""The Slack adapter as it runs: `tether worker router` and two `tether worker slack` processes (multiprocessing
"spawn", each with its own Redis connection) against the local Slack Web API and the real redis-server."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from typing import Any

import pytest
from rq.worker import Worker

from adapters.delivery.deadletter import DeadLetterQueue
from adapters.delivery.ledger import Ledger
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, deliver_queue_name, tether_queue
from bindings.config import TetherConfig, load_config
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from router.enqueue import enqueue_completions
from tests.adapters.slack.conftest import SlackWorld, thread_ref, write_config
from tests.router.support import ledger_ids
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
    """One worker process in its own session (so the test can kill it and all it started)."""
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
    except ProcessLookupError:
        proc.kill()
    proc.join(timeout=10)


@pytest.fixture
def config(world: SlackWorld) -> TetherConfig:
    write_config(world.config_path, world.fake.base_url, world.token_path, DELIVERY)
    world.config = load_config(world.config_path)
    return world.config


@pytest.fixture
def spawn(world: SlackWorld, config: TetherConfig, redis_url: str) -> Iterator[Spawn]:
    ctx = multiprocessing.get_context("spawn")
    procs: list[tuple[str, BaseProcess]] = []

    def start(name: str = "slack") -> BaseProcess:
        proc = ctx.Process(target=worker_main, args=(redis_url, str(world.config_path), name))
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


def completion(event_id: str, session: str, requester: ConversationRef, text: str) -> dict[str, Any]:
    return {"eventId": event_id, "kind": "task_completion", "targetSessionKey": session,
            "requester": {"channel": "slack", "accountId": requester.account_id,
                          "conversationId": requester.conversation_id, "parentConversationId": None},
            "spawnMode": "session", "failClosed": False, "content": {"text": text},
            "identity": {"username": session.rsplit(":", 1)[-1], "avatarUrl": "https://example.com/a.png"},
            "createdAt": 1_764_000_000_000, "metadata": {}}


def settled(world: SlackWorld, n: int, timeout_s: float = 30) -> dict[str, str]:
    ledger = Ledger(world.redis)

    def done() -> dict[str, str] | None:
        ids = ledger_ids(world.redis)
        statuses = {i: ledger.status(i) or "" for i in ids}
        if len(statuses) >= n and all(s in ("delivered", "dead") for s in statuses.values()):
            return statuses
        return None

    result: dict[str, str] = wait_for(done, timeout_s=timeout_s, what=f"{n} deliveries to settle")
    return result


def test_two_bound_sessions_completing_from_one_channel_land_once_each_in_their_threads(
        world: SlackWorld, spawn: Spawn) -> None:
    for name in ("router", "slack", "slack"):
        spawn(name)
    svc = SessionBindingService(world.redis, world.config)
    channel = ConversationRef(channel="slack", conversation_id=world.channel.id)
    roots = {s: world.thread(f"thread of {s}") for s in ("agent:main:subagent:a", "agent:main:subagent:b")}
    for session, root in roots.items():
        svc.bind(target_session_key=session, target_kind="subagent",
                 conversation=thread_ref(world.channel.id, root.ts))
    events = [completion(f"v1:{s}:run-1", s, channel, f"done by {s}") for s in roots]
    enqueue_completions(world.redis, events * 2)  # each runner retried its enqueue once

    statuses = settled(world, 2)
    assert sorted(statuses.values()) == ["delivered", "delivered"]
    for session, root in roots.items():
        landed = world.fake.messages(world.channel.id, thread_ts=root.ts)
        assert [(m.text, m.username) for m in landed] == [(f"done by {session}", session.rsplit(":", 1)[-1])]
    assert [m.text for m in world.fake.root_messages(world.channel.id)] == [
        "thread of agent:main:subagent:a", "thread of agent:main:subagent:b"]  # nothing new in the channel root
    assert not any(m.reply_broadcast for m in world.fake.bot_messages())


def test_a_lost_answer_across_workers_gives_exactly_one_message(world: SlackWorld, spawn: Spawn) -> None:
    for name in ("router", "slack", "slack"):
        spawn(name)
    svc = SessionBindingService(world.redis, world.config)
    root = world.thread()
    svc.bind(target_session_key="agent:main:subagent:a", target_kind="subagent",
             conversation=thread_ref(world.channel.id, root.ts))
    world.fake.inject("lose-answer", method="chat.postMessage")
    world.fake.inject("lose-answer", method="conversations.replies")  # the first look is lost too
    enqueue_completions(world.redis, [completion("v1:a:run-1", "agent:main:subagent:a",
                                                 ConversationRef(channel="slack", conversation_id=world.channel.id),
                                                 "exactly once")])
    assert list(settled(world, 1).values()) == ["delivered"]
    assert [m.text for m in world.fake.messages(world.channel.id, thread_ts=root.ts)] == ["exactly once"]
    assert world.fake.count_requests("chat.postMessage") == 1


def test_a_deleted_thread_root_ends_the_binding_and_posts_nothing_anywhere(world: SlackWorld, spawn: Spawn) -> None:
    for name in ("router", "slack"):
        spawn(name)
    svc = SessionBindingService(world.redis, world.config)
    root = world.thread()
    record = svc.bind(target_session_key="agent:main:subagent:a", target_kind="subagent",
                      conversation=thread_ref(world.channel.id, root.ts))
    world.fake.delete_message(world.channel.id, root.ts)
    enqueue_completions(world.redis, [completion("v1:a:run-1", "agent:main:subagent:a",
                                                 ConversationRef(channel="slack", conversation_id=world.channel.id),
                                                 "nobody will read this")])
    assert list(settled(world, 1).values()) == ["dead"]
    [letter] = [DeadLetterQueue(world.redis).get(i) for i in DeadLetterQueue(world.redis).ids()]
    assert letter is not None and letter.reason == "destination-gone"
    assert svc.get(record.binding_id).end_reason == "thread-delete"  # type: ignore[union-attr]
    assert world.fake.bot_messages() == []
