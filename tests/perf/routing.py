"""Routing benchmark: the router worker against bare RQ no-op jobs, same Redis, same queue settings, same run.

    python -m tests.perf.routing [--n 3000] [--latency-n 1000] [--rate 50] [--rounds 6]

A private redis-server on a loopback TCP port. 100 sub-agent sessions are bound to threads of one channel (so every
event reads bindings and ends `bound` / `requester-match`, and is handed off to `deliver.discord`: ledger record +
delivery job). Each round, for each mode:

- throughput: N jobs enqueued first, then one worker process in burst mode drains them; jobs/s between the first
  job's start and the last job's end, from RQ's own timestamps in the job hashes;
- latency: one worker per mode listening, all at once, each on its own queue; M events per mode enqueued one by
  one at a fixed rate per mode well below any capacity, the modes taking turns (bare, loop, router, loop, router,
  bare, ...; evenly spaced), after a warm-up of 20 events per mode that is not measured (first calls load scripts,
  modules, entry points). enqueue→routed = the job's `ended_at` - `enqueued_at` (RQ's timestamps: for the router,
  the hand-off is done).

"bare" is an RQ SimpleWorker running `tests.perf.routing.noop` on a queue with tether's serializer, the same job
options (description, retry policy) and the same event as argument; "router" is `tether worker router`
(`workers.runner.run_worker` + `router_spec`), logging its JSON decision line per event as in production; "loop" is
tether's worker class (`workers.runner.TetherWorker`, whose heartbeats and job start cost fewer round trips than
RQ's, and whose per-job helpers cost less Python: `workers.rq_fastpaths`; the bare process never builds one, so it
keeps RQ's) running the bare no-op. The headline ratios are router/bare, as issue 3 asks; `vsTetherLoop` gives
router/loop, the cost of routing alone, so the worker loop's savings do not hide it.

The headline ratios are the medians of the per-round ratios: on a shared, noisy machine two measurements minutes
apart can differ by 2x, so each router measurement is paired with the bare one taken beside it. Throughput rounds
measure the modes back to back, alternating which goes first; latency rounds interleave them event by event, since
a p99 is made of a few slow moments that a sequential pairing would hand to whichever mode ran during them. The
older "best round of each mode" ratios are reported too (`…BestOf`), as are CPU costs per job of the burst rounds
(worker process and redis-server), which noise from other processes disturbs far less than wall time.
Prints one JSON object. Not a test: never asserts on timing.
Targets (issue 3): throughput ratio ≥ 0.85, latency p99 ratio ≤ 1.2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from rq.job import Job
from rq.worker import SimpleWorker

from adapters.delivery.rqwire import COMPLETIONS_QUEUE, MsgspecJSONSerializer, tether_queue
from bindings.config import parse_config
from bindings.connection import connect
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from router.enqueue import PreparedEvent, enqueue_prepared, prepare_event, route_retry
from tests.perf import events
from tests.perf.events import SESSIONS, session
from tests.support.redis_server import RedisServer

MODES = ("bare", "loop", "router")
QUEUES = {"bare": "bench.noop", "loop": "bench.noop.loop", "router": COMPLETIONS_QUEUE}
WARMUP = 20  # events per worker before a latency round measures: first calls load scripts, modules, entry points
BATCH = 1000
CONFIG = """
[channels.discord.threadBindings]
enabled = true
spawnSubagentSessions = true
"""
REPO = Path(__file__).resolve().parents[2]


def noop(event: dict[str, Any]) -> None:
    """The bare job: takes the same argument as the route job and does nothing."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_event(i: int, tag: str) -> dict[str, Any]:
    return events.make_event(i, tag, channel="discord", requester_conversation="111")


def seed(client: redis.Redis) -> None:
    client.flushall()
    svc = SessionBindingService(client, parse_config(CONFIG))
    for i in range(SESSIONS):
        svc.bind(target_session_key=session(i), target_kind="subagent",
                 conversation=ConversationRef(channel="discord", conversation_id=f"thread-{i}",
                                              parent_conversation_id="111"), ttl_ms=0)


def enqueue(client: redis.Redis, mode: str, events: list[dict[str, Any]]) -> list[str]:
    prepared = [prepare_event(e) for e in events]
    ids: list[str] = []
    for start in range(0, len(prepared), BATCH):
        chunk = prepared[start:start + BATCH]
        ids += enqueue_prepared(client, chunk) if mode == "router" else enqueue_bare(client, QUEUES[mode], chunk)
    return ids


