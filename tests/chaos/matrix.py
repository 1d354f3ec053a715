"""`python -m tests.chaos.matrix [--events N]` (part of `make chaos`): the Matrix chaos run against a real Synapse.

A real homeserver, a real redis-server, the fault proxy between tether and the homeserver (answers lost after the
event was created, 502s after it, 500s before it, each with a seeded probability), one router and three
`tether worker matrix` processes, one of them SIGKILLed (and restarted) every `--kill-interval-s`. N completion
events of `--sessions` sub-agent sessions, each bound to its own thread of one room, go through the router. Then
every thread is read back from the homeserver (`/relations`) and the room's main timeline (`/messages`):

    lost        events whose text is in no thread
    duplicated  extra copies of an event's text
    misplaced   texts in the wrong thread, or in the main timeline

Prints one JSON summary; exits 1 unless all three are 0 and every delivery is `delivered`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from random import Random
from typing import Any

import redis

from adapters.delivery.ledger import Ledger
from adapters.payloads import delivery_id_for
from bindings.config import load_config
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from router.enqueue import enqueue_completion
from tests.chaos.processes import Supervisor
from tests.fakes.matrix_proxy import MatrixProxy
from tests.support.redis_server import RedisServer
from tests.support.synapse import Synapse, SynapseAdmin

CONFIG = """
[channels.matrix]
homeserver = "{homeserver}"
[channels.matrix.threadBindings]
spawnSubagentSessions = true
[channels.matrix.accounts.default]
accessToken = "file:{token}"
userId = "{user_id}"
[channels.matrix.rateLimit]
globalPerSecond = 200
perConversationPerSecond = 200
perConversationBurst = 50
[delivery]
maxAttempts = 30
backoffMinS = 0.05
backoffMaxS = 1.0
leaseS = 3
reaperIntervalS = 0.25
"""


def run(events: int, sessions: int, seed: int, kill_interval_s: float, settle_timeout_s: float) -> dict[str, Any]:
    rng = Random(seed)
    work = Path(tempfile.mkdtemp(prefix="tether-matrix-chaos-"))
    synapse = Synapse(work / "synapse")
    server = RedisServer(directory=work / "redis")
    supervisor: Supervisor | None = None
    began = time.monotonic()
    try:
        synapse.start()
        server.start()
        admin = SynapseAdmin(synapse)
        admin.register("operator", admin=True)
        bot = admin.register("bot", unlimited=True)
        human = admin.register("human", unlimited=True)
        room = admin.create_room(human, "chaos", invite=[bot])
        proxy = MatrixProxy(synapse.base_url, seed=seed).start()
        token = work / "bot.token"
        token.write_text(bot.access_token)
        config_path = work / "tether.toml"
        config_path.write_text(CONFIG.format(homeserver=proxy.base_url, token=token, user_id=bot.user_id))
        config = load_config(config_path)
        client = redis.Redis.from_url(server.url)
        from adapters.matrix.provision import MatrixProvisioner

        svc = SessionBindingService(client, config, provisioners={"matrix": MatrixProvisioner(config, client)})
        records = [svc.bind(target_session_key=f"agent:main:subagent:s{i}", target_kind="subagent",
                            placement="child", label=f"s{i}", conversation=ConversationRef(
                                channel="matrix", parent_conversation_id=room)) for i in range(sessions)]
        proxy.add("lose-answer", times=None, probability=0.08)
        proxy.add("5xx-after", times=None, probability=0.05)
        proxy.add("5xx", times=None, probability=0.05)

        env = {**os.environ, "TETHER_REDIS_URL": server.url, "TETHER_CONFIG": str(config_path),
               "TETHER_LOG_LEVEL": "WARNING"}
        (work / "logs").mkdir()
        supervisor = Supervisor(env, work / "logs")
        supervisor.add("router-1", ["worker", "router"])
        for i in range(3):
            supervisor.add(f"matrix-{i + 1}", ["worker", "matrix"])
        supervisor.start_all()

        expected: dict[str, str] = {}  # text -> thread root
        delivery_ids: list[str] = []
        for n in range(events):
            record = records[n % sessions]
            text = f"event {n} of {record.target_session_key}"
            event_id = f"v1:{record.target_session_key}:run-{n}"
            expected[text] = record.conversation.conversation_id or ""
            delivery_ids.append(delivery_id_for(event_id, record.conversation))
            enqueue_completion(client, {
                "eventId": event_id, "kind": "task_completion", "targetSessionKey": record.target_session_key,
                "requester": {"channel": "matrix", "accountId": "default", "conversationId": room},
                "spawnMode": "session", "failClosed": False, "content": {"text": text}})

        ledger = Ledger(client)
        next_kill = time.monotonic() + kill_interval_s
        deadline = time.monotonic() + settle_timeout_s
        while time.monotonic() < deadline:
            statuses = Counter(ledger.status(d) for d in delivery_ids)
            if statuses.get("delivered", 0) + statuses.get("dead", 0) == len(delivery_ids):
                break
            if time.monotonic() >= next_kill and statuses.get("delivered", 0) < len(delivery_ids) * 0.9:
                victim = supervisor.kill_random(Random(rng.random()))
                print(f"killed {victim.name if victim else None}; {dict(statuses)}", file=sys.stderr)
                next_kill = time.monotonic() + kill_interval_s
            supervisor.restart_exited()
            time.sleep(0.2)  # polling the ledger of a run in another set of processes
        settle_s = time.monotonic() - began
        statuses = Counter(ledger.status(d) for d in delivery_ids)

        landed: Counter[tuple[str, str]] = Counter()
        for record in records:
            root = record.conversation.conversation_id or ""
            for e in admin.thread(human, room, root):
                landed[(e["content"]["body"], root)] += 1
        main = [e["content"]["body"] for e in admin.main_timeline(human, room)]
        roots = {f"\N{ROBOT FACE} s{i}" for i in range(sessions)}
        lost = sum(1 for text, root in expected.items() if landed[(text, root)] == 0)
        duplicated = sum(c - 1 for c in landed.values() if c > 1)
        misplaced = sum(c for (text, root), c in landed.items() if expected.get(text) != root)
        misplaced += sum(1 for body in main if body not in roots)
        summary = {
            "events": events, "sessions": sessions, "seed": seed, "delivered": statuses.get("delivered", 0),
            "dead": statuses.get("dead", 0), "lost": lost, "duplicated": duplicated, "misplaced": misplaced,
            "kills": supervisor.kills(), "proxyFaults": proxy.stats.faults,
            "homeserverStatuses": {str(k): v for k, v in proxy.stats.upstream_statuses.items()},
            "seconds": round(settle_s, 1), "synapseStartS": round(synapse.start_s, 2),
            "synapseRssMiB": round((synapse.rss_kib() or 0) / 1024, 1),
        }
        summary["ok"] = (lost == duplicated == misplaced == 0 and summary["delivered"] == events)
        proxy.stop()
        admin.close()
        return summary
    finally:
        if supervisor is not None:
            supervisor.stop_all()
        server.cleanup()
        synapse.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.chaos.matrix", description=(__doc__ or "").split("\n")[0])
    p.add_argument("--events", type=int, default=500)
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--kill-interval-s", type=float, default=2.0)
    p.add_argument("--settle-timeout-s", type=float, default=300.0)
    args = p.parse_args(argv)
    summary = run(args.events, args.sessions, args.seed, args.kill_interval_s, args.settle_timeout_s)
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
