"""Foreign fields in a job hash: `tether worker router` and `tether worker console` processes refuse the job before RQ
acts on it (nothing imported, nothing called, no request made), dead-letter it `forbidden-job-field`, and go on.

The attack: a job tether's own producers would write, plus one field RQ 3 acts on. A marker module on the workers'
PYTHONPATH leaves a file when it is imported and another when it is called; a local HTTP listener records every
request. Jobs meant to succeed carry a valid payload (RQ would run the success callback and `finished` webhooks);
jobs meant to fail name a function outside tether's allowlist (RQ would run the failure callback and `failed`
webhooks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from rq.worker import Worker

from adapters.console.adapter import JSONL_ENV
from adapters.delivery.deadletter import DeadLetterQueue, payload_dead_letter_id
from adapters.delivery.enqueue import FAILURE_TTL_S, JOB_TIMEOUT_S, RESULT_TTL_S
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, DELIVER_JOB, deliver_queue_name, rq_queue_key, tether_queue
from adapters.payloads import Content, Delivery, delivery_id_for
from bindings.model import ConversationRef
from router.enqueue import enqueue_completion, prepare_event, route_job
from tests.router.factories import event, write_config
from tests.router.support import REPO, stop
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

MARKER_MODULE = "tether_marker"
MARKER_SOURCE = '''
import os, pathlib, uuid
_DIR = pathlib.Path(os.environ["TETHER_MARKER_DIR"])
(_DIR / f"imported-{uuid.uuid4().hex}").touch()

def called(*args, **kwargs):
    (_DIR / f"called-{uuid.uuid4().hex}").touch()
'''
CALLBACK = f"{MARKER_MODULE}.called"
DELIVER_QUEUE = deliver_queue_name("console")


class Listener:
    """A local HTTP server that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                listener.requests.append(f"{self.command} {self.path}")
                self.send_response(200)
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Workers:
    client: redis.Redis
    markers: Path
    listener: Listener
    jsonl: Path
    procs: list[subprocess.Popen[bytes]]
    logs: list[Path]


@pytest.fixture(scope="module")
def workers(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """One router and one console worker, with the marker module importable by both."""
    tmp = tmp_path_factory.mktemp("foreign")
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    markers, modules = tmp / "markers", tmp / "modules"
    markers.mkdir()
    modules.mkdir()
    (modules / f"{MARKER_MODULE}.py").write_text(MARKER_SOURCE)
    listener = Listener()
    jsonl = tmp / "console.jsonl"
    env = dict(os.environ, TETHER_CONFIG=str(write_config(tmp)), TETHER_REDIS_URL=redis_server.url,
               PYTHONPATH=f"{REPO}{os.pathsep}{modules}", TETHER_MARKER_DIR=str(markers), **{JSONL_ENV: str(jsonl)})
    logs = [tmp / "router.log", tmp / "console.log"]
    procs = []
    for name, log_path in zip(("router", "console"), logs, strict=True):
        with log_path.open("ab") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "workers", "worker", name], cwd=REPO, env=env,
                                          stdout=log, stderr=log))
    try:
        wait_for(lambda: len(Worker.all(connection=client)) == 2, timeout_s=30, what="router and console workers")
        yield Workers(client, markers, listener, jsonl, procs, logs)
    finally:
        codes = [stop(p) for p in procs]
        listener.close()
        client.flushall()
        client.close()
        assert codes == [0, 0], "\n".join(path.read_text()[-3000:] for path in logs)


def _route_data(ok: bool) -> bytes:
    func = "router.jobs.route_completion" if ok else CALLBACK
    return json.dumps([func, None, [event(f"e-{uuid.uuid4().hex}")], {}]).encode()


def _deliver_data(ok: bool) -> bytes:
    dest = ConversationRef(channel="console", conversation_id="room")
    event_id = f"e-{uuid.uuid4().hex}"
    delivery = Delivery(delivery_id=delivery_id_for(event_id, dest), event_id=event_id, destination=dest,
                        mode="fallback", reason="no-binding", content=Content(text="hello"))
    return json.dumps([DELIVER_JOB if ok else CALLBACK, None, [msgspec.to_builtins(delivery)], {}]).encode()


