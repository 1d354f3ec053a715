"""`tether worker NAME`: one RQ SimpleWorker process (jobs run in-process, no fork) on tether's queues.

Background duties (lease reaping, metrics, RQ's scheduler) run as daemon threads beside the worker loop and stop
with it.
SIGTERM/SIGINT is RQ's warm shutdown: the current job finishes, then the process exits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.client import Pipeline
from rq import worker_registration
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.registry import clean_registries
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.utils import now as rq_now
from rq.worker import SimpleWorker, WorkerStatus

from adapters.delivery.refusal import refuse_foreign_job
from adapters.delivery.rqwire import MsgspecJSONSerializer, TetherJob, tether_queue
from workers import rq_fastpaths

log = logging.getLogger("tether.worker")

BackgroundTask = Callable[[threading.Event], None]  # runs until the event is set
# A read a job function wants made in its job's start transaction (see TetherWorker.prepare_job_execution): queues
# at most one command on the pipeline and returns a tag, or None when it queued nothing. The job function finds
# `(tag, reply)` as `job.start_read`, the reply being the error it got if it failed.
StartRead = Callable[[Job, Pipeline], Any]


@dataclass
class WorkerSpec:
    name: str
    queues: Sequence[str]
    background: list[BackgroundTask] = field(default_factory=list)
    exception_handlers: list[Callable[..., bool | None]] = field(default_factory=list)
    start_reads: Mapping[str, StartRead] = field(default_factory=dict)  # by job function name


# A job whose worker died is found by RQ's registry cleanup once its execution entry expires. SimpleWorker never
# renews that entry while a job runs, and RQ's defaults (job timeout + 60 s, checked every 10 minutes) would leave
# a SIGKILLed router's event waiting up to ~14 minutes. Every tether job is idempotent (sticky decisions, the
# delivery ledger's leases), so a job still running past this horizon and retried meanwhile sends nothing twice.
ABANDONED_AFTER_S = 90
MAINTENANCE_INTERVAL_S = 15
# RQ checks whether maintenance is due only between two dequeues, and an idle worker blocks in BLMOVE for
# worker_ttl - 15 s (default 405 s): without this, idle workers would not recover abandoned jobs for ~7 minutes.
WORKER_TTL_S = MAINTENANCE_INTERVAL_S + 15
HEARTBEAT_COALESCE_S = 1.0


class TetherWorker(SimpleWorker):
    """A SimpleWorker bound to tether's serializer and allowlisted Job class, with one start transaction per job and
    two of RQ's per-job helpers made cheap (`workers.rq_fastpaths`)."""

    start_reads: Mapping[str, StartRead] = {}
    _start: Pipeline | None = None

    def prepare_execution(self, job: Job) -> Execution:
        """RQ's, except that the execution record (the started registry) is only queued here, to be sent with the
        job's `started` status by `prepare_job_execution`, which SimpleWorker calls next. RQ sends the two as
        separate transactions: that costs a round trip per job, and a worker killed between them leaves the job
        registered as started yet still `queued`, which RQ 3.0 never recovers (see `_recover_half_started`)."""
        if self._start is not None:
            self._start.reset()  # a start that never ran (cannot happen in SimpleWorker): not another job's
        pipe = self.connection.pipeline()
        execution = Execution.create(job, self.get_heartbeat_ttl(job), pipeline=pipe, worker_name=self.name)
        self.executions[execution.id] = execution
        self.set_state(WorkerStatus.BUSY, pipeline=pipe)
        self._start = pipe
        return execution

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """RQ's job start (heartbeats, `started` status) in the transaction `prepare_execution` began, together
        with the job function's start read, if it has one: the job's state and what the function reads change
        at one instant, one round trip before the function runs."""
        pipe, self._start = self._start, None
        with pipe if pipe is not None else self.connection.pipeline() as pipe:
            ttl = self.get_heartbeat_ttl(job)
            self.heartbeat(ttl, pipeline=pipe)
            job.heartbeat(rq_now(), ttl, pipeline=pipe)
            job.prepare_for_execution(self.name, pipeline=pipe)
            pipe.persist(job.key)
            if remove_from_intermediate_queue:
                pipe.lrem(tether_queue(job.origin, self.connection).intermediate_queue_key, 1, job.id)
            tag = self._queue_start_read(job, pipe)
            replies = pipe.execute(raise_on_error=False)
        own = replies if tag is None else replies[:-1]
        failed = next((r for r in own if isinstance(r, Exception)), None)
        if failed is not None:
            raise failed
        if tag is not None:
            job.start_read = (tag, replies[-1])  # type: ignore[attr-defined]

    def _queue_start_read(self, job: Job, pipe: Pipeline) -> Any:
        """The job function's start read, if it has one: its tag, or None. A read that cannot be queued is
        skipped (logged): the job still starts, and its function reads for itself."""
        if not self.start_reads:
            return None
        depth = len(pipe.command_stack)
        try:
            read = self.start_reads.get(job.func_name or "")
            return None if read is None else read(job, pipe)
        except Exception:
            del pipe.command_stack[depth:]
            log.exception("start read failed to queue; the job reads for itself", extra={"jobId": job.id})
            return None

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return ABANDONED_AFTER_S

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's heartbeat, cheaper. RQ sends a heartbeat's three commands one by one, three times per job plus once
        more in a pipeline (a no-op job costs 20 round trips, 9 of them heartbeats). Here a heartbeat RQ sends on
        its own is one pipeline, and is skipped when the previous heartbeat is under HEARTBEAT_COALESCE_S old: that
        one set the same keys' TTLs (at least ABANDONED_AFTER_S) a moment ago, so skipping it moves no deadline by
        more than that moment. Heartbeats RQ pipelines with other commands (with a job's TTL) always go out."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)
            return
        last = self.last_heartbeat
        if timeout is None and last is not None and (rq_now() - last).total_seconds() < HEARTBEAT_COALESCE_S:
            return
        with self.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(timeout, pipeline=pipe)
            pipe.execute()

    def clean_registries(self) -> None:
        """RQ's registry cleanup, with the per-queue lock held for one maintenance interval instead of RQ's 899 s:
        a worker killed mid-clean would otherwise stop every worker from recovering that queue's abandoned jobs
        for 15 minutes."""
        for queue in self.queues:
            lock = queue.registry_cleaning_key
            if not self.connection.set(lock, self.name, nx=True, ex=MAINTENANCE_INTERVAL_S):
                continue
            try:
                self._recover_half_started(queue)
                clean_registries(queue, self._exc_handlers)
                worker_registration.clean_worker_registry(queue)
                queue.intermediate_queue.cleanup(self, queue)
            finally:
                self.connection.delete(lock)
        self.last_cleaned_at = rq_now()  # type: ignore[assignment]

    def _recover_half_started(self, queue: Queue) -> None:
        """RQ 3.0 records a job's execution (the started registry) and its `started` status in two steps. A worker
        killed between them leaves the job `queued`, in the started registry and in the intermediate queue, and
        each of RQ's cleanups leaves it to the other: it would wait forever. Once that execution has expired, it is
        handled as RQ handles an abandoned job: retried while it has retries, else failed. Never raises: RQ ends
        the worker on an error in maintenance. (TetherWorker takes both steps in one transaction; this recovers
        jobs that a stock RQ worker, or an older tether, left behind.)"""
        stranded = set(queue.intermediate_queue.get_job_ids())
        if not stranded:
            return
        registry = queue.started_job_registry
        expired: list[bytes] = self.connection.zrangebyscore(registry.key, 0, time.time())  # type: ignore[assignment]
        for entry in expired:
            job_id = registry.parse_job_id(entry)
            if job_id not in stranded:
                continue
            try:
                job = queue.fetch_job(job_id)
                if job is None or job.get_status(refresh=False) != JobStatus.QUEUED:
                    continue
                log.warning("job taken by a worker that died before starting it: handled as abandoned",
                            extra={"jobId": job_id, "queue": queue.name})
                self.connection.zrem(registry.key, entry)
                self.handle_job_failure(job, queue, started_job_registry=registry,
                                        exc_string="the worker that took this job died before starting it")
                queue.intermediate_queue.remove(job_id)
            except Exception:
                log.exception("could not recover a job stranded between RQ's two start steps",
                              extra={"jobId": job_id, "queue": queue.name})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        rq_fastpaths.install()  # here, not at import: a process that only enqueues keeps RQ's helpers untouched
        super().__init__(*args, **kwargs)
        if threading.current_thread() is not threading.main_thread():
            # SIGALRM, RQ's default job timeout, exists only in the main thread (the embedded fakeredis mode).
            self.death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        # The in-process embedded mode runs workers in threads, where signal handlers cannot be installed;
        # those workers are stopped through `run_worker_until`'s event instead.
        if threading.current_thread() is threading.main_thread():
            super()._install_signal_handlers()  # type: ignore[no-untyped-call]


def build_worker(client: redis.Redis, spec: WorkerSpec) -> TetherWorker:
    queues = [tether_queue(q, client) for q in spec.queues]
    worker = TetherWorker(
        queues,
        connection=client,
        serializer=MsgspecJSONSerializer,
        job_class=TetherJob,
        # A refused job (foreign hash fields) is dead-lettered first, and only there.
        exception_handlers=[refuse_foreign_job, *spec.exception_handlers],
        disable_default_exception_handler=False,
        maintenance_interval=MAINTENANCE_INTERVAL_S,
        worker_ttl=WORKER_TTL_S,
    )
    worker.start_reads = spec.start_reads
    return worker


def run_worker(client: redis.Redis, spec: WorkerSpec, *, burst: bool = False, with_scheduler: bool = True) -> bool:
    """Run until stopped (or, with `burst`, until the queues are empty). Returns whether any job was processed.

    RQ's scheduler (`with_scheduler`) runs as a thread of this process, not as the child RQ would fork: RQ forks it
    from a process that already runs threads, where the child can deadlock on a lock one of them held at the fork
    (RQ then waits for it without a timeout on shutdown); the forked child outlives a SIGKILLed worker, and dies
    when Redis restarts until the next maintenance pass starts another. The thread retries through a Redis outage
    and dies with its worker. (In burst mode RQ only moves due jobs once, in-process; that is kept.)"""
    worker = build_worker(client, spec)
    stop = threading.Event()
    tasks = list(spec.background)
    if with_scheduler and not burst:
        tasks.append(lambda stop_: run_scheduler_until(client, spec.queues, stop_))
    threads = [threading.Thread(target=task, args=(stop,), daemon=True, name=f"{spec.name}-bg") for task in tasks]
    for t in threads:
        t.start()
    log.info("worker starting", extra={"worker": spec.name, "queues": list(spec.queues), "burst": burst})
    try:
        return bool(worker.work(burst=burst, with_scheduler=with_scheduler and burst, logging_level="WARNING"))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        log.info("worker stopped", extra={"worker": spec.name})


def run_worker_until(client: redis.Redis, spec: WorkerSpec, stop: threading.Event, *, idle_s: int = 1) -> None:
    """Run a worker in a thread until `stop` is set (checked whenever the queues have been idle for `idle_s`), with
    RQ's scheduler in another thread, as `run_worker` does (with fakeredis a forked scheduler would also schedule
    into a copy of the data)."""
    worker = build_worker(client, spec)
    threads = [threading.Thread(target=task, args=(stop,), daemon=True) for task in spec.background]
    threads.append(threading.Thread(target=run_scheduler_until, args=(client, spec.queues, stop), daemon=True,
                                    name=f"{spec.name}-scheduler"))
    for t in threads:
        t.start()
    while not stop.is_set():
        worker.work(burst=False, max_idle_time=idle_s, with_scheduler=False, logging_level="WARNING")
    for t in threads:
        t.join(timeout=5)


def run_scheduler_until(client: redis.Redis, queues: Sequence[str], stop: threading.Event, *,
                        interval_s: int = 1) -> None:
    """`RQScheduler.work`'s loop (move due scheduled jobs onto their queues, under RQ's per-queue scheduler lock)
    in the calling thread, until `stop` is set; the locks are released on the way out.

    A lock held by another worker's scheduler is tried again on every pass (one SET NX per queue), not every 10
    minutes as RQ's scheduler does: when that worker is SIGKILLed, its lock expires after `interval + 60` s and
    this one takes over at once, instead of leaving scheduled retries waiting."""
    scheduler = RQScheduler(list(queues), connection=client, serializer=MsgspecJSONSerializer,
                            interval=interval_s, logging_level="WARNING")
    try:
        while not stop.is_set():
            try:
                if scheduler.acquired_locks != set(queues):
                    scheduler.acquire_locks()  # type: ignore[no-untyped-call]
                if scheduler.acquired_locks:
                    scheduler.heartbeat()  # type: ignore[no-untyped-call]
                    scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
            except redis.RedisError as exc:
                log.warning("scheduler pass failed; retrying", extra={"error": str(exc)})
            stop.wait(interval_s)
    finally:
        with contextlib.suppress(redis.RedisError):
            scheduler.release_locks()  # type: ignore[no-untyped-call]
