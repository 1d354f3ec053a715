"""Binding store benchmark: load N bindings (default 1,000,000) through bind.lua, pipelined, into a private
redis-server on a loopback TCP port; then measure `resolve_by_conversation` latency against a PING baseline in
the same run, and Redis memory per binding, indexes included (INFO used_memory delta / N).

Bindings are realistic: Discord snowflake conversation ids (19 digits), session keys `agent:main:subagent:<uuid>`,
the default 24 h idle timeout, one binding per session. Resolve latency is the whole Python call (normalise, hash,
EVALSHA, decode), PING is a bare round trip; the two are interleaved so both see the same machine state.

    python -m tests.perf.bindings_store [--n 1000000] [--lookups 20000]

Prints one JSON object. Not a test: it never asserts on timing. Targets (issue 2): resolve p99 ≤ 1 ms,
≤ 400 bytes per binding.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from bindings import keys
from bindings.model import ConversationRef
from bindings.service import SessionBindingService, new_binding_id
from tests.support.redis_server import RedisServer

BATCH = 2_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def conversation(i: int) -> ConversationRef:
    # Discord snowflakes: 18-19 digit ids
    return ConversationRef(channel="discord", account_id="default", conversation_id=str(1_200_000_000_000_000_000 + i))


def session_key(rng: random.Random) -> str:
    # sub-agent session keys as agent runners make them: agent:<agent>:subagent:<uuid>
    return f"agent:main:subagent:{uuid.UUID(int=rng.getrandbits(128), version=4)}"


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def timed_ms(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - t0) / 1e6


def load(svc: SessionBindingService, n: int, rng: random.Random) -> float:
    t0 = time.perf_counter()
    now = svc.clock.now_ms()
    for start in range(0, n, BATCH):
        pipe = svc.client.pipeline(transaction=False)
        for i in range(start, min(n, start + BATCH)):
            conv = conversation(i)
            call_keys, args = svc.bind_call(
                binding_id=new_binding_id(),
                session_key=session_key(rng),
                target_kind="subagent",
                conv=conv,
                metadata={},
                idle_timeout_ms=24 * 3_600_000,
                max_age_ms=None,
                label=None,
                now_ms=now,
            )
            svc.scripts.run("bind", call_keys, args, client=pipe)
        pipe.execute()
    return time.perf_counter() - t0


def index_breakdown(client: redis.Redis, n: int) -> dict[str, Any]:
    """MEMORY USAGE summed per kind of key (value + key name; not the keyspace's own dict entries)."""
    out: dict[str, Any] = {}
    for label, make, count, enc_ok in (
        ("conversationIndex", lambda b: f"{keys.PREFIX}c:{b:04x}", keys.BUCKETS, b"listpack"),
        ("sessionIndex", lambda b: f"{keys.PREFIX}s:{b:04x}", keys.BUCKETS, b"listpack"),
        ("expiryIndex", lambda b: keys.expiry_shard(f"{b:04x}"), keys.SHARDS, b"listpack"),
    ):
        total, big, present = 0, 0, 0
        for start in range(0, count, 4096):
            pipe = client.pipeline(transaction=False)
            for b in range(start, min(count, start + 4096)):
                pipe.memory_usage(make(b), samples=0)
                pipe.object("encoding", make(b))
            res = pipe.execute()
            for usage, enc in zip(res[0::2], res[1::2], strict=True):
                if usage is not None:
                    present += 1
                    total += usage
                    big += enc != enc_ok
        out[label] = {"bytesPerBinding": round(total / n, 1), "keys": present, "notListpack": big}
    directory = client.memory_usage(keys.expiry_directory(), samples=0) or 0
    out["expiryDirectory"] = {"bytesPerBinding": round(directory / n, 2)}
    events = client.memory_usage(keys.events(), samples=0) or 0
    out["eventsStream"] = {"bytes": events, "entries": client.xlen(keys.events())}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1_000_000, help="bindings to load")
    parser.add_argument("--lookups", type=int, default=20_000, help="resolve calls to time")
    parser.add_argument("--seed", type=int, default=1)
    opts = parser.parse_args(argv)
    rng = random.Random(opts.seed)

    server = RedisServer(tcp_port=free_port())
    server.start()
    try:
        client = redis.Redis(host="127.0.0.1", port=server.tcp_port)
        svc = SessionBindingService(client)
        before = used_memory(client)
        load_s = load(svc, opts.n, rng)
        after = used_memory(client)

        # sample records for their own size
        sample_ids = [
            k.decode().rsplit(":", 1)[1] for k in client.scan(0, match=f"{keys.PREFIX}r:*", count=2000)[1][:500]
        ]
        record_usage = [client.memory_usage(keys.record(b), samples=0) or 0 for b in sample_ids]

        # latency: resolve and PING interleaved, so both see the same machine state
        for _ in range(1000):  # warm-up
            svc.resolve_by_conversation(conversation(rng.randrange(opts.n)))
            client.ping()
        resolve_ms: list[float] = []
        ping_ms: list[float] = []
        misses = 0
        for _ in range(opts.lookups):
            conv = conversation(rng.randrange(opts.n))
            t0 = time.perf_counter_ns()
            found = svc.resolve_by_conversation(conv)
            resolve_ms.append((time.perf_counter_ns() - t0) / 1e6)
            misses += found is None
            ping_ms.append(timed_ms(client.ping))
        resolve_ms.sort()
        ping_ms.sort()

        result = {
            "benchmark": "bindings_store",
            "n": opts.n,
            "redis": client.info("server")["redis_version"],
            "transport": "tcp loopback",
            "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
            "loadSeconds": round(load_s, 1),
            "loadPerSecond": round(opts.n / load_s),
            "bytesPerBinding": round((after - before) / opts.n, 1),
            "usedMemoryDeltaBytes": after - before,
            "recordMemoryUsageAvg": round(sum(record_usage) / max(1, len(record_usage)), 1),
            "indexes": index_breakdown(client, opts.n),
            "activeCount": svc.count_active(),
            "resolve": {
                "lookups": opts.lookups,
                "misses": misses,
                "p50Ms": round(percentile(resolve_ms, 0.50), 4),
                "p99Ms": round(percentile(resolve_ms, 0.99), 4),
                "maxMs": round(resolve_ms[-1], 4),
            },
            "pingBaseline": {
                "p50Ms": round(percentile(ping_ms, 0.50), 4),
                "p99Ms": round(percentile(ping_ms, 0.99), 4),
            },
            "targets": {"resolveP99Ms": 1.0, "bytesPerBinding": 400},
        }
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
        client.close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
