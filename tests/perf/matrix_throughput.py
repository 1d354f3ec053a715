"""Matrix deliveries per second against a real Synapse with its limits raised, beside a bare loop of the same PUTs.

Synapse (SQLite, the bot exempt from message limits) and a redis-server are started here. Then, into threads of one
room:
- bare: one process PUTs `--messages` thread replies (`/send/m.room.message/{txnId}`, one httpx client, one after
  another) — the homeserver's own pace for these events;
- tether: the same number of deliveries handed off (ledger, queue, leases) and sent by `--workers`
  `tether worker matrix` processes, tether's rate limits raised out of the way; timed from the first hand-off until
  the ledger says every one is delivered; then every thread is read back (each message once).

    python -m tests.perf.matrix_throughput [--messages 300] [--workers 2] [--rounds 3] [--quick]

The two modes alternate, `--rounds` times. Prints one JSON object (`ratio` = tether / bare deliveries per second,
per round and the median). Not a test: it never asserts on timing.
"""

from __future__ import annotations

import argparse
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
import redis
from rq.worker import Worker

from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.delivery.rqwire import deliver_queue_name, tether_queue
from adapters.payloads import Content, Delivery, delivery_id_for
from bindings.config import load_config
from bindings.model import ConversationRef
from tests.support.redis_server import RedisServer
from tests.support.synapse import Synapse, SynapseAdmin, q
from tests.support.waiting import wait_for

CONFIG = """
[channels.matrix]
homeserver = "{homeserver}"
[channels.matrix.accounts.default]
accessToken = "file:{token}"
userId = "{user_id}"
[channels.matrix.rateLimit]
globalPerSecond = 10000
perConversationPerSecond = 10000
perConversationBurst = 1000
"""
THREADS = 4


def bare_loop(base_url: str, token: str, room: str, roots: list[str], n: int, tag: str) -> float:
    began = time.monotonic()
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        for i in range(n):
            root = roots[i % len(roots)]
            body = {"msgtype": "m.text", "body": f"bare {tag} {i}", "m.relates_to": {
                "rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                "m.in_reply_to": {"event_id": root}}}
            r = http.put(f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/bare-{tag}-{i}", json=body)
            r.raise_for_status()
    return time.monotonic() - began


def run(messages: int, workers: int, rounds: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="tether-matrix-bench-"))
    synapse = Synapse(work / "synapse")
    server = RedisServer(directory=work / "redis")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        synapse.start()
        server.start()
        admin = SynapseAdmin(synapse)
        admin.register("operator", admin=True)
        bot = admin.register("bot", unlimited=True)
        human = admin.register("human", unlimited=True)
        room = admin.create_room(human, "bench", invite=[bot])
        roots = [admin.send_text(bot, room, f"root {i}") for i in range(THREADS)]
        token = work / "bot.token"
        token.write_text(bot.access_token)
        config_path = work / "tether.toml"
        config_path.write_text(CONFIG.format(homeserver=synapse.base_url, token=token, user_id=bot.user_id))
        config = load_config(config_path)
        client = redis.Redis.from_url(server.url)
        env = dict(os.environ, TETHER_CONFIG=str(config_path), TETHER_REDIS_URL=server.url,
                   TETHER_LOG_LEVEL="WARNING")
        for _ in range(workers):
            procs.append(subprocess.Popen([sys.executable, "-m", "workers", "worker", "matrix"], env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
        queue = tether_queue(deliver_queue_name("matrix"), client)
        wait_for(lambda: len(Worker.all(connection=client, queue=queue)) >= workers, timeout_s=60,
                 what="the matrix workers to listen")  # not part of any measured time
        ledger = Ledger(client)
        results = []
        for r in range(rounds):  # the modes interleaved, so both meet the same moments of a shared machine
            bare_s = bare_loop(synapse.base_url, bot.access_token, room, roots, messages, f"r{r}")
            ids = []
            began = time.monotonic()
            for i in range(messages):
                dest = ConversationRef(channel="matrix", conversation_id=roots[i % THREADS],
                                       parent_conversation_id=room)
                event_id = f"bench-r{r}-{i}"
                ids.append(hand_off(client, Delivery(
                    delivery_id=delivery_id_for(event_id, dest), event_id=event_id, destination=dest,
                    mode="fallback", reason="bench", content=Content(text=f"tether r{r} {i}")), config=config))
            pending = set(ids)
            while pending:
                pending = {d for d in pending if ledger.status(d) != "delivered"}
                time.sleep(0.02)  # polling the ledger of other processes
            tether_s = time.monotonic() - began
            results.append({"bare_per_s": round(messages / bare_s, 1), "tether_per_s": round(messages / tether_s, 1),
                            "ratio": round(bare_s / tether_s, 3)})
        landed = sum(1 for root in roots for e in admin.thread(human, room, root)
                     if e["content"]["body"].startswith("tether "))
        admin.close()
        return {"benchmark": "matrix_throughput", "messages": messages, "workers": workers, "rounds": results,
                "ratio_median": statistics.median(x["ratio"] for x in results),
                "landed_once": landed == messages * rounds,
                "synapse_start_s": round(synapse.start_s, 2),
                "synapse_rss_mib": round((synapse.rss_kib() or 0) / 1024, 1)}
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
        server.cleanup()
        synapse.stop()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=300)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="100 messages, 1 round")
    args = p.parse_args()
    print(json.dumps(run(100 if args.quick else args.messages, args.workers, 1 if args.quick else args.rounds)))


if __name__ == "__main__":
    main()
