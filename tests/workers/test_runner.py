"""Worker maintenance: abandoned jobs are found within a bounded time, whatever happened to the last cleaner."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator

import pytest
import redis
from redis.client import Pipeline
from rq.executions import prepare_execution as rq_prepare_execution
from rq.job import Job
from rq.queue import Queue
from rq.utils import now as rq_now

import workers.runner as runner
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, ROUTE_JOB, MsgspecJSONSerializer, TetherJob, tether_queue
from router.enqueue import ROUTE_RETRY_INTERVALS_S, route_retry
from tests.router.factories import event
from tests.support.waiting import wait_for
from workers.runner import MAINTENANCE_INTERVAL_S, StartRead, WorkerSpec, build_worker, run_scheduler_until


def test_the_cleanup_lock_lasts_one_maintenance_interval_and_is_released(
    real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = build_worker(real_redis, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE]))
    lock = tether_queue(COMPLETIONS_QUEUE, real_redis).registry_cleaning_key
    ttls: list[int] = []
    monkeypatch.setattr(runner, "clean_registries", lambda queue, handlers: ttls.append(real_redis.ttl(lock)))

    worker.clean_registries()
    assert ttls and 0 < ttls[0] <= MAINTENANCE_INTERVAL_S  # a cleaner killed mid-clean blocks others ≤ 15 s
    assert real_redis.exists(lock) == 0


def test_a_queue_another_worker_is_cleaning_is_skipped(
    real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = build_worker(real_redis, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE]))
    lock = tether_queue(COMPLETIONS_QUEUE, real_redis).registry_cleaning_key
    real_redis.set(lock, "someone-else", ex=20)
    cleaned: list[str] = []
    monkeypatch.setattr(runner, "clean_registries", lambda queue, handlers: cleaned.append(queue.name))

    worker.clean_registries()
    assert cleaned == []
    assert real_redis.get(lock) == b"someone-else"


def test_heartbeats_rq_sends_back_to_back_are_coalesced_and_later_ones_go_out(
    real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = build_worker(real_redis, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE]))
    worker.heartbeat()
    first = real_redis.hget(worker.key, "last_heartbeat")
    default_ttl = runner.WORKER_TTL_S + 60  # RQ's heartbeat TTL
    assert first is not None and default_ttl - 2 <= real_redis.ttl(worker.key) <= default_ttl

    worker.heartbeat()  # a moment later: the keys' TTLs were just set, nothing is sent
    assert real_redis.hget(worker.key, "last_heartbeat") == first

    worker.heartbeat(timeout=7)  # an explicit TTL always goes out
    assert 0 < real_redis.ttl(worker.key) <= 7

    later = rq_now() + dt.timedelta(seconds=runner.HEARTBEAT_COALESCE_S + 1)
    monkeypatch.setattr(runner, "rq_now", lambda: later)
    worker.heartbeat()
    assert default_ttl - 2 <= real_redis.ttl(worker.key) <= default_ttl


@contextlib.contextmanager
def scheduler_thread(client: redis.Redis) -> Iterator[threading.Thread]:
    """`run_scheduler_until` on the completions queue in a thread, stopped (and joined) on the way out."""
    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler_until, args=(client, [COMPLETIONS_QUEUE], stop))
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=5)


def due_route_job(client: redis.Redis) -> tuple[Queue, str]:
    queue = tether_queue(COMPLETIONS_QUEUE, client)
    job = queue.enqueue_at(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1), "router.jobs.route_completion", {})
    return queue, job.id


def test_the_in_thread_scheduler_moves_due_jobs_onto_their_queue_and_releases_its_lock(
    fake_redis: redis.Redis,
) -> None:
    queue, job_id = due_route_job(fake_redis)
    with scheduler_thread(fake_redis) as scheduler:
        wait_for(lambda: job_id in queue.job_ids, timeout_s=5, what="the due job to be enqueued")
    assert not scheduler.is_alive()
    assert fake_redis.keys("rq:scheduler-lock:*") == []


def test_the_in_thread_scheduler_takes_over_the_lock_of_a_scheduler_that_died(fake_redis: redis.Redis) -> None:
    fake_redis.set(f"rq:scheduler-lock:{COMPLETIONS_QUEUE}", "a-killed-worker", px=1500)  # expires on its own
    queue, job_id = due_route_job(fake_redis)
    with scheduler_thread(fake_redis):
        wait_for(lambda: job_id in queue.job_ids, timeout_s=10, what="the due job to be enqueued after the takeover")


def _take(queue: Queue) -> Job:
    taken = Queue.dequeue_any([queue], None, connection=queue.connection, job_class=TetherJob,
                              serializer=MsgspecJSONSerializer)
    assert taken is not None
    return taken[0]


def test_a_job_is_started_in_one_transaction_so_a_worker_killed_while_starting_it_leaves_it_queued(
    real_redis: redis.Redis,
) -> None:
    queue = tether_queue(COMPLETIONS_QUEUE, real_redis)
    job_id = queue.enqueue("router.jobs.route_completion", event(), retry=route_retry()).id
    worker = build_worker(real_redis, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE]))
    job = _take(queue)

    worker.prepare_execution(job)  # RQ's first start step: here only queued, nothing written yet
    assert job_id not in queue.started_job_registry and real_redis.keys("rq:execution:*") == []
    assert job.get_status(refresh=True) == "queued"  # a SIGKILL now leaves it to RQ's intermediate-queue cleanup

    worker.prepare_job_execution(job, remove_from_intermediate_queue=True)
    assert job_id in queue.started_job_registry and job.get_status(refresh=True) == "started"
    assert job_id not in queue.intermediate_queue.get_job_ids()


def _started_with_read(client: redis.Redis, read: StartRead) -> Job:
    worker = build_worker(client, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE],
                                             start_reads={ROUTE_JOB: read}))
    queue = tether_queue(COMPLETIONS_QUEUE, client)
    queue.enqueue(ROUTE_JOB, event())
    job = _take(queue)
    worker.prepare_execution(job)
    worker.prepare_job_execution(job)
    assert job.get_status(refresh=True) == "started"
    return job


def test_a_start_read_is_made_in_the_start_transaction_and_left_on_the_job(real_redis: redis.Redis) -> None:
    real_redis.set("some-key", "its value")

    def read(job: Job, pipe: Pipeline) -> str:
        pipe.get("some-key")
        return "the tag"

    assert _started_with_read(real_redis, read).start_read == ("the tag", b"its value")  # type: ignore[attr-defined]


def test_a_start_read_whose_command_fails_gives_the_job_the_error(real_redis: redis.Redis) -> None:
    def read(job: Job, pipe: Pipeline) -> str:
        pipe.evalsha("0" * 40, 0)  # a script Redis does not have
        return "tag"

    tag, reply = _started_with_read(real_redis, read).start_read  # type: ignore[attr-defined]
    assert tag == "tag" and isinstance(reply, redis.exceptions.NoScriptError)


def test_a_start_read_that_raises_is_dropped_and_the_job_starts_without_it(real_redis: redis.Redis) -> None:
    def read(job: Job, pipe: Pipeline) -> str:
        pipe.set("half-queued", 1)
        raise ValueError("cannot build the read")

    job = _started_with_read(real_redis, read)
    assert not hasattr(job, "start_read")
    assert real_redis.exists("half-queued") == 0  # what it had queued was not sent


def test_a_job_whose_worker_died_between_rqs_two_start_steps_is_retried_once_its_execution_expires(
    real_redis: redis.Redis,
) -> None:
    queue = tether_queue(COMPLETIONS_QUEUE, real_redis)
    job = queue.enqueue("router.jobs.route_completion", event(), retry=route_retry())
    dead = build_worker(real_redis, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE]))
    taken = _take(queue)
    assert taken.id == job.id
    rq_prepare_execution(dead, taken)  # stock RQ's first start step (an RQ worker, an older tether) ... and SIGKILL
    registry = queue.started_job_registry
    assert job.id in registry and job.id in queue.intermediate_queue.get_job_ids()

    cleaner = build_worker(real_redis, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE]))
    cleaner.clean_registries()
    assert job.id in registry  # its execution has not expired yet: that worker may be alive and about to start it

    for entry in real_redis.zrange(registry.key, 0, -1):
        real_redis.zadd(registry.key, {entry: 1})  # the execution's 90 s have passed ...
    real_redis.delete(*real_redis.keys(f"rq:execution:{job.id}:*"))  # ... and its hash has expired
    cleaner.clean_registries()
    assert job.id not in registry and job.id not in queue.intermediate_queue.get_job_ids()
    assert job.id in queue.job_ids  # retried at once (the first route retry has no delay)
    job.refresh()
    assert job.get_status() == "queued" and job.retries_left == len(ROUTE_RETRY_INTERVALS_S) - 1
