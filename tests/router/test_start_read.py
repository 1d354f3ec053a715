"""The route job's start read: the router worker reads the target session's bindings in the job's start transaction,
and the job decides from that snapshot, or from a live read when the snapshot is missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.queue import Queue

from adapters.delivery.rqwire import COMPLETIONS_QUEUE, MsgspecJSONSerializer, TetherJob, tether_queue
from bindings.config import parse_config
from bindings.model import SessionBindingRecord
from bindings.service import SessionBindingService
from router.enqueue import enqueue_completion
from router.start_read import StartSnapshot, binding_service, bindings_for, read_bindings_at_start
from tests.router.factories import SPAWN_ON_TOML, conv, event, write_config
from tests.router.support import queued_deliveries
from workers.runner import TetherWorker, build_worker
from workers.worker_router import router_spec

SESSION = "agent:main:subagent:abc"
SPAWN_ON = parse_config(SPAWN_ON_TOML)


@pytest.fixture(autouse=True)
def spawn_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_CONFIG", str(write_config(tmp_path)))


@pytest.fixture
def svc(real_redis: redis.Redis) -> SessionBindingService:
    return SessionBindingService(real_redis, SPAWN_ON)


@pytest.fixture
def thread(real_redis: redis.Redis, svc: SessionBindingService) -> SessionBindingRecord:
    """SESSION bound to thread-1 under channel 111, and a completion of SESSION waiting on the queue."""
    record = svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("thread-1", parent="111"))
    enqueue_completion(real_redis, event())
    return record


def _router(client: redis.Redis) -> TetherWorker:
    return build_worker(client, router_spec(client, SPAWN_ON))


def _start_next_job(client: redis.Redis, worker: TetherWorker) -> Job:
    """What the router worker does with the next job up to running its function: take it, start it."""
    taken = Queue.dequeue_any([tether_queue(COMPLETIONS_QUEUE, client)], None, connection=client,
                              job_class=TetherJob, serializer=MsgspecJSONSerializer)
    assert taken is not None
    job = taken[0]
    worker.prepare_execution(job)
    worker.prepare_job_execution(job, remove_from_intermediate_queue=True)
    return job


def test_the_router_worker_reads_the_target_sessions_bindings_when_it_starts_the_job(
    real_redis: redis.Redis, thread: SessionBindingRecord
) -> None:
    job = _start_next_job(real_redis, _router(real_redis))
    assert job.get_status() == "started"
    session_key, reply = job.start_read  # type: ignore[attr-defined]
    assert session_key == SESSION
    assert [b.binding_id for b in SessionBindingService.decode_many(reply)] == [thread.binding_id]


def test_the_route_job_decides_from_the_bindings_read_at_its_start(
    real_redis: redis.Redis, svc: SessionBindingService, thread: SessionBindingRecord
) -> None:
    job = _start_next_job(real_redis, _router(real_redis))
    svc.unbind(binding_id=thread.binding_id)  # after the start: the job's snapshot still has it

    lister = bindings_for(job)
    assert isinstance(lister, StartSnapshot)
    assert [b.binding_id for b in lister.list_by_session(SESSION)] == [thread.binding_id]
    assert lister.list_by_session("agent:main:subagent:other") == []  # any other session is read live


def test_when_redis_lost_the_bindings_script_the_job_reads_live_and_routes_to_the_thread(
    real_redis: redis.Redis, thread: SessionBindingRecord
) -> None:
    binding_service(real_redis)  # a router that has run before (it loaded the start read's script) ...
    real_redis.script_flush()  # ... and Redis restarted: the start read's EVALSHA gets NOSCRIPT

    job = _start_next_job(real_redis, _router(real_redis))
    assert isinstance(job.start_read[1], redis.exceptions.NoScriptError)  # type: ignore[attr-defined]
    assert not isinstance(bindings_for(job), StartSnapshot)

    job.perform()
    assert [d.destination.conversation_id for d in queued_deliveries(real_redis, "discord")] == ["thread-1"]


@pytest.mark.parametrize("args", [[event(session=None)], [event(session="  ")], ["not an object"], [event(), 2]])
def test_a_job_whose_argument_names_no_session_starts_without_a_read(
    real_redis: redis.Redis, args: list[Any]
) -> None:
    job = tether_queue(COMPLETIONS_QUEUE, real_redis).create_job("router.jobs.route_completion", args=args)
    pipe = real_redis.pipeline()
    assert read_bindings_at_start(job, pipe) is None
    assert pipe.command_stack == []


def test_an_undecodable_job_starts_without_a_read(real_redis: redis.Redis) -> None:
    queue = tether_queue(COMPLETIONS_QUEUE, real_redis)
    job_id = queue.enqueue("router.jobs.route_completion", event()).id
    real_redis.hset(f"rq:job:{job_id}", "data", b"[not json")
    job = TetherJob.fetch(job_id, connection=real_redis, serializer=MsgspecJSONSerializer)
    pipe = real_redis.pipeline()
    assert read_bindings_at_start(job, pipe) is None  # the job itself dead-letters it as invalid-event
    assert pipe.command_stack == []
