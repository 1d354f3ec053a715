"""Test adapters and worker processes for the delivery engine's tests.

`ProbeAdapter` (channel "probe") records every completed send in Redis, so a test process can count what several
worker processes sent. What each `send` does next is scripted through a Redis list (`probe:script`), one action per
call, popped atomically, so it works across processes:

    ok                      send (the default when the script is empty)
    retry                   raise RetryableError before sending
    retry-after:<s>         raise RetryableError(retry_after_s=<s>)
    permanent:<reason>      raise PermanentError(reason) with a secret-looking error text
    gone[:<end reason>]     raise DestinationGone (with that end_reason, else the default)
    sent-then-timeout       record the message as sent, then raise RetryableError (an ambiguous failure)
    slow:<s>                sleep <s> seconds, then send
    block                   note the send started and wait (up to 60 s) for `probe:release`; then send
    redis-error             raise redis.ConnectionError (the job fails in RQ)

Text is split on "|", so "a|b|c|d" is a 4-chunk delivery. The probe has no platform idempotency key, so the engine
reconciles an in-flight chunk through `reconcile`, which finds messages recorded by `sent-then-timeout`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import msgspec
import redis

from adapters.payloads import Content, Delivery, Identity, delivery_id_for
from adapters.protocol import Capabilities, DestinationGone, OutboundChunk, PermanentError, RetryableError
from bindings.model import ConversationRef

CHANNEL = "probe"
SCRIPT = "probe:script"
SENT = "probe:sent"  # list of JSON SentRecord
SENT_KEYS = "probe:sent-keys"  # hash idempotency key -> message id
STARTED = "probe:started"  # list of "pid:delivery:index" for every send that began
RELEASE = "probe:release"
SECRET_ERROR = "401 Unauthorized: Authorization: Bot MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"


class SentRecord(msgspec.Struct, frozen=True):
    delivery_id: str
    index: int
    text: str
    key: str
    pid: int
    message_id: str


class ProbeAdapter:
    channel = CHANNEL
    capabilities = Capabilities(placements=frozenset({"current"}), idempotency_key=False, reconcile=True,
                                max_message_length=100)

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def split(self, text: str) -> list[str]:
        return text.split("|")

    def _record(self, chunk: OutboundChunk) -> str:
        message_id = f"m-{chunk.delivery.delivery_id[-6:]}-{chunk.index}"
        rec = SentRecord(chunk.delivery.delivery_id, chunk.index, chunk.text, chunk.idempotency_key, os.getpid(),
                         message_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.rpush(SENT, msgspec.json.encode(rec))
        pipe.hset(SENT_KEYS, chunk.idempotency_key, message_id)
        pipe.execute()
        return message_id

    def send(self, chunk: OutboundChunk) -> str:
        raw = self.client.lpop(SCRIPT)
        action = raw.decode() if isinstance(raw, bytes) else "ok"
        self.client.rpush(STARTED, f"{os.getpid()}:{chunk.delivery.delivery_id}:{chunk.index}")
        name, _, arg = action.partition(":")
        if name == "retry":
            raise RetryableError("503 Service Unavailable")
        if name == "retry-after":
            raise RetryableError("429 Too Many Requests", retry_after_s=float(arg))
        if name == "permanent":
            raise PermanentError(SECRET_ERROR, reason=arg or "permanent")
        if name == "gone":
            raise DestinationGone("404 Unknown Channel (10003)", end_reason=arg or "thread-delete")
        if name == "redis-error":
            raise redis.ConnectionError("probe: Redis went away")
        if name == "sent-then-timeout":
            self._record(chunk)
            raise RetryableError("timed out waiting for the response")
        if name == "slow":
            time.sleep(float(arg))
        if name == "block":
            self.client.blpop([RELEASE], timeout=60)
        return self._record(chunk)

    def reconcile(self, chunk: OutboundChunk) -> str | None:
        found = self.client.hget(SENT_KEYS, chunk.idempotency_key)
        return found.decode() if isinstance(found, bytes) else None

    def validate(self, destination: ConversationRef) -> None:
        pass

    def close(self) -> None:
        pass


def make_probe(config: object, client: redis.Redis) -> ProbeAdapter:
    return ProbeAdapter(client)


def register_probe() -> None:
    from adapters.registry import register_adapter

    register_adapter(CHANNEL, make_probe)


def sent(client: redis.Redis) -> list[SentRecord]:
    return [msgspec.json.decode(r, type=SentRecord) for r in client.lrange(SENT, 0, -1)]


def script(client: redis.Redis, *actions: str) -> None:
    if actions:
        client.rpush(SCRIPT, *actions)


def make_delivery(event_id: str = "ev-1", text: str = "hello", *, conversation_id: str = "room-1",
                  binding_id: str | None = None, channel: str = CHANNEL) -> Delivery:
    dest = ConversationRef(channel=channel, account_id="default", conversation_id=conversation_id)
    return Delivery(
        delivery_id=delivery_id_for(event_id, dest), event_id=event_id, destination=dest,
        mode="bound" if binding_id else "fallback", reason="requester-match" if binding_id else "no-active-binding",
        content=Content(text=text), identity=Identity(username="research-agent"), binding_id=binding_id,
        target_session_key="agent:main:subagent:abc", event_created_at=int(time.time() * 1000),
    )


TEST_CONFIG = """
[delivery]
maxAttempts = {max_attempts}
backoffMinS = 0.05
backoffMaxS = 0.2
leaseS = {lease_s}
reaperIntervalS = {reaper_interval_s}
"""


def write_config(path: Path, *, lease_s: float = 2.0, reaper_interval_s: float = 0.25, max_attempts: int = 8) -> Path:
    path.write_text(TEST_CONFIG.format(lease_s=lease_s, reaper_interval_s=reaper_interval_s,
                                       max_attempts=max_attempts))
    return path


def worker_main(url: str, config_path: str, burst: bool = False) -> None:
    """Body of a probe worker process (multiprocessing "spawn"): its own session, so the test can SIGKILL the worker
    together with anything it started; its own Redis connection."""
    os.setsid()
    os.environ["TETHER_CONFIG"] = config_path
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from bindings.config import load_config
    from bindings.connection import connect
    from workers.runner import run_worker
    from workers.worker_adapter import adapter_spec

    register_probe()
    client = connect(url)
    config = load_config()
    run_worker(client, adapter_spec(CHANNEL, client, config), burst=burst)
