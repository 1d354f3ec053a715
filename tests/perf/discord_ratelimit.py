"""Discord rate-limit efficiency: 4 `tether worker discord` processes against the local Discord API limited like
Discord (50 requests/s global, 5 messages per 5 s per channel), sending to 40 channels.

The allowed rate is min(global, channels x per-channel rate) = min(50, 40 x 5/5) = 40 messages/s. Deliveries are
handed off round-robin over the channels (the delivery engine's queue, ledger and leases as in production); the
fake API runs in its own process and keeps the log of every request with its time on the fake's clock.

Measured, from the fake's request log:
- sustained rate: messages created within the first `whole_windows` complete 5-second windows after the first
  request, per second (the tail after the last complete window is left out: its burst would flatter the figure);
- 429 answers over all requests, and global 429s;
- every delivery delivered, exactly one message each.

    python -m tests.perf.discord_ratelimit [--messages 1400] [--workers 4] [--channels 40]

Prints one JSON object. Not a test: it never asserts on timing. Targets (issue 5): sustained rate >= 95 % of the
allowed rate, 429s <= 1 % of requests, no global 429.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.payloads import Content, Delivery, Identity, delivery_id_for
from bindings.config import load_config
from bindings.model import ConversationRef
from tests.fakes.discord_remote import FakeDiscordProcess
from tests.support.redis_server import RedisServer

WINDOW_S = 5.0
PER_WINDOW = 5
GLOBAL_PER_S = 50


def write_config(path: Path, api_base: str, token_path: Path) -> None:
    path.write_text(
        "[channels.discord]\n"
        f'apiBase = "{api_base}"\n'
        "[channels.discord.accounts.default]\n"
        f'token = "file:{token_path}"\n'
    )


def start_workers(count: int, config_path: Path, redis_url: str, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ, TETHER_CONFIG=str(config_path), TETHER_REDIS_URL=redis_url, TETHER_LOG_LEVEL="WARNING")
    procs = []
    for i in range(count):
        log = (log_dir / f"worker-{i}.log").open("wb")
        procs.append(subprocess.Popen([sys.executable, "-m", "workers", "worker", "discord"], env=env,
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_workers(client: redis.Redis, count: int, timeout_s: float = 60) -> None:
    from rq.worker import Worker

    from adapters.delivery.rqwire import deliver_queue_name, tether_queue

    queue = tether_queue(deliver_queue_name("discord"), client)
    deadline = time.monotonic() + timeout_s
    while len(Worker.all(connection=client, queue=queue)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.1)


def run(messages: int, workers: int, channels: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="tether-bench-discord-"))
    server = RedisServer()
    server.start()
    fake = FakeDiscordProcess(tmp / "fake", args=[
        "--channels", str(channels), "--global-limit", str(GLOBAL_PER_S), "--global-window-s", "1",
        "--message-limit", str(PER_WINDOW), "--message-window-s", str(WINDOW_S),
    ])
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fake.start()
        token_path = tmp / "token"
        token_path.write_text("test-bot-token\n")
        config_path = tmp / "tether.toml"
        write_config(config_path, fake.base_url, token_path)
        config = load_config(config_path)
        client = redis.Redis.from_url(server.url)
        channel_ids: list[str] = fake.info["channel_ids"]

        ids = []
        for i in range(messages):
            dest = ConversationRef(channel="discord", conversation_id=channel_ids[i % channels])
            event_id = f"bench-{i}"
            ids.append(hand_off(client, Delivery(
                delivery_id=delivery_id_for(event_id, dest), event_id=event_id, destination=dest, mode="fallback",
                reason="no-active-binding", content=Content(text=f"message {i}"),
                identity=Identity(username="bench"), event_created_at=int(time.time() * 1000),
            ), config=config))

        procs = start_workers(workers, config_path, server.url, tmp)
        wait_workers(client, workers)
        ledger = Ledger(client)
        deadline = time.monotonic() + messages / 20 + 120
        while True:
            statuses = Counter(ledger.status(d) for d in ids)
            if statuses["delivered"] + statuses["dead"] == messages or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        state = fake.control.state()
    finally:
        stop_workers(procs)
        fake.stop()
        server.cleanup()

    api = [r for r in state.requests if r.route is not None]
    creates = [r for r in api if r.route == "message_create"]
    created = sorted(m.at_ms for m in state.messages if m.type == 0)
    t0 = min(r.at_ms for r in api)
    t_last = max(r.at_ms for r in api)
    span_s = (t_last - t0) / 1000
    whole_windows = int(span_s // WINDOW_S)
    measured_s = whole_windows * WINDOW_S
    in_windows = sum(1 for at in created if at < t0 + measured_s * 1000)
    allowed = min(GLOBAL_PER_S, channels * PER_WINDOW / WINDOW_S)
    sustained = in_windows / measured_s if measured_s else 0.0
    limited = [r for r in api if r.status == 429]
    per_message = Counter(m.content for m in state.messages if m.type == 0)
    return {
        "benchmark": "discord_ratelimit",
        "workers": workers,
        "channels": channels,
        "messages": messages,
        "limits": {"global_per_s": GLOBAL_PER_S, "per_channel": f"{PER_WINDOW} per {WINDOW_S:g} s"},
        "allowed_rate_per_s": allowed,
        "sustained_rate_per_s": round(sustained, 2),
        "sustained_vs_allowed": round(sustained / allowed, 4),
        "measured_windows": whole_windows,
        "overall_rate_per_s": round(len(created) / span_s, 2) if span_s else None,
        "span_s": round(span_s, 2),
        "requests": len(api),
        "message_creates": len(creates),
        "status_counts": dict(Counter(str(r.status) for r in api)),
        "responses_429": len(limited),
        "ratio_429": round(len(limited) / len(api), 5) if api else None,
        "global_429": sum(1 for r in limited if r.global_limit),
        "delivered": statuses["delivered"],
        "dead": statuses["dead"],
        "messages_created": len(created),
        "duplicates": sum(n - 1 for n in per_message.values() if n > 1),
        "targets": {"sustained_vs_allowed": ">= 0.95", "ratio_429": "<= 0.01", "global_429": 0},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1400)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--channels", type=int, default=40)
    args = parser.parse_args()
    print(json.dumps(run(args.messages, args.workers, args.channels)))


if __name__ == "__main__":
    main()
