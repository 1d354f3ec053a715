"""The lease reaper: puts deliveries back to work when their worker died or their job never ran.

It reads the ledger's watch index (delivery id → deadline), so each pass costs O(due deliveries), never a SCAN:
- a `sending` record whose lease expired (its worker was SIGKILLed, lost its host, hangs without renewing) goes back
  to `pending` and gets a new job at once, so it completes within the lease plus one reaper interval, without
  waiting for RQ's abandoned-job cleanup;
- a `pending` record that is due but whose expected job is not waiting in its queue (a crash between hand-off and
  enqueue, a retry whose scheduler died, a job removed by hand) gets a new job.
Every adapter worker runs it in a background thread (`reaper_task`), and `tether sweeper` runs it too; concurrent
reapers are safe: the reap script moves each delivery's deadline on before anything is enqueued, so one reaper acts.
Duplicate jobs are harmless anyway: the ledger lets one of them send.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis
from rq.exceptions import NoSuchJobError
from rq.job import JobStatus

from adapters.delivery.enqueue import enqueue_delivery
from adapters.delivery.ledger import Ledger
from adapters.delivery.rqwire import MsgspecJSONSerializer, TetherJob
from adapters.delivery.settings import job_id_for, lease_ms, retention_s
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig

log = logging.getLogger("tether.delivery")

BATCH = 500


def job_waiting(client: redis.Redis, job_id: str | None) -> bool:
    """True when the job exists and is waiting in its queue (so the delivery needs no other job)."""
    if not job_id:
        return False
    try:
        job = TetherJob.fetch(job_id, connection=client, serializer=MsgspecJSONSerializer)
    except NoSuchJobError:
        return False
    return bool(job.get_status(refresh=False) == JobStatus.QUEUED)


def reap_expired_leases(client: redis.Redis, config: TetherConfig, *, now_ms: int | None = None,
                        clock: Clock = SYSTEM_CLOCK, limit: int = BATCH) -> int:
    """One pass; returns how many deliveries were put back on their queue."""
    ledger = Ledger(client, clock=clock, retention_s=retention_s(config))
    now = clock.now_ms() if now_ms is None else now_ms
    lease = lease_ms(config.delivery)
    requeued = 0
    for delivery_id in ledger.due(now, limit):
        reaped = ledger.reap(delivery_id, lease_ms=lease, job_prefix=job_id_for(delivery_id), now_ms=now)
        if reaped.outcome == "expired" and reaped.payload and reaped.channel and reaped.job_id:
            enqueue_delivery(client, reaped.channel, reaped.payload, job_id=reaped.job_id)
            log.info("lease expired; delivery requeued", extra={"deliveryId": delivery_id, "jobId": reaped.job_id})
            requeued += 1
        elif reaped.outcome == "check" and reaped.payload and reaped.channel and reaped.new_job_id:
            if job_waiting(client, reaped.job_id):
                continue
            enqueue_delivery(client, reaped.channel, reaped.payload, job_id=reaped.new_job_id)
            ledger.set_job(delivery_id, reaped.new_job_id)
            log.info("pending delivery had no waiting job; requeued",
                     extra={"deliveryId": delivery_id, "jobId": reaped.new_job_id, "previousJobId": reaped.job_id})
            requeued += 1
    return requeued


def reaper_task(client: redis.Redis, config: TetherConfig) -> Callable[[threading.Event], None]:
    """A worker background task: reap every `delivery.reaperIntervalS` until `stop` is set."""
    interval_s = max(0.05, config.delivery.reaper_interval_s)

    def run(stop: threading.Event) -> None:
        while True:
            try:
                reap_expired_leases(client, config)
            except redis.RedisError as exc:
                log.warning("lease reaper: Redis unavailable; will retry", extra={"error": str(exc)})
            except Exception:
                log.exception("lease reaper pass failed")
            if stop.wait(interval_s):
                return

    return run