def _push(client: redis.Redis, queue: str, *, ok: bool, extra: dict[str, str]) -> str:
    """A job as tether's producers write it (RQ's own Job API), plus `extra`, pushed once the hash is complete."""
    tq = tether_queue(queue, client)
    if queue == COMPLETIONS_QUEUE:
        job = route_job(tq, prepare_event(event("e-template")))
        data = _route_data(ok)
    else:
        job = tq.create_job(DELIVER_JOB, args=[{}], timeout=JOB_TIMEOUT_S, result_ttl=RESULT_TTL_S,
                            failure_ttl=FAILURE_TTL_S, description="deliver x")
        data = _deliver_data(ok)
    job.save()
    client.hset(job.key, mapping={"data": data, "status": "queued", **extra})
    client.rpush(rq_queue_key(queue), job.id)
    return str(job.id)


def _webhooks(url: str) -> str:
    return json.dumps([{"url": url, "job_status": s, "method": m} for s in ("finished", "failed")
                       for m in ("GET", "POST")])


# (field, value, whether the job would otherwise succeed): each a field RQ 3 acts on, or one it merely reads.
CASES: list[tuple[str, str, bool]] = [
    ("success_callback_name", CALLBACK, True),
    ("failure_callback_name", CALLBACK, False),
    ("stopped_callback_name", CALLBACK, True),
    ("webhooks", "", True),  # the listener's URL, filled in by the test
    ("webhooks", "", False),
    ("dependency_ids", json.dumps(["some-other-job"]), True),
    ("dependency_id", "some-other-job", True),
    ("allow_dependency_failures", "1", True),
    ("success_callback_timeout", "5", True),
    ("repeats_left", "3", True),
    ("rate_limit_key", "k", True),
    ("meta", "{}", True),
    ("group_id", "g1", True),
    ("x_anything_else", "1", True),
]


def _ids_for(w: Workers, job_id: str) -> set[str]:
    """The id of the dead letter a refused job gets."""
    raw = w.client.hget(f"rq:job:{job_id}", "data") or b""
    return {payload_dead_letter_id(job_id.encode() + b"\0" + raw)}


def _acted(w: Workers) -> list[str]:
    """Every trace of RQ acting on a foreign field: the marker module imported or called, a request received."""
    return sorted(p.name.split("-")[0] for p in w.markers.iterdir()) + w.listener.requests


@pytest.mark.parametrize("queue", [COMPLETIONS_QUEUE, DELIVER_QUEUE])
@pytest.mark.parametrize(("field", "value", "ok"), CASES,
                         ids=[f"{f}-{'ok' if ok else 'failing'}" for f, _, ok in CASES])
def test_a_job_with_a_foreign_field_is_refused_before_rq_acts_on_it(workers: Workers, queue: str, field: str,
                                                                     value: str, ok: bool) -> None:
    value = value or _webhooks(workers.listener.url)
    job_id = _push(workers.client, queue, ok=ok, extra={field: value})

    [letter_id] = _ids_for(workers, job_id)
    queue_ = DeadLetterQueue(workers.client)
    wait_for(lambda: queue_.get(letter_id) or _acted(workers), timeout_s=30,
             what=f"the dead letter of job {job_id}, or a trace of RQ acting on its field")
    assert _acted(workers) == [], f"RQ acted on {field}"
    letter = queue_.get(letter_id)
    assert letter is not None
    assert letter.reason == "forbidden-job-field"
    assert letter.source == ("router" if queue == COMPLETIONS_QUEUE else "delivery")
    assert field in (letter.last_error or "")
    wait_for(lambda: workers.client.hget(f"rq:job:{job_id}", "status") == b"failed", timeout_s=10,
             what="the job failed, not retried")
    assert tether_queue(queue, workers.client).scheduled_job_registry.get_job_ids() == []
    assert all(p.poll() is None for p in workers.procs)


def test_a_clean_event_is_still_delivered_after_the_refusals(workers: Workers) -> None:
    before = len(workers.jsonl.read_text().splitlines()) if workers.jsonl.exists() else 0
    evt = event(f"e-clean-{uuid.uuid4().hex}", requester={"channel": "console", "conversationId": "room"},
                text="clean event")
    enqueue_completion(workers.client, evt)
    wait_for(lambda: workers.jsonl.exists() and len(workers.jsonl.read_text().splitlines()) > before, timeout_s=30,
             what="the clean event printed by the console worker")
    [line] = workers.jsonl.read_text().splitlines()[before:]
    assert json.loads(line)["text"] == "clean event"
    assert _acted(workers) == []
