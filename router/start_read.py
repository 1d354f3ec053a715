"""The route job's start read: its target session's bindings, read in the transaction that starts the job.

A route job cannot decide before it has read the bindings of its event's target session. The router worker queues
that read in the job's start transaction (`workers.runner.TetherWorker.prepare_job_execution`), so the read costs
no round trip of its own and the job needs one more, `route.lua`, to decide, store and hand off.

The bindings are read the moment the job starts, a fraction of a millisecond before the job would have read them
itself; the decision table still judges expiry against its own clock. Nothing else about routing changes: a
retried job reads again when it starts again, and a sticky decision ignores what was read. A read that did not
come back (Redis lost the script; a reply that does not decode) is repeated live by the job, and any session other
than the one read is read live.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import redis
from redis.client import Pipeline
from rq.exceptions import DeserializationError
from rq.job import Job

from bindings.model import SessionBindingRecord
from bindings.process_config import process_config
from bindings.service import SessionBindingService
from router.decision import BindingLister

log = logging.getLogger("tether.router")

_services: weakref.WeakKeyDictionary[redis.Redis, SessionBindingService] = weakref.WeakKeyDictionary()


def binding_service(client: redis.Redis) -> SessionBindingService:
    """The binding service of `client`, one per client (its scripts are registered once). The script of the start
    read is loaded into Redis on creation, so the first job's start read finds it."""
    service = _services.get(client)
    if service is None:
        service = SessionBindingService(client, process_config())
        service.scripts.load("list_session")
        _services[client] = service
    return service


def read_bindings_at_start(job: Job, pipe: Pipeline) -> str | None:
    """The router worker's start read (`workers.runner.StartRead`) of a route job: the session key it queued a
    read for, or None when the job's argument names no session (the job then finds out what is wrong with it)."""
    try:
        args = job.args
    except DeserializationError:
        return None
    if len(args) != 1 or not isinstance(args[0], dict):
        return None
    key = args[0].get("targetSessionKey")
    if not isinstance(key, str) or not key.strip():
        return None
    return binding_service(job.connection).queue_list_by_session(key, pipe)


def bindings_for(job: Job) -> BindingLister:
    """What a route job reads bindings through: the start read's snapshot when there is one, else the live
    service."""
    live = binding_service(job.connection)
    started: tuple[Any, Any] | None = getattr(job, "start_read", None)
    if started is None:
        return live
    session_key, reply = started
    if isinstance(reply, Exception):
        log.warning("start read failed; reading bindings live", extra={"jobId": job.id, "error": str(reply)})
        return live
    try:
        records = SessionBindingService.decode_many(reply)
    except Exception:
        log.exception("start read reply does not decode; reading bindings live", extra={"jobId": job.id})
        return live
    return StartSnapshot(live, session_key, records)


class StartSnapshot:
    """One session's bindings as the start read found them; any other session is read live."""

    def __init__(self, live: BindingLister, session_key: str, records: list[SessionBindingRecord]) -> None:
        self.live = live
        self.session_key = session_key
        self.records = records

    def list_by_session(self, target_session_key: str) -> list[SessionBindingRecord]:
        if target_session_key.strip() == self.session_key:
            return list(self.records)
        return self.live.list_by_session(target_session_key)
