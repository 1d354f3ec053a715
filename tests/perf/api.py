"""HTTP API benchmark: one `tether api` process (uvicorn, uvloop, httptools) against a private redis-server on
loopback TCP; requests per second and latency of `GET /v1/bindings/resolve` and `POST /v1/events` (one event),
beside a bare endpoint of the same server doing one Redis round trip (`GET /bare`, see `_api_server.py`).

The load comes from one client process: asyncio (uvloop) over raw keep-alive HTTP/1.1 connections, `--concurrency`
requests in flight, each request timed from its write to the end of its answer. The modes take turns in short
batches (their order rotating), so a burst of other work on a shared machine falls on all of them alike; requests
per second are totals over all batches, with each round's ratio listed too. `serial` is one request at a time.
The resolve requests look up `--bindings` bound conversations at random, with a bearer token (auth included), as a
runner would.

    python -m tests.perf.api [--quick] [--batch 200] [--batches 10] [--rounds 5] [--concurrency 16]

Prints one JSON object. Never asserts on timing. Target (issue 18): resolve throughput ≥ 0.7x bare.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import uvloop

from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

TOKEN = "bench-token"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def request_bytes(method: str, path: str, body: bytes = b"") -> bytes:
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n\r\n")
    return head.encode() + body


async def one_connection(port: int, requests: list[bytes], latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for req in requests:
            started = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def run_mode(port: int, requests: list[bytes], concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    shares = [requests[i::concurrency] for i in range(concurrency)]

    async def go() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(one_connection(port, share, latencies, statuses) for share in shares))
        return time.perf_counter() - started

    elapsed = uvloop.run(go())
    return {"n": len(requests), "elapsed": elapsed, "latencies": latencies, "statuses": statuses}


def summary(batches: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = sorted(x for b in batches for x in b["latencies"])
    statuses: dict[str, int] = {}
    for b in batches:
        for k, v in b["statuses"].items():
            statuses[str(k)] = statuses.get(str(k), 0) + v

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 3)

    n = sum(b["n"] for b in batches)
    return {"rps": round(n / sum(b["elapsed"] for b in batches)), "p50Ms": pct(0.50), "p99Ms": pct(0.99),
            "requests": n, "statuses": dict(sorted(statuses.items()))}


def build_requests(mode: str, n: int, refs: list[ConversationRef], tag: str) -> list[bytes]:
    rng = random.Random(n)
    if mode == "bare":
        return [request_bytes("GET", "/bare")] * n
    if mode == "resolve":
        out = []
        for _ in range(n):
            ref = rng.choice(refs)
            out.append(request_bytes("GET", f"/v1/bindings/resolve?channel={ref.channel}&conversationId="
                                            f"{ref.conversation_id}"))
        return out
    events = []
    for i in range(n):
        event = {"eventId": f"bench:{tag}:{i}", "kind": "task_completion", "targetSessionKey": f"agent:bench:{i}",
                 "requester": {"channel": "console", "conversationId": "main"},
                 "content": {"text": "Task complete: the benchmark's report is ready."},
                 "identity": {"username": "bench-agent"}, "createdAt": int(time.time() * 1000)}
        events.append(request_bytes("POST", "/v1/events", json.dumps(event).encode()))
    return events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch", type=int, default=200, help="requests per batch")
    parser.add_argument("--batches", type=int, default=10, help="batches of each mode per round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bindings", type=int, default=1000)
    args = parser.parse_args()
    if args.quick:
        args.batches, args.rounds = 5, 1

    server = RedisServer(tcp_port=free_port())
    server.start()
    url = f"redis://127.0.0.1:{server.tcp_port}/0"
    port = free_port()
    env = {**os.environ, "TETHER_REDIS_URL": url, "TETHER_BENCH_TOKEN": TOKEN}
    config = server.dir / "bench-api.toml"
    config.write_text('[api]\ntokens = ["env:TETHER_BENCH_TOKEN"]\n')
    env["TETHER_CONFIG"] = str(config)
    proc = subprocess.Popen([sys.executable, "-m", "tests.perf._api_server", str(port)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout_s=30, what="the benchmark's tether api")
        svc = SessionBindingService.from_url(url)
        refs = []
        for i in range(args.bindings):
            ref = ConversationRef(channel="discord", conversation_id=str(1_300_000_000_000_000_000 + i))
            svc.bind(target_session_key=f"agent:main:subagent:{i}", target_kind="subagent", conversation=ref)
            refs.append(ref)
        modes = ("bare", "resolve", "enqueue")
        run_mode(port, build_requests("bare", 500, refs, "warm"), args.concurrency)  # warm up
        run_mode(port, build_requests("resolve", 500, refs, "warm"), args.concurrency)
        # Short batches of each mode in turn (their order rotating), so that a burst of other work on the
        # machine falls on every mode alike; a round is `--batches` batches of each mode.
        rounds: list[dict[str, list[dict[str, Any]]]] = []
        for r in range(args.rounds):
            per_mode: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
            for k in range(args.batches):
                order = modes[k % 3:] + modes[:k % 3]
                for m in order:
                    reqs = build_requests(m, args.batch, refs, f"r{r}b{k}")
                    per_mode[m].append(run_mode(port, reqs, args.concurrency))
            rounds.append(per_mode)
        serial = {m: summary([run_mode(port, build_requests(m, 300, refs, "serial"), 1)]) for m in modes}
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        server.cleanup()

    overall = {m: summary([b for rd in rounds for b in rd[m]]) for m in modes}
    by_round = [{m: summary(rd[m])["rps"] for m in modes} for rd in rounds]
    resolve_ratios = [rd["resolve"] / rd["bare"] for rd in by_round]
    enqueue_ratios = [rd["enqueue"] / rd["bare"] for rd in by_round]
    result = {
        "benchmark": "api",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg": [round(x, 2) for x in os.getloadavg()]},
        "concurrency": args.concurrency, "batch": args.batch, "batches": args.batches, "rounds": args.rounds,
        "bindings": args.bindings,
        **overall,
        "serial": serial,
        "resolveVsBare": round(overall["resolve"]["rps"] / overall["bare"]["rps"], 3),
        "enqueueVsBare": round(overall["enqueue"]["rps"] / overall["bare"]["rps"], 3),
        "resolveVsBareRounds": [round(x, 3) for x in resolve_ratios],
        "enqueueVsBareRounds": [round(x, 3) for x in enqueue_ratios],
        "serialResolveVsBare": round(serial["resolve"]["rps"] / serial["bare"]["rps"], 3),
        "target": {"resolveVsBare": 0.7},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
