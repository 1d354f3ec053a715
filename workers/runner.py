"""`tether worker NAME`: one RQ SimpleWorker process (jobs run in-process, no fork) on tether's queues.

Background duties (lease reaping, metrics) run as daemon threads beside the worker loop and stop with it.
SIGTERM/SIGINT is RQ's warm shutdown: the current job finishes, then the process exits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from rq import worker_registration
from rq.job import Job
from rq.registry import clean_registries
from rq.timeouts import TimerDeathPenalty
from rq.utils import now as rq_now
from rq.worker import SimpleWorker

from adapters.rqwire import MsgspecJSONSerializer, TetherJob, tether_queue

log = logging.getLogger("tether.worker")

BackgroundTask = Callable[[threading.Event], None]  # runs until the event is set


@dataclass
class WorkerSpec:
    name: str
    queues: Sequence[str]
    background: list[BackgroundTask] = field(default_factory=list)
    exception_handlers: list[Callable[..., bool | None]] = field(default_factory=list)


# A job whose worker died is found by RQ's registry cleanup once its execution entry expires. SimpleWorker never
# renews that entry while a job runs, and RQ's defaults (job timeout + 60 s, checked every 10 minutes) would leave
# a SIGKILLed router's event waiting up to ~14 minutes. Every tether job is idempotent (sticky decisions, the
# delivery ledger's leases), so a job still running past this horizon and retried meanwhile sends nothing twice.
ABANDONED_AFTER_S = 90
MAINTENANCE_INTERVAL_S = 30
# RQ checks whether maintenance is due only between two dequeues, and an idle worker blocks in BLMOVE for
# worker_ttl - 15 s (default 405 s): without this, idle workers would not recover abandoned jobs for ~7 minutes.
WORKER_TTL_S = MAINTENANCE_INTERVAL_S + 15


class TetherWorker(SimpleWorker):
    """A SimpleWorker bound to tether's serializer and allowlisted Job class."""

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return ABANDONED_AFTER_S

    def clean_registries(self) -> None:
        """RQ's registry cleanup, with the per-queue lock held for one maintenance interval instead of RQ's 899 s:
        a worker killed mid-clean would otherwise stop every worker from recovering that queue's abandoned jobs
        for 15 minutes."""
        for queue in self.queues:
            lock = queue.registry_cleaning_key
            if not self.connection.set(lock, self.name, nx=True, ex=MAINTENANCE_INTERVAL_S):
                continue
            try:
                clean_registries(queue, self._exc_handlers)
                worker_registration.clean_worker_registry(queue)
                queue.intermediate_queue.cleanup(self, queue)
            finally:
                self.connection.delete(lock)
        self.last_cleaned_at = rq_now()  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
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
        exception_handlers=list(spec.exception_handlers) or None,
        disable_default_exception_handler=False,
        maintenance_interval=MAINTENANCE_INTERVAL_S,
        worker_ttl=WORKER_TTL_S,
    )
    return worker


def run_worker(client: redis.Redis, spec: WorkerSpec, *, burst: bool = False, with_scheduler: bool = True) -> bool:
    """Run until stopped (or, with `burst`, until the queues are empty). Returns whether any job was processed."""
    worker = build_worker(client, spec)
    stop = threading.Event()
    threads = [
        threading.Thread(target=task, args=(stop,), daemon=True, name=f"{spec.name}-bg") for task in spec.background
    ]
    for t in threads:
        t.start()
    log.info("worker starting", extra={"worker": spec.name, "queues": list(spec.queues), "burst": burst})
    try:
        return bool(worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="WARNING"))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        log.info("worker stopped", extra={"worker": spec.name})


def run_worker_until(client: redis.Redis, spec: WorkerSpec, stop: threading.Event, *, idle_s: int = 1) -> None:
    """Run a worker in a thread until `stop` is set (checked whenever the queues have been idle for `idle_s`)."""
    worker = build_worker(client, spec)
    threads = [threading.Thread(target=task, args=(stop,), daemon=True) for task in spec.background]
    for t in threads:
        t.start()
    while not stop.is_set():
        worker.work(burst=False, max_idle_time=idle_s, with_scheduler=True, logging_level="WARNING")
