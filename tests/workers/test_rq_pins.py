"""What tether copies of RQ, or relies on RQ doing, is pinned to RQ's source: an RQ upgrade that changes any of it
fails here, naming the method and what in tether depends on it, instead of silently changing tether's behaviour.

RQ 3.0 has no public extension point for any of these (the maintenance lock's 899 s, the scheduler's 10-minute lock
retry and its forked process, the two start transactions are hard-coded), so tether overrides or copies them. When a
digest changes: read RQ's new source of that method, carry the change into tether's copy (or drop the copy if RQ
now offers a hook), then update the digest.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from typing import Any

import pytest

# RQ's method → (sha256 of its source, first 16 hex digits; what in tether depends on it).
PINNED: dict[str, tuple[str, str]] = {
    "rq.executions.prepare_execution": (
        "e8d5a964e2a10d0c", "copied into TetherWorker.prepare_execution (one start transaction)"),
    "rq.worker.base.BaseWorker.prepare_job_execution": (
        "d08dd32962e3f82a", "copied into TetherWorker.prepare_job_execution (one start transaction)"),
    "rq.worker.worker_classes.SimpleWorker.execute_job": (
        "eae0f23110aeb280", "TetherWorker relies on prepare_execution being followed by perform_job"),
    "rq.worker.base.BaseWorker.heartbeat": (
        "63b1089fd146d19c", "wrapped by TetherWorker.heartbeat (coalesced, pipelined)"),
    "rq.worker.base.BaseWorker.clean_registries": (
        "e2c9790c8156c72c", "copied into TetherWorker.clean_registries (15 s lock instead of 899 s)"),
    "rq.queue.Queue.acquire_maintenance_lock": (
        "ebdce3e6d60ef394", "replaced in TetherWorker.clean_registries (same key, shorter expiry)"),
    "rq.scheduler.RQScheduler.work": (
        "5d1810bdd4392089", "copied into workers.runner.run_scheduler_until (a thread, lock retried every pass)"),
    "rq.registry.StartedJobRegistry.cleanup": (
        "c5cd78c27fc023d6", "TetherWorker._recover_half_started handles what this leaves; abandoned jobs retried"),
    "rq.worker.base.BaseWorker.handle_job_failure": (
        "7432afe53b9f84ec", "asks job.should_retry: TetherJob answers no for a job that can never run"),
    "rq.worker.base.BaseWorker.perform_job": (
        "1f0e40678ae519cf", "a refused job fails in job.perform (TetherJob.func), before any callback"),
    "rq.worker.base.BaseWorker._finalize_failure": (
        "6d1b8bd1117e9641", "failure callback, then exception handlers (refuse_foreign_job), then failure"),
    "rq.worker.base.BaseWorker.handle_exception": (
        "fffd9b2925ac1432", "logs the job's arguments: tether's JSON log formatter must keep secrets out"),
    "rq.job.Job.restore": (
        "859daf950a3ede0b", "the fields RQ reads from a job hash: delivery/jobfields.py allows only tether's"),
    "rq.job.Job.to_dict": (
        "9e1a56a9cd4b57e5", "the fields RQ writes: delivery/jobfields.py and delivery/ledger_open_fn.lua"),
}


def resolve(qualified: str) -> Any:
    """`rq.worker.base.BaseWorker.heartbeat` → the function."""
    parts = qualified.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(qualified)


def source_digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


@pytest.mark.parametrize("qualified", sorted(PINNED))
def test_rqs_source_of_each_method_tether_copies_or_relies_on_is_unchanged(qualified: str) -> None:
    pinned, reliance = PINNED[qualified]
    found = source_digest(inspect.getsource(resolve(qualified)))
    assert found == pinned, (f"RQ's {qualified} changed (digest {found}, pinned {pinned}); tether: {reliance}. "
                             "Review tether's copy against RQ's new source, then update the pin.")


def test_a_one_character_change_in_rqs_source_changes_the_digest() -> None:
    source = inspect.getsource(resolve("rq.worker.base.BaseWorker.clean_registries"))
    assert source_digest(source) == PINNED["rq.worker.base.BaseWorker.clean_registries"][0]
    altered = source.replace("acquire_maintenance_lock()", "acquire_maintenance_lock(timeout=15)", 1)
    assert altered != source
    assert source_digest(altered) != source_digest(source)
