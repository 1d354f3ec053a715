"""One platform's world for the conformance cases: a private redis-server, the platform's local API (its harness),
a configuration file, and real worker processes (`tether worker router` and two `tether worker <channel>`, started
as subprocesses the way the Procfile starts them), kept for all the cases of the platform. Each case works in fresh
conversations and sessions, so cases do not see each other's messages or bindings.

A case plays a completion the way production does: bind a conversation, enqueue the completion event
(`router.enqueue.enqueue_completion`), let the router decide and hand off and a channel worker send, and wait for
the ledger to settle.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis
from rq.worker import Worker

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue
from adapters.delivery.ledger import Ledger, LedgerRecord
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, deliver_queue_name, tether_queue
from adapters.payloads import delivery_id_for
from bindings.config import TetherConfig, load_config
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.service import SessionBindingService
from router.enqueue import enqueue_completion
from tests.adapters.conformance.harness import PlatformHarness
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[3]
CHANNEL_WORKERS = 2  # rate limits must hold across processes

DELIVERY = """
[delivery]
maxAttempts = 6
backoffMinS = 0.05
backoffMaxS = 0.3
leaseS = 5
reaperIntervalS = 0.25
"""

USERNAME = "research-agent"
AVATAR_URL = "https://example.com/research.png"


class World:
    def __init__(self, harness: PlatformHarness, tmp_path: Path) -> None:
        self.harness = harness
        self.tmp_path = tmp_path
        self.server = RedisServer(directory=tmp_path / "redis")
        self.config_path = tmp_path / "tether.toml"
        self.logs: list[Path] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._ids = itertools.count(1)
        self.redis: redis.Redis = redis.Redis()
        self.config = TetherConfig()

    # -- set-up -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.server.start()
        self.redis = redis.Redis.from_url(self.server.url)
        self.harness.start(self.tmp_path, self.server.url)
        self.config_path.write_text(self.harness.config_toml() + DELIVERY)
        self.config = load_config(self.config_path)
        names = ["router"] + [self.harness.channel] * CHANNEL_WORKERS
        for i, name in enumerate(names):
            self._spawn(name, self.tmp_path / f"worker-{i}-{name}.log")
        for name, queue in (("router", COMPLETIONS_QUEUE), (self.harness.channel,
                                                           deliver_queue_name(self.harness.channel))):
            want = names.count(name)
            q = tether_queue(queue, self.redis)
            wait_for(lambda q=q, want=want: len(Worker.all(connection=self.redis, queue=q)) >= want,  # type: ignore[misc]
                     timeout_s=60, what=f"{want} {name} worker(s) to listen")

    def _spawn(self, name: str, log_path: Path) -> None:
        env = dict(os.environ, TETHER_REDIS_URL=self.server.url, TETHER_CONFIG=str(self.config_path),
                   PYTHONPATH=str(REPO), **self.harness.worker_env())
        with log_path.open("wb") as log:
            self._procs.append(subprocess.Popen([sys.executable, "-m", "workers", "worker", name], cwd=REPO,
                                                env=env, stdout=log, stderr=log, start_new_session=True))
        self.logs.append(log_path)

    def stop(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.harness.stop()
        self.redis.close()
        self.server.cleanup()

    def workers_alive(self) -> bool:
        return all(proc.poll() is None for proc in self._procs)

    # -- playing a completion ---------------------------------------------------------------------------------

    def service(self) -> SessionBindingService:
        return SessionBindingService(self.redis, self.config)

    def session(self) -> str:
        return f"agent:main:subagent:conf-{next(self._ids)}"

    def bind(self, ref: ConversationRef, session: str | None = None) -> SessionBindingRecord:
        return self.service().bind(target_session_key=session or self.session(), target_kind="subagent",
                                   conversation=ref, label="conformance")

    def complete(self, record: SessionBindingRecord, text: str = "Task complete", *,
                 requester: ConversationRef | None = None) -> str:
        """Enqueue a completion of the bound session; returns the delivery id it will have."""
        return self.complete_to(record.target_session_key, requester or record.conversation, text,
                                destination=record.conversation)

    def complete_to(self, session: str, requester: ConversationRef, text: str, *,
                    destination: ConversationRef | None = None) -> str:
        event_id = f"v1:{session}:run-{next(self._ids)}"
        event: dict[str, Any] = {
            "eventId": event_id, "kind": "task_completion", "targetSessionKey": session,
            # The parent too: a Slack thread (root ts) means nothing without its channel.
            "requester": {"channel": requester.channel, "accountId": requester.account_id,
                          "conversationId": requester.conversation_id,
                          "parentConversationId": requester.parent_conversation_id},
            "spawnMode": "session", "failClosed": False, "content": {"text": text},
            "identity": {"username": USERNAME, "avatarUrl": AVATAR_URL},
        }
        enqueue_completion(self.redis, event)
        return delivery_id_for(event_id, destination or requester)

    def settle(self, delivery_id: str, timeout_s: float = 30) -> LedgerRecord:
        ledger = Ledger(self.redis)

        def done() -> LedgerRecord | None:
            record = ledger.get(delivery_id)
            return record if record is not None and record.status in ("delivered", "dead") else None

        record: LedgerRecord = wait_for(done, timeout_s=timeout_s, what=f"delivery {delivery_id} to settle")
        return record

    def dead_letters(self) -> list[DeadLetter]:
        queue = DeadLetterQueue(self.redis)
        return [letter for i in queue.ids() if (letter := queue.get(i)) is not None]

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs)
