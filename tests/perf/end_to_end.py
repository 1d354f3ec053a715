"""End-to-end benchmark: enqueue → router → console adapter → delivered, against a bare two-hop RQ pipeline of no-op
jobs (job A enqueues job B on a second queue), same Redis, same serializer, same job options, same run.

    python -m tests.perf.end_to_end [--n 3000] [--latency-n 500] [--rate 50] [--rounds 2] [--quick]

A private redis-server on a loopback TCP port (no persistence, as the test fixture). One worker process per hop:

- tether: `tether worker router` on `completions` and `tether worker console` on `deliver.console` (its printed
  messages go to /dev/null, its JSON logs to a file, as in production). 100 sub-agent sessions are bound to console
  threads, thread-bound spawning is on, so every event is routed `bound` / `requester-match`: dedupe, sticky
  decision, content, hand-off (ledger record + delivery job); then claim with lease, send, record, complete.
- bare: an RQ SimpleWorker (tether's msgspec serializer, plain RQ Job class) on `bench.route` running `bare_route`,
  which enqueues `bare_deliver` on `bench.deliver` with the options of a delivery job (deterministic job id,
  unique, timeouts, result TTL); a second SimpleWorker runs that no-op. Both with the RQ scheduler, as tether's.
- loop: the bare pipeline on tether's worker class (`workers.runner.TetherWorker`, whose heartbeats cost fewer
  round trips than RQ's). The target ratio is tether/bare, as issue 6 asks; `vsTetherLoop` is tether/loop, the cost
  of routing and delivering alone, so the worker loop's savings do not hide it.

Each round, for each pipeline, after 20 warm-up events: throughput — both workers listening, N events enqueued in
pipelined batches, deliveries/s between the first hop's first job start and the last delivery job's end (RQ's own
timestamps in the job hashes); latency — M events enqueued one by one at a fixed rate well below capacity,
enqueue→delivered = the delivery job's `ended_at` - the first hop's `enqueued_at`. Rounds alternate bare/tether;
the best round of each counts. Prints one JSON object. Not a test: never asserts on timing. Target (issue 6):
throughput ≥ 0.85 x bare.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from rq import get_current_job
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker

from adapters.delivery.enqueue import FAILURE_TTL_S, JOB_TIMEOUT_S, RESULT_TTL_S
from adapters.delivery.rqwire import MsgspecJSONSerializer, deliver_queue_name
from adapters.delivery.settings import job_id_for
from adapters.payloads import delivery_id_for
from bindings.config import parse_config
from bindings.connection import connect
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from router.enqueue import enqueue_completions, route_retry
from tests.perf import events
from tests.perf.events import SESSIONS, session
from workers.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[2]
BARE_ROUTE_QUEUE = "bench.route"
BARE_DELIVER_QUEUE = "bench.deliver"
CHANNEL = "console"
BATCH = 500
WARMUP = 20
CONFIG = """
[channels.console.threadBindings]
enabled = true
spawnSubagentSessions = true
"""


# ---- the bare pipeline's jobs (run in the bare worker processes) ------------------------------------------------


def bare_route(event: dict[str, Any]) -> None:
    """Hop A: what the router does at the least — put one job on the next queue, with a delivery job's options."""
    job = get_current_job()
    assert job is not None
    queue = Queue(BARE_DELIVER_QUEUE, connection=job.connection, serializer=MsgspecJSONSerializer)
    queue.enqueue("tests.perf.end_to_end.bare_deliver", event, job_id=bare_delivery_job_id(event["eventId"]),
                  unique=True, job_timeout=JOB_TIMEOUT_S, result_ttl=RESULT_TTL_S, failure_ttl=FAILURE_TTL_S,
                  description=f"deliver {event['eventId']}")


def bare_deliver(event: dict[str, Any]) -> None:
    """Hop B: nothing."""


def bare_delivery_job_id(event_id: str) -> str:
    return "deliver-b-" + hashlib.sha256(event_id.encode()).hexdigest()[:32]


# ---- helpers ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def destination(i: int) -> ConversationRef:
    return ConversationRef(channel=CHANNEL, conversation_id=f"thread-{i % SESSIONS}", parent_conversation_id="main")


def make_event(i: int, tag: str) -> dict[str, Any]:
    return events.make_event(i, tag, channel=CHANNEL, requester_conversation="main")


def seed(client: redis.Redis) -> None:
    client.flushall()
    svc = SessionBindingService(client, parse_config(CONFIG))
    for i in range(SESSIONS):
        svc.bind(target_session_key=session(i), target_kind="subagent", conversation=destination(i), ttl_ms=0)