def enqueue_bare(client: redis.Redis, queue_name: str, prepared: list[PreparedEvent]) -> list[str]:
    """The same job options as `router.enqueue.route_job`, another function, another queue."""
    queue = tether_queue(queue_name, client)
    pipe = client.pipeline(transaction=True)
    ids = []
    for item in prepared:
        job = queue.create_job("tests.perf.routing.noop", args=[item.argument],
                               description=f"route {item.event.event_id}", retry=route_retry())
        queue.enqueue_job(job, pipeline=pipe)
        ids.append(job.id)
    pipe.execute()
    return ids


def start_worker(url: str, mode: str, *, burst: bool, log_path: Path,
                 cpu_path: Path | None = None) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "tests.perf.routing", "--worker", mode, "--url", url] + (["--burst"] if burst else [])
    if cpu_path is not None:
        args += ["--cpu-out", str(cpu_path)]
    with log_path.open("ab") as log:
        return subprocess.Popen(args, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=log, stderr=log)


def run_worker_process(mode: str, url: str, burst: bool, cpu_path: str | None = None) -> None:
    """The worker side (a child process): the router exactly as `tether worker router` runs it, or bare RQ.
    With `cpu_path`, writes there the CPU seconds the process spent in the worker loop (imports excluded)."""
    from workers.logs import setup_logging

    setup_logging("INFO")
    client = connect(url)
    cpu_at_start = time.process_time()
    if mode == "router":
        from bindings.config import load_config
        from workers.runner import run_worker
        from workers.worker_router import router_spec

        spec = router_spec(client, load_config())
        cpu_at_start = time.process_time()
        run_worker(client, spec, burst=burst)
    else:
        from workers.runner import MAINTENANCE_INTERVAL_S, WORKER_TTL_S, TetherWorker

        queue = tether_queue(QUEUES[mode], client)
        if mode == "loop":  # tether's worker loop, with RQ's plain Job class so that it may run the no-op
            worker = TetherWorker([queue], connection=client, serializer=MsgspecJSONSerializer, job_class=Job,
                                  maintenance_interval=MAINTENANCE_INTERVAL_S, worker_ttl=WORKER_TTL_S)
        else:
            worker = SimpleWorker([queue], connection=client, serializer=MsgspecJSONSerializer, job_class=Job)
        worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    if cpu_path:
        Path(cpu_path).write_text(str(time.process_time() - cpu_at_start))


def job_times(client: redis.Redis, ids: list[str]) -> list[tuple[float, float, float]]:
    """(enqueued_at, started_at, ended_at) of each job, in seconds."""
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(f"rq:job:{job_id}", "enqueued_at", "started_at", "ended_at", "status")
    out = []
    for job_id, (enq, start, end, status) in zip(ids, pipe.execute(), strict=True):
        if status != b"finished" or not (enq and start and end):
            raise RuntimeError(f"job {job_id} did not finish (status {status!r})")
        out.append((_ts(enq), _ts(start), _ts(end)))
    return out


def _ts(raw: bytes) -> float:
    return dt.datetime.strptime(raw.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def redis_cpu_s(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def throughput_round(client: redis.Redis, url: str, mode: str, n: int, tag: str, logs: Path) -> dict[str, Any]:
    seed(client)
    ids = enqueue(client, mode, [make_event(i, tag) for i in range(n)])
    cpu_path = logs / f"{mode}-{tag}.cpu"
    redis_cpu_at_start = redis_cpu_s(client)
    t0 = time.perf_counter()
    proc = start_worker(url, mode, burst=True, log_path=logs / f"{mode}-burst.log", cpu_path=cpu_path)
    if proc.wait(timeout=600) != 0:
        raise RuntimeError(f"{mode} worker exited with {proc.returncode}: see {logs}")
    wall_s = time.perf_counter() - t0
    redis_cpu = redis_cpu_s(client) - redis_cpu_at_start
    times = job_times(client, ids)
    span_s = max(t[2] for t in times) - min(t[1] for t in times)
    worker_cpu = float(cpu_path.read_text())
    return {"jobs": n, "jobsPerS": round(n / span_s, 1), "spanS": round(span_s, 3), "wallS": round(wall_s, 3),
            "workerCpuUsPerJob": round(worker_cpu / n * 1e6, 1), "redisCpuUsPerJob": round(redis_cpu / n * 1e6, 1)}


def latency_round(client: redis.Redis, url: str, n: int, rate: float, tag: str, logs: Path) -> dict[str, Any]:
    """One listening worker per mode, all at once; events go to the modes in turn, evenly spaced, so that every
    mode meets the same machine at the same moments. Returns each mode's figures."""
    seed(client)
    procs = {mode: start_worker(url, mode, burst=False, log_path=logs / f"{mode}-listen.log") for mode in MODES}
    try:
        deadline = time.monotonic() + 60
        while len(client.keys("rq:worker:*")) < len(MODES):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs.values()):
                raise RuntimeError(f"latency workers did not start: see {logs}")
            time.sleep(0.05)
        send_interleaved(client, WARMUP, rate, f"{tag}w", logs)
        ids = send_interleaved(client, n, rate, tag, logs)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=30)
    out = {}
    for mode in MODES:
        latencies_ms = [(end - enq) * 1000 for enq, _start, end in job_times(client, ids[mode])]
        out[mode] = {"jobs": n, "ratePerS": rate, "p50Ms": round(percentile(latencies_ms, 0.50), 3),
                     "p99Ms": round(percentile(latencies_ms, 0.99), 3), "maxMs": round(max(latencies_ms), 3)}
    return out


