"""Webhook deliveries per second to a local Standard Webhooks receiver, beside a bare httpx POST loop signing the
same way.

The receiver (`tests.fakes.webhook_receiver`, deduping, verifying every request with `standardwebhooks`) runs in its
own process. Measured, in interleaved rounds (the median is reported):
- `bare`: one process, one `httpx.Client`, a loop of POSTs of the same JSON body shape, each signed with tether's
  signer (`adapters.webhook.signing.sign`) — the floor any Python sender pays;
- `adapter`: `WebhookAdapter.send` in a loop, one process — adds the shared limiter's Redis round trip, the payload
  encoding and the activity record;
- `pipeline`: N deliveries handed off at once to 1 and 2 `tether worker webhook` processes (ledger claim, lease,
  record, RQ job), from the hand-off of the first to the last one `delivered`.
Ratios are each figure over `bare` of the same round.

    python -m tests.perf.webhook_throughput [--n 1000] [--rounds 3] [--quick]

Prints one JSON object. Not a test: it never asserts on timing.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import redis

from adapters.delivery.engine import idempotency_key
from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.payloads import Content, Delivery, Identity, delivery_id_for
from adapters.protocol import OutboundChunk
from adapters.webhook.adapter import WebhookAdapter
from adapters.webhook.endpoints import decode_secret
from adapters.webhook.signing import sign
from bindings.config import load_config
from bindings.model import ConversationRef
from tests.fakes.webhook_remote import ReceiverProcess
from tests.support.redis_server import RedisServer

ROOM = ConversationRef(channel="webhook", conversation_id="room-1")


def delivery(i: int, tag: str) -> Delivery:
    event_id = f"bench-{tag}-{i}"
    return Delivery(delivery_id=delivery_id_for(event_id, ROOM), event_id=event_id, destination=ROOM,
                    mode="fallback", reason="no-active-binding", content=Content(text=f"Task complete {i}"),
                    identity=Identity(username="bench-agent"))


def bare_loop(url: str, secret: str, n: int, tag: str) -> float:
    """Deliveries per second of the plainest correct sender: sign, POST, check the status."""
    key = decode_secret(secret)
    encoder = msgspec.json.Encoder()
    with httpx.Client(follow_redirects=False, timeout=10.0) as http:
        t0 = time.perf_counter()
        for i in range(n):
            d = delivery(i, tag)
            body = encoder.encode({"type": "tether.message", "timestamp": "2026-01-01T00:00:00.000Z", "data": {
                "deliveryId": d.delivery_id, "eventId": d.event_id, "chunk": 0, "chunks": 1,
                "conversation": {"channel": "webhook", "accountId": "default", "conversationId": "room-1",
                                 "parentConversationId": None},
                "text": d.content.text, "identity": {"username": "bench-agent", "avatarUrl": None},
                "mode": d.mode, "reason": d.reason, "metadata": {}}})
            msg_id = f"msg_{idempotency_key(d.delivery_id, 0)}"
            ts = int(time.time())
            response = http.post(url, content=body, headers={
                "content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(ts),
                "webhook-signature": sign([key], msg_id, ts, body)})
            if not 200 <= response.status_code < 300:
                raise RuntimeError(f"bare loop: HTTP {response.status_code}")
        return n / (time.perf_counter() - t0)


def adapter_loop(adapter: WebhookAdapter, n: int, tag: str) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        d = delivery(i, tag)
        adapter.send(OutboundChunk(delivery=d, index=0, count=1, text=d.content.text,
                                   idempotency_key=idempotency_key(d.delivery_id, 0)))
    return n / (time.perf_counter() - t0)


def start_workers(count: int, config_path: Path, redis_url: str, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ, TETHER_CONFIG=str(config_path), TETHER_REDIS_URL=redis_url, TETHER_LOG_LEVEL="WARNING")
    procs = []
    for i in range(count):
        log = (log_dir / f"worker-{i}.log").open("ab")
        procs.append(subprocess.Popen([sys.executable, "-m", "workers", "worker", "webhook"], env=env,
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

    queue = tether_queue(deliver_queue_name("webhook"), client)
    deadline = time.monotonic() + timeout_s
    while len(Worker.all(connection=client, queue=queue)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.05)


def pipeline(client: redis.Redis, config_path: Path, redis_url: str, log_dir: Path, workers: int, n: int,
             tag: str) -> float:
    config = load_config(config_path)
    procs = start_workers(workers, config_path, redis_url, log_dir)
    try:
        wait_workers(client, workers)
        ids = [delivery(i, tag).delivery_id for i in range(n)]
        ledger = Ledger(client)
        t0 = time.perf_counter()
        for i in range(n):
            hand_off(client, delivery(i, tag), config=config)
        while True:
            pipe = client.pipeline(transaction=False)
            for d in ids[-50:]:
                pipe.hget(f"tether:delivery:{d}", "status")
            if all(s == b"delivered" for s in pipe.execute()) and all(
                    ledger.status(d) == "delivered" for d in ids):
                break
            time.sleep(0.01)
        return n / (time.perf_counter() - t0)
    finally:
        stop_workers(procs)


def run(n: int, rounds: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="tether-bench-webhook-"))
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    server = RedisServer()
    server.start()
    receiver = ReceiverProcess(tmp / "receiver", secret, dedupe=True)
    receiver.start()
    try:
        secret_path = tmp / "secret"
        secret_path.write_text(secret)
        config_path = tmp / "tether.toml"
        config_path.write_text(f'[channels.webhook.accounts.default]\nurl = "{receiver.url}"\n'
                               f'secret = "file:{secret_path}"\n')
        client = redis.Redis.from_url(server.url)
        adapter = WebhookAdapter(load_config(config_path), client)
        bare_loop(receiver.url, secret, min(100, n), "warm-bare")
        adapter_loop(adapter, min(100, n), "warm-adapter")
        figures: dict[str, list[float]] = {"bare": [], "adapter": [], "pipeline1": [], "pipeline2": []}
        for r in range(rounds):
            figures["bare"].append(bare_loop(receiver.url, secret, n, f"bare-{r}"))
            figures["adapter"].append(adapter_loop(adapter, n, f"adapter-{r}"))
            figures["pipeline1"].append(pipeline(client, config_path, server.url, tmp, 1, n, f"p1-{r}"))
            figures["pipeline2"].append(pipeline(client, config_path, server.url, tmp, 2, n, f"p2-{r}"))
        adapter.close()
        rejected = len(receiver.control.rejected())
        bare = statistics.median(figures["bare"])
        return {
            "benchmark": "webhook_throughput",
            "n": n,
            "rounds": rounds,
            "deliveriesPerSecond": {k: round(statistics.median(v), 1) for k, v in figures.items()},
            "ratioToBare": {k: round(statistics.median(v) / bare, 3) for k, v in figures.items() if k != "bare"},
            "perRound": {k: [round(x, 1) for x in v] for k, v in figures.items()},
            "rejectedByReceiver": rejected,
            "cpus": os.cpu_count(),
        }
    finally:
        receiver.stop()
        server.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.webhook_throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="deliveries per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="200 deliveries, one round")
    args = parser.parse_args()
    n, rounds = (200, 1) if args.quick else (args.n, args.rounds)
    print(json.dumps(run(n, rounds)))


if __name__ == "__main__":
    main()