def _ts(raw: bytes) -> float:
    return dt.datetime.strptime(raw.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()


class Pipeline:
    """One of the pipelines: how to start its workers, enqueue events, and find its jobs."""

    def __init__(self, name: str, url: str, config_path: Path, logs: Path) -> None:
        self.name = name
        self.url = url
        self.config_path = config_path
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def final_queue(self) -> str:
        return deliver_queue_name(CHANNEL) if self.name == "tether" else BARE_DELIVER_QUEUE

    def start(self, client: redis.Redis) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), TETHER_REDIS_URL=self.url,
                   TETHER_CONFIG=str(self.config_path), TETHER_LOG_LEVEL="INFO")
        if self.name == "tether":
            commands = [[sys.executable, "-m", "workers", "worker", "router"],
                        [sys.executable, "-m", "workers", "worker", CHANNEL]]
        else:
            loop = ["--loop"] if self.name == "loop" else []
            commands = [[sys.executable, "-m", "tests.perf.end_to_end", "--worker", q, "--url", self.url, *loop]
                        for q in (BARE_ROUTE_QUEUE, BARE_DELIVER_QUEUE)]
        for i, argv in enumerate(commands):
            with (self.logs / f"{self.name}-{i}.log").open("ab") as log:
                self.procs.append(subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log))
        wait_for(lambda: len(client.smembers("rq:workers")) >= len(commands), 60, f"{self.name} workers",
                 self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []

    def enqueue(self, client: redis.Redis, events: list[dict[str, Any]]) -> list[str]:
        """Enqueue in pipelined batches; returns the first hop's job ids."""
        ids: list[str] = []
        for start in range(0, len(events), BATCH):
            batch = events[start:start + BATCH]
            if self.name == "tether":
                ids += enqueue_completions(client, batch)
                continue
            queue = Queue(BARE_ROUTE_QUEUE, connection=client, serializer=MsgspecJSONSerializer)
            pipe = client.pipeline(transaction=True)
            for event in batch:
                # The route job's options (router.enqueue.route_job), another function on another queue.
                job = queue.create_job("tests.perf.end_to_end.bare_route", args=[event],
                                       description=f"route {event['eventId']}", retry=route_retry())
                queue.enqueue_job(job, pipeline=pipe)
                ids.append(job.id)
            pipe.execute()
        return ids

    def final_job_id(self, event: dict[str, Any], index: int) -> str:
        if self.name == "tether":
            return job_id_for(delivery_id_for(event["eventId"], destination(index)))
        return bare_delivery_job_id(event["eventId"])

    def finished(self, client: redis.Redis) -> int:
        return int(client.zcard(f"rq:finished:{self.final_queue}"))


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str,
             procs: list[subprocess.Popen[bytes]] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s}s waiting for {what}")
        if procs and any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a worker exited while waiting for {what}")
        time.sleep(0.05)


def job_times(client: redis.Redis, ids: list[str], *fields: str) -> list[list[float]]:
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(f"rq:job:{job_id}", [*fields, "status"])
    out = []
    for job_id, values in zip(ids, pipe.execute(), strict=True):
        *stamps, status = values
        if status != b"finished" or not all(stamps):
            raise RuntimeError(f"job {job_id} did not finish (status {status!r})")
        out.append([_ts(s) for s in stamps])
    return out


def run_round(client: redis.Redis, pipeline: Pipeline, events: list[dict[str, Any]], *,
              rate_per_s: float | None, warmup: int = WARMUP) -> tuple[list[str], list[str]]:
    """Start the pipeline's workers, let `warmup` events through (RQ's start-up work — scheduler, registry
    maintenance — is not what is measured), then enqueue `events` (all at once, or one by one at `rate_per_s`)
    and wait until every delivery job finished; returns (first-hop job ids, delivery job ids) of `events`."""
    seed(client)
    pipeline.start(client)
    try:
        pipeline.enqueue(client, [make_event(i, "warmup") for i in range(warmup)])
        wait_for(lambda: pipeline.finished(client) >= warmup, 120, "the warm-up events", pipeline.procs)
        first_ids: list[str] = []
        if rate_per_s is None:
            first_ids = pipeline.enqueue(client, events)
        else:
            next_at = time.perf_counter()
            for event in events:
                event["createdAt"] = int(time.time() * 1000)
                first_ids += pipeline.enqueue(client, [event])
                next_at += 1.0 / rate_per_s
                time.sleep(max(0.0, next_at - time.perf_counter()))
        wait_for(lambda: pipeline.finished(client) >= warmup + len(events), 600, f"{len(events)} deliveries",
                 pipeline.procs)
    finally:
        pipeline.stop()
    return first_ids, [pipeline.final_job_id(e, i) for i, e in enumerate(events)]


def throughput_round(client: redis.Redis, pipeline: Pipeline, n: int, tag: str) -> dict[str, Any]:
    events = [make_event(i, tag) for i in range(n)]
    first_ids, final_ids = run_round(client, pipeline, events, rate_per_s=None)
    starts = [t[0] for t in job_times(client, first_ids, "started_at")]
    ends = [t[0] for t in job_times(client, final_ids, "ended_at")]
    span_s = max(ends) - min(starts)
    return {"events": n, "deliveredPerS": round(n / span_s, 1), "spanS": round(span_s, 3)}


