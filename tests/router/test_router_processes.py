"""Router worker processes (`tether worker router`, two or more at once) on real Redis."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq.worker import Worker

from adapters.delivery.deadletter import DeadLetterQueue
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, tether_queue
from bindings.config import parse_config
from bindings.service import SessionBindingService
from router.enqueue import enqueue_completions
from router.store import for_client
from tests.router.factories import SPAWN_ON_TOML, conv, event, write_config
from tests.router.support import ledger_ids, queued_deliveries, start_router, stop
from tests.support.waiting import wait_for

SPAWN_ON = parse_config(SPAWN_ON_TOML)


@pytest.fixture
def routers(real_redis: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two router worker processes, listening before the test enqueues anything."""
    config = write_config(tmp_path)
    procs = [start_router(redis_url, config, tmp_path / f"router-{i}.log") for i in range(2)]
    try:
        wait_for(lambda: len(Worker.all(connection=real_redis)) == 2, timeout_s=30, what="2 router workers")
        yield procs
    finally:
        codes = [stop(p) for p in procs]
        assert codes == [0, 0], (tmp_path / "router-0.log").read_text()[-3000:]


def _routed(client: redis.Redis, n: int) -> bool:
    queue = tether_queue(COMPLETIONS_QUEUE, client)
    return queue.count == 0 and queue.started_job_registry.count == 0 and len(ledger_ids(client)) + len(
        DeadLetterQueue(client).ids()) >= n


def test_two_active_bound_sessions_in_same_requester_channel_are_each_handed_off_to_their_own_thread_only(
    real_redis: redis.Redis, routers: list[subprocess.Popen[bytes]]
) -> None:
    """The routing half (no adapter runs: the deliveries are counted on their queue). The messages themselves are
    counted on the local Discord API by test_two_active_bound_sessions_in_same_requester_channel_do_not_duplicate_
    to_main_channel in tests/adapters/discord/test_plan_end_to_end.py."""
    svc = SessionBindingService(real_redis, SPAWN_ON)
    sessions = {"agent:main:subagent:a": "thread-a", "agent:main:subagent:b": "thread-b"}
    threads = {s: svc.bind(target_session_key=s, target_kind="subagent", conversation=conv(t, parent="111"))
               for s, t in sessions.items()}
    completions = [event(f"v1:{s}:run-1", session=s, text=f"done by {s}") for s in sessions]

    # Both complete at the same moment, and each runner retries its enqueue: 3 jobs per event, 6 jobs, 2 workers.
    enqueue_completions(real_redis, completions * 3)
    wait_for(lambda: _routed(real_redis, 2) and for_client(real_redis).counters().get("outcome:duplicate") == 4,
             timeout_s=30, what="both events routed and their 4 duplicate jobs handled")

    deliveries = queued_deliveries(real_redis, "discord")
    assert sorted((d.target_session_key, d.destination.conversation_id) for d in deliveries) == [
        ("agent:main:subagent:a", "thread-a"), ("agent:main:subagent:b", "thread-b")]
    assert all(d.destination == threads[d.target_session_key or ""].conversation for d in deliveries)
    assert all(d.destination.conversation_id != "111" for d in deliveries)
    assert len(ledger_ids(real_redis)) == 2
    assert all(p.poll() is None for p in routers)


def test_the_same_event_enqueued_three_times_gives_one_delivery(
    real_redis: redis.Redis, routers: list[subprocess.Popen[bytes]]
) -> None:
    svc = SessionBindingService(real_redis, SPAWN_ON)
    svc.bind(target_session_key="agent:main:subagent:abc", target_kind="subagent",
             conversation=conv("thread-1", parent="111"))
    for _ in range(3):
        enqueue_completions(real_redis, [event()])
    wait_for(lambda: _routed(real_redis, 1) and for_client(real_redis).counters().get("outcome:duplicate") == 2,
             timeout_s=30, what="three jobs handled")

    [delivery] = queued_deliveries(real_redis, "discord")
    assert delivery.destination == conv("thread-1", parent="111")
    assert len(ledger_ids(real_redis)) == 1


def _push_raw_job(client: redis.Redis, job_id: str, data: bytes) -> None:
    """What a non-Python producer writes: the job hash (uncompressed JSON data) and RPUSH onto the queue."""
    client.hset(f"rq:job:{job_id}", mapping={"data": data, "origin": COMPLETIONS_QUEUE, "status": "queued",
                                             "created_at": "2026-11-24T00:00:00.000000Z",
                                             "enqueued_at": "2026-11-24T00:00:00.000000Z"})
    client.rpush(f"rq:queue:{COMPLETIONS_QUEUE}", job_id)


def test_malformed_and_oversized_events_are_dead_lettered_with_reasons_and_the_worker_stays_alive(
    real_redis: redis.Redis, routers: list[subprocess.Popen[bytes]]
) -> None:
    def job(payload: object) -> bytes:
        return json.dumps(["router.jobs.route_completion", None, [payload], {}]).encode()

    _push_raw_job(real_redis, "bad-type", job(event("e-bad-type", requester={"channel": 7, "conversationId": "1"})))
    _push_raw_job(real_redis, "bad-kind", job(event("e-bad-kind", kind="task_started")))
    _push_raw_job(real_redis, "too-big", job(event("e-too-big", text="x" * 70_000)))
    _push_raw_job(real_redis, "not-json", b"\x00\x01 definitely not json")
    _push_raw_job(real_redis, "foreign", json.dumps(["os.system", None, ["echo pwned"], {}]).encode())
    wait_for(lambda: DeadLetterQueue(real_redis).count() == 5, timeout_s=30, what="5 dead letters")

    letters = {letter.event_id or letter.last_error: letter for letter in DeadLetterQueue(real_redis).letters()}
    assert {letter.reason for letter in letters.values()} == {"invalid-event"}
    assert letters["e-bad-type"].last_error == "requester.channel: expected `str | null`, got `int`"
    assert (letters["e-bad-kind"].last_error or "").startswith("kind: unsupported event kind 'task_started'")
    assert (letters["e-too-big"].last_error or "").startswith("event: event is ")
    assert "over the limit of 65536" in (letters["e-too-big"].last_error or "")
    others = sorted(e.last_error or "" for e in letters.values() if e.event_id is None)
    assert others == ["event: job data is not the JSON array [func_name, null, [event], {}]",
                      "event: job function 'os.system' is not a tether job function"]

    # Still alive: a good event after the bad ones is routed.
    enqueue_completions(real_redis, [event("e-good")])
    wait_for(lambda: len(queued_deliveries(real_redis, "discord")) == 1, timeout_s=30, what="the good event")
    assert all(p.poll() is None for p in routers)
