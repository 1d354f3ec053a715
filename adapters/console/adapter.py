"""The console adapter: `tether worker console` prints each delivered message as a person would read it.

    ── console/default · #main > #main/thread-1 · 14:03:22Z
    research-agent │ Task complete: the report is ready.
                   │ (second line)

With `TETHER_CONSOLE_JSONL=PATH` every message is also appended to PATH as one JSON object per line.
The console has a platform idempotency key, trivially: the first send of a key claims it in Redis (SET NX) and
prints; a later send of the same key prints nothing and returns the first message id. So a retried chunk never
prints twice, across processes. A printed chunk of a bound delivery touches its binding (activity).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
from typing import Protocol, TextIO

import msgspec
import redis

from adapters.chunking import split_message
from adapters.console import keys
from adapters.protocol import Capabilities, OutboundChunk, PermanentError
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.model import ConversationRef
from bindings.replies import as_opt_text
from bindings.service import SessionBindingService

CHANNEL = "console"
JSONL_ENV = "TETHER_CONSOLE_JSONL"
MAX_MESSAGE_LENGTH = 4000
DEDUPE_TTL_S = 7 * 24 * 3600


class ConsoleMessage(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """One line of the JSON-lines file."""

    message_id: str
    delivery_id: str
    event_id: str
    conversation: ConversationRef
    username: str | None
    avatar_url: str | None
    text: str
    chunk: int
    chunks: int
    sent_at: int
    mode: str
    reason: str


class BindingTouch(Protocol):
    """The part of `SessionBindingService` the adapter uses: a successful send is activity on the binding."""

    def touch(self, binding_id: str, at: int | None = None) -> object: ...


class ConsoleAdapter:
    channel = CHANNEL
    capabilities = Capabilities(placements=frozenset({"current", "child"}), idempotency_key=True,
                                max_message_length=MAX_MESSAGE_LENGTH)

    def __init__(self, client: redis.Redis, *, out: TextIO | None = None, jsonl_path: str | None = None,
                 clock: Clock = SYSTEM_CLOCK, bindings: BindingTouch | None = None) -> None:
        self.client = client
        self.bindings = bindings
        self.out = out
        self.jsonl_path = jsonl_path
        self.clock = clock
        self._lock = threading.Lock()  # the embedded mode runs several workers as threads of one process

    def split(self, text: str) -> list[str]:
        return split_message(text, MAX_MESSAGE_LENGTH)

    def send(self, chunk: OutboundChunk) -> str:
        destination = chunk.delivery.destination
        if not destination.conversation_id:
            raise PermanentError("console destination has no conversation id", reason="invalid-destination")
        message_id = f"console-{chunk.idempotency_key}"
        key = keys.console_sent(chunk.idempotency_key)
        if not self.client.set(key, message_id, nx=True, ex=DEDUPE_TTL_S):
            existing = self.client.get(key)
            return as_opt_text(existing) or message_id
        now = self.clock.now_ms()
        with self._lock:
            out = self.out or sys.stdout
            out.write(render(chunk, now))
            out.flush()
            if self.jsonl_path:
                self._append_jsonl(chunk, message_id, now)
        if self.bindings is not None and chunk.delivery.binding_id:
            self.bindings.touch(chunk.delivery.binding_id, now)  # activity: the idle deadline moves
        return message_id

    def reconcile(self, chunk: OutboundChunk) -> str | None:
        existing = self.client.get(keys.console_sent(chunk.idempotency_key))
        return as_opt_text(existing)

    def validate(self, destination: ConversationRef) -> None:
        if not destination.conversation_id:
            raise PermanentError("console destination has no conversation id", reason="invalid-destination")

    def close(self) -> None:
        pass

    def _append_jsonl(self, chunk: OutboundChunk, message_id: str, now_ms: int) -> None:
        d = chunk.delivery
        line = msgspec.json.encode(ConsoleMessage(
            message_id=message_id, delivery_id=d.delivery_id, event_id=d.event_id, conversation=d.destination,
            username=d.identity.username if d.identity else None,
            avatar_url=d.identity.avatar_url if d.identity else None,
            text=chunk.text, chunk=chunk.index, chunks=chunk.count, sent_at=now_ms, mode=d.mode, reason=d.reason,
        ))
        # One write of one line in append mode: lines of several processes never interleave.
        with open(self.jsonl_path, "ab") as f:  # type: ignore[arg-type]
            f.write(line + b"\n")


def render(chunk: OutboundChunk, now_ms: int) -> str:
    """The message as a person reads it: where it went, who says it, what it says."""
    d = chunk.delivery
    dest = d.destination
    where = f"#{dest.conversation_id}"
    if dest.parent_conversation_id:
        where = f"#{dest.parent_conversation_id} > {where}"
    at = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).strftime("%H:%M:%SZ")
    part = f" · part {chunk.index + 1}/{chunk.count}" if chunk.count > 1 else ""
    header = f"── {dest.channel}/{dest.account_id} · {where} · {at}{part}\n"
    who = (d.identity.username if d.identity and d.identity.username else None) or "agent"
    lines = chunk.text.split("\n") or [""]
    pad = " " * len(who)
    body = [f"{who} │ {lines[0]}"] + [f"{pad} │ {line}" for line in lines[1:]]
    return header + "\n".join(body) + "\n\n"


def make_adapter(config: TetherConfig, client: redis.Redis) -> ConsoleAdapter:
    """Entry point `tether.adapters: console`."""
    return ConsoleAdapter(client, jsonl_path=os.environ.get(JSONL_ENV) or None,
                          bindings=SessionBindingService(client, config))