def latency_round(client: redis.Redis, pipeline: Pipeline, n: int, rate_per_s: float, tag: str) -> dict[str, Any]:
    events = [make_event(i, tag) for i in range(n)]
    first_ids, final_ids = run_round(client, pipeline, events, rate_per_s=rate_per_s)
    enqueued = [t[0] for t in job_times(client, first_ids, "enqueued_at")]
    ended = [t[0] for t in job_times(client, final_ids, "ended_at")]
    latencies_ms = [(end - enq) * 1000 for enq, end in zip(enqueued, ended, strict=True)]
    return {"events": n, "ratePerS": rate_per_s, "p50Ms": round(percentile(latencies_ms, 0.50), 2),
            "p99Ms": round(percentile(latencies_ms, 0.99), 2), "maxMs": round(max(latencies_ms), 2)}


def run_bare_worker(queue_name: str, url: str, *, loop: bool = False) -> None:
    """A bare worker process: RQ's SimpleWorker (with `loop`, tether's TetherWorker) with tether's serializer and
    the plain RQ Job class."""
    from workers.runner import MAINTENANCE_INTERVAL_S, WORKER_TTL_S, TetherWorker

    client = connect(url)
    queue = Queue(queue_name, connection=client, serializer=MsgspecJSONSerializer, job_class=Job)
    if loop:
        worker: SimpleWorker = TetherWorker([queue], connection=client, serializer=MsgspecJSONSerializer,
                                            job_class=Job, maintenance_interval=MAINTENANCE_INTERVAL_S,
                                            worker_ttl=WORKER_TTL_S)
    else:
        worker = SimpleWorker([queue], connection=client, serializer=MsgspecJSONSerializer, job_class=Job)
    worker.work(with_scheduler=True, logging_level="WARNING")


def best(rounds: list[dict[str, Any]], key: str, *, low: bool = False) -> dict[str, Any]:
    return (min if low else max)(rounds, key=lambda r: float(r[key]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=3000, help="events per throughput round")
    parser.add_argument("--latency-n", type=int, default=500, help="events per latency round")
    parser.add_argument("--rate", type=float, default=50.0, help="enqueue rate of the latency rounds (events/s)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of each pipeline counts")
    parser.add_argument("--quick", action="store_true", help="small sizes (300 / 100 events, one round)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.worker:
        run_bare_worker(opts.worker, opts.url, loop=opts.loop)
        return
    if opts.quick:
        opts.n, opts.latency_n, opts.rounds = 300, 100, 1

    work = Path(tempfile.mkdtemp(prefix="tether-bench-e2e-"))
    config_path = work / "tether.toml"
    config_path.write_text(CONFIG)
    server = RedisServer(tcp_port=free_port(), directory=work / "redis")
    server.start()
    try:
        client = connect(server.tcp_url)
        names = ("bare", "loop", "tether")
        pipelines = {name: Pipeline(name, server.tcp_url, config_path, work) for name in names}
        throughput: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        latency: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for r in range(opts.rounds):
            for name, pipeline in pipelines.items():
                throughput[name].append(throughput_round(client, pipeline, opts.n, f"t{r}"))
                latency[name].append(latency_round(client, pipeline, opts.latency_n, opts.rate, f"l{r}"))
        bt, tt = best(throughput["bare"], "deliveredPerS"), best(throughput["tether"], "deliveredPerS")
        bl, tl = best(latency["bare"], "p99Ms", low=True), best(latency["tether"], "p99Ms", low=True)
        lt, ll = best(throughput["loop"], "deliveredPerS"), best(latency["loop"], "p99Ms", low=True)
        result = {
            "benchmark": "end_to_end",
            "pipeline": f"enqueue → router → {CHANNEL} delivered, one worker process per hop",
            "redis": client.info("server")["redis_version"],
            "transport": "tcp loopback",
            "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
            "throughput": {"bare": bt, "tether": tt, "ratio": round(tt["deliveredPerS"] / bt["deliveredPerS"], 3),
                           "rounds": throughput},
            "latency": {"bare": bl, "tether": tl, "p50Ratio": round(tl["p50Ms"] / bl["p50Ms"], 2),
                        "p99Ratio": round(tl["p99Ms"] / bl["p99Ms"], 2), "rounds": latency},
            "vsTetherLoop": {"loopThroughput": lt, "loopLatency": ll,
                             "throughputRatio": round(tt["deliveredPerS"] / lt["deliveredPerS"], 3),
                             "p50Ratio": round(tl["p50Ms"] / ll["p50Ms"], 2),
                             "p99Ratio": round(tl["p99Ms"] / ll["p99Ms"], 2)},
            "targets": {"throughputRatio": 0.85},
        }
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
        client.close()
    finally:
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
