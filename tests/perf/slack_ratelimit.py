"""Slack rate-limit efficiency: 4 `tether worker slack` processes posting into threads of 40 channels of the local
Slack Web API, limited like Slack's `chat.postMessage` (about one message per second per channel, short bursts).

The fake runs in its own process with a token bucket per channel (`--rate` per second, burst `--fake-burst`);
tether is configured with the same sustained rate (`rateLimit.perConversationPerSecond`) and a smaller burst
(`perConversationBurst`, default 3), as in production. The allowed rate is channels x rate (40 messages/s at Slack's
real 1/s: the defaults finish in about 40 s; `--rate 2` doubles the fake's and tether's limits to halve that, which is
faster than Slack's real limit). Deliveries are handed off round-robin over the channels' threads, through the
delivery engine's queue, ledger and leases as in production.

Measured, from the fake's request log (its own monotonic clock):
- sustained rate: successful posts per second from `warmup_s` after the first post (the starting bursts are spent by
  then) to the last whole second at least `tail_s` before the last post (channels run dry at slightly different
  moments), against channels x rate;
- 429 answers over all chat.postMessage requests;
- every delivery delivered, exactly one message each, all of them in threads (none in a channel root).

    python -m tests.perf.slack_ratelimit [--messages 1600] [--workers 4] [--channels 40] [--rate 1] [--quick]

Prints one JSON object. Not a test: it never asserts on timing. Targets (issue 14): sustained rate >= 95 % of the
allowed rate, 429s <= 1 % of requests.
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
from tests.fakes.slack_remote import FakeSlackProcess
from tests.support.redis_server import RedisServer

WARMUP_S = 5.0
TAIL_S = 2.0


def write_config(path: Path, api_base: str, token_path: Path, rate: float, burst: int) -> None:
    path.write_text(
        "[channels.slack]\n"
        f'apiBase = "{api_base}"\n'
        "[channels.slack.rateLimit]\n"
        f"perConversationPerSecond = {rate}\nperConversationBurst = {burst}\n"
        "[channels.slack.accounts.default]\n"
        f'token = "file:{token_path}"\n'
    )


def start_workers(count: int, config_path: Path, redis_url: str, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ, TETHER_CONFIG=str(config_path), TETHER_REDIS_URL=redis_url, TETHER_LOG_LEVEL="WARNING")
    procs = []
    for i in range(count):
        log = (log_dir / f"worker-{i}.log").open("wb")
        procs.append(subprocess.Popen([sys.executable, "-m", "workers", "worker", "slack"], env=env,
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

    queue = tether_queue(deliver_queue_name("slack"), client)
    deadline = time.monotonic() + timeout_s
    while len(Worker.all(connection=client, queue=queue)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.1)


def run(messages: int, workers: int, channels: int, rate: float, burst: int, fake_burst: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="tether-bench-slack-"))
    server = RedisServer()
    server.start()
    fake = FakeSlackProcess(tmp / "fake", args=["--channels", str(channels), "--post-rate", str(rate),
                                                "--post-burst", str(fake_burst)])
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fake.start()
        token_path = tmp / "token"
        token_path.write_text(fake.info["token"] + "\n")
        config_path = tmp / "tether.toml"
        write_config(config_path, fake.base_url, token_path, rate, burst)
        config = load_config(config_path)
        client = redis.Redis.from_url(server.url)
        threads: list[dict[str, str]] = fake.info["channels"]
        ids = []
        for i in range(messages):
            where = threads[i % channels]
            dest = ConversationRef(channel="slack", conversation_id=where["root_ts"],
                                   parent_conversation_id=where["id"])
            event_id = f"bench-{i}"
            ids.append(hand_off(client, Delivery(
                delivery_id=delivery_id_for(event_id, dest), event_id=event_id, destination=dest, mode="fallback",
                reason="no-active-binding", content=Content(text=f"message {i}"),
                identity=Identity(username="bench"), event_created_at=int(time.time() * 1000),
            ), config=config))
        procs = start_workers(workers, config_path, server.url, tmp)
        wait_workers(client, workers)
        ledger = Ledger(client)
        deadline = time.monotonic() + messages / (channels * rate) + 120
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

    posts = [r for r in state.requests if r.method == "chat.postMessage"]
    ok = sorted(r.at for r in posts if r.status == 200 and r.error is None)
    t0, t_last = ok[0], ok[-1]
    start = t0 + WARMUP_S
    measured_s = float(int(t_last - TAIL_S - start))
    in_window = sum(1 for at in ok if start <= at < start + measured_s)
    allowed = channels * rate
    sustained = in_window / measured_s if measured_s > 0 else 0.0
    limited = sum(1 for r in posts if r.status == 429)
    bot = [m for m in state.messages if m.bot_id]
    per_text = Counter(m.text for m in bot)
    return {
        "benchmark": "slack_ratelimit",
        "workers": workers,
        "channels": channels,
        "messages": messages,
        "limits": {"fake_per_channel": f"{rate:g}/s burst {fake_burst}", "tether_per_channel": f"{rate:g}/s burst "
                   f"{burst}", "slack_real_per_channel": "about 1/s, short bursts"},
        "allowed_rate_per_s": allowed,
        "sustained_rate_per_s": round(sustained, 2),
        "sustained_vs_allowed": round(sustained / allowed, 4),
        "measured_s": measured_s,
        "span_s": round(t_last - t0, 2),
        "overall_rate_per_s": round(len(ok) / (t_last - t0), 2) if t_last > t0 else None,
        "post_requests": len(posts),
        "status_counts": dict(Counter(str(r.status) for r in posts)),
        "responses_429": limited,
        "ratio_429": round(limited / len(posts), 5) if posts else None,
        "delivered": statuses["delivered"],
        "dead": statuses["dead"],
        "messages_posted": len(bot),
        "in_channel_root": sum(1 for m in bot if not m.in_thread or m.reply_broadcast),
        "duplicates": sum(n - 1 for n in per_text.values() if n > 1),
        "targets": {"sustained_vs_allowed": ">= 0.95", "ratio_429": "<= 0.01", "duplicates": 0,
                    "in_channel_root": 0},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1600)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--channels", type=int, default=40)
    parser.add_argument("--rate", type=float, default=1.0, help="per channel per second, the fake's and tether's")
    parser.add_argument("--burst", type=int, default=3, help="tether's perConversationBurst")
    parser.add_argument("--fake-burst", type=int, default=4, help="the burst the fake tolerates")
    parser.add_argument("--quick", action="store_true", help="600 messages")
    args = parser.parse_args()
    messages = 600 if args.quick else args.messages
    print(json.dumps(run(messages, args.workers, args.channels, args.rate, args.burst, args.fake_burst)))


if __name__ == "__main__":
    main()