def send_interleaved(client: redis.Redis, n: int, rate: float, tag: str, logs: Path) -> dict[str, list[str]]:
    """`n` events to each mode at `rate` per mode, one mode after the other (the order rotating), then wait for
    every job's end."""
    ids: dict[str, list[str]] = {mode: [] for mode in MODES}
    interval_s = 1.0 / (rate * len(MODES))
    next_at = time.perf_counter()
    for i in range(n):
        for k in range(len(MODES)):
            mode = MODES[(i + k) % len(MODES)]
            ids[mode] += enqueue(client, mode, [make_event(i, f"{tag}{mode}")])
            next_at += interval_s
            time.sleep(max(0.0, next_at - time.perf_counter()))
    deadline = time.monotonic() + 120
    for mode in MODES:
        while any(status != b"finished" for status in _statuses(client, ids[mode])):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{mode}: jobs still unfinished after 120 s: see {logs}")
            time.sleep(0.05)
    return ids


def _statuses(client: redis.Redis, ids: list[str]) -> list[bytes | None]:
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.hget(f"rq:job:{job_id}", "status")
    return pipe.execute()


def breakdown_us(client: redis.Redis, n: int = 1000) -> dict[str, float]:
    """Where a route job's time goes, in-process, mean µs per call: the Redis round trip (PING), the bindings
    read, the whole `router.routing.route` (validate, decide, store, build, hand off) and the hand-off alone."""
    from adapters.delivery.handoff import hand_off
    from adapters.payloads import Content, Delivery
    from router.routing import route

    seed(client)
    config = parse_config(CONFIG)
    svc = SessionBindingService(client, config)
    events = [make_event(i, "b") for i in range(n)]
    dest = ConversationRef(channel="discord", conversation_id="thread-x", parent_conversation_id="111")
    deliveries = [Delivery(delivery_id=f"d-bench-{i}", event_id=f"e-{i}", destination=dest, mode="bound",
                           reason="requester-match", content=Content(text=events[i]["content"]["text"]))
                  for i in range(n)]

    def mean_us(fn: Any) -> float:
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        return round((time.perf_counter() - t0) / n * 1e6, 1)

    return {
        "ping": mean_us(lambda i: client.ping()),
        "listBySession": mean_us(lambda i: svc.list_by_session(session(i % SESSIONS))),
        "route": mean_us(lambda i: route(client, config, events[i], job_id=f"j{i}", bindings=svc)),
        "handOff": mean_us(lambda i: hand_off(client, deliveries[i])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=3000, help="jobs per throughput round")
    parser.add_argument("--latency-n", type=int, default=1000, help="jobs per mode and latency round")
    parser.add_argument("--rate", type=float, default=50.0, help="enqueue rate of the latency rounds (jobs/s)")
    parser.add_argument("--rounds", type=int, default=6,
                        help="rounds, each measuring both modes back to back; medians of the per-round ratios count")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--burst", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cpu-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker_process(args.worker, args.url, args.burst, args.cpu_out)
        return

    work = Path(tempfile.mkdtemp(prefix="tether-bench-routing-"))
    (work / "tether.toml").write_text(CONFIG)
    os.environ["TETHER_CONFIG"] = str(work / "tether.toml")
    server = RedisServer(tcp_port=free_port())
    server.start()
    url = f"redis://127.0.0.1:{server.tcp_port}/0"
    client = redis.Redis.from_url(url)
    rounds: dict[str, dict[str, list[dict[str, Any]]]] = {m: {"throughput": [], "latency": []} for m in MODES}
    try:
        breakdown = breakdown_us(connect(url))
        for r in range(args.rounds):
            order = MODES if r % 2 == 0 else MODES[::-1]  # none always goes first
            for mode in order:
                rounds[mode]["throughput"].append(throughput_round(client, url, mode, args.n, f"t{r}", work))
            latency = latency_round(client, url, args.latency_n, args.rate, f"l{r}", work)
            for mode in MODES:
                rounds[mode]["latency"].append(latency[mode])
    finally:
        client.close()
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    def best(mode: str, kind: str, key: str, *, low: bool) -> float:
        values = [float(r[key]) for r in rounds[mode][kind]]
        return min(values) if low else max(values)

    def paired(kind: str, key: str, base: str = "bare") -> float:
        """Median over rounds of router/base of the measurements taken side by side."""
        ratios = [float(r[key]) / float(b[key])
                  for b, r in zip(rounds[base][kind], rounds["router"][kind], strict=True)]
        return round(statistics.median(ratios), 3)

    def cpu_per_job(mode: str) -> float:
        return round(statistics.median(float(r["workerCpuUsPerJob"]) + float(r["redisCpuUsPerJob"])
                                       for r in rounds[mode]["throughput"]), 1)

    def cost_ratio(b: dict[str, Any], r: dict[str, Any]) -> float:
        """bare/router CPU (worker + redis-server) per job: the throughput ratio if CPU were all that mattered."""
        bare_us = float(b["workerCpuUsPerJob"]) + float(b["redisCpuUsPerJob"])
        return bare_us / (float(r["workerCpuUsPerJob"]) + float(r["redisCpuUsPerJob"]))

    bare_tp, router_tp = best("bare", "throughput", "jobsPerS", low=False), best("router", "throughput", "jobsPerS",
                                                                                  low=False)
    bare_p99, router_p99 = best("bare", "latency", "p99Ms", low=True), best("router", "latency", "p99Ms", low=True)
    tp_ratios = [r["jobsPerS"] / b["jobsPerS"]
                 for b, r in zip(rounds["bare"]["throughput"], rounds["router"]["throughput"], strict=True)]
    p99_ratios = [r["p99Ms"] / b["p99Ms"]
                  for b, r in zip(rounds["bare"]["latency"], rounds["router"]["latency"], strict=True)]
    result = {
        "benchmark": "routing",
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "redis": "redis-server on 127.0.0.1 (TCP loopback)"},
        "n": args.n,
        "latencyN": args.latency_n,
        "roundCount": args.rounds,
        "bare": {"throughputJobsPerS": bare_tp, "latencyP50Ms": best("bare", "latency", "p50Ms", low=True),
                 "latencyP99Ms": bare_p99, "cpuUsPerJob": cpu_per_job("bare")},
        "loop": {"throughputJobsPerS": best("loop", "throughput", "jobsPerS", low=False),
                 "latencyP50Ms": best("loop", "latency", "p50Ms", low=True),
                 "latencyP99Ms": best("loop", "latency", "p99Ms", low=True), "cpuUsPerJob": cpu_per_job("loop")},
        "router": {"throughputJobsPerS": router_tp, "latencyP50Ms": best("router", "latency", "p50Ms", low=True),
                   "latencyP99Ms": router_p99, "cpuUsPerJob": cpu_per_job("router")},
        "throughputRatio": paired("throughput", "jobsPerS"),
        "latencyP99Ratio": paired("latency", "p99Ms"),
        "latencyP50Ratio": paired("latency", "p50Ms"),
        "cpuCostRatio": round(statistics.median(
            cost_ratio(b, r) for b, r in zip(rounds["bare"]["throughput"], rounds["router"]["throughput"],
                                             strict=True)), 3),
        "throughputRatioPerRound": [round(x, 3) for x in tp_ratios],
        "latencyP99RatioPerRound": [round(x, 3) for x in p99_ratios],
        "throughputRatioBestOf": round(router_tp / bare_tp, 3),
        "latencyP99RatioBestOf": round(router_p99 / bare_p99, 3),
        "vsTetherLoop": {"throughputRatio": paired("throughput", "jobsPerS", "loop"),
                         "latencyP99Ratio": paired("latency", "p99Ms", "loop"),
                         "latencyP50Ratio": paired("latency", "p50Ms", "loop")},
        "targets": {"throughputRatio": ">= 0.85", "latencyP99Ratio": "<= 1.2"},
        "routeBreakdownUs": breakdown,
        "rounds": rounds,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
