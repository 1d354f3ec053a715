"""Bound threads: their state on Discord, the index of threads to watch, and the sweeper's check.

Every thread tether created (child placement) or delivered a bound message to is put in an index
(`keys.bound_threads`, member `account:thread`, score = when to look next). The sweeper calls
`check_bound_threads`, which looks at the due ones only (O(due), never a scan of all bindings):

- thread deleted (10003)    → binding ended `thread-delete`, no farewell (nobody could read it);
- thread archived           → binding ended `thread-archived`, and `on_farewell(record)` is called so the caller can
                              send "Session ended …" through normal delivery;
- open (or merely locked)   → looked at again after `interval_s`;
- any transient failure     → kept, looked at again after `interval_s`;
- no active binding any more → dropped from the index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import redis

from adapters.discord import keys, routes
from adapters.discord.errors import UNKNOWN_CHANNEL, DiscordApiError
from adapters.protocol import DeliveryError
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.replies import as_text

if TYPE_CHECKING:
    from adapters.discord.client import DiscordClient
    from adapters.discord.runtime import DiscordRuntime
    from bindings.config import TetherConfig
    from bindings.service import SessionBindingService

log = logging.getLogger("tether.discord.threads")

ThreadState = Literal["open", "archived", "locked", "deleted"]
CHANNEL = "discord"
DEFAULT_INTERVAL_S = 60.0


@dataclass(frozen=True)
class ThreadInfo:
    state: ThreadState
    parent_id: str | None
    is_thread: bool


def thread_info(body: Any) -> ThreadInfo:
    """Read a Discord channel object."""
    meta = body.get("thread_metadata") if isinstance(body, dict) else None
    parent = body.get("parent_id") if isinstance(body, dict) else None
    if not isinstance(meta, dict):
        return ThreadInfo("open", parent if isinstance(parent, str) else None, is_thread=False)
    state: ThreadState = "archived" if meta.get("archived") else "locked" if meta.get("locked") else "open"
    return ThreadInfo(state, parent if isinstance(parent, str) else None, is_thread=True)


def fetch_thread(api: DiscordClient, account: str, channel_id: str) -> ThreadInfo:
    """The channel's state; `deleted` for 10003. Other failures raise (DiscordApiError / DeliveryError)."""
    try:
        body = api.request(account, routes.GET_CHANNEL.compile(channel=channel_id), repeatable=True)
    except DiscordApiError as exc:
        if exc.code == UNKNOWN_CHANNEL:
            return ThreadInfo("deleted", None, is_thread=True)
        raise
    return thread_info(body)


def _member(account: str, thread_id: str) -> str:
    return f"{account}:{thread_id}"


class ThreadIndex:
    def __init__(self, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.client = client
        self.clock = clock

    def watch(self, account: str, thread_id: str, *, after_s: float = DEFAULT_INTERVAL_S) -> None:
        """Start watching a thread (a thread already watched keeps its due time)."""
        due = self.clock.now_ms() + int(after_s * 1000)
        self.client.zadd(keys.bound_threads(), {_member(account, thread_id): due}, nx=True)

    def reschedule(self, account: str, thread_id: str, *, after_s: float) -> None:
        due = self.clock.now_ms() + int(after_s * 1000)
        self.client.zadd(keys.bound_threads(), {_member(account, thread_id): due}, xx=True)

    def unwatch(self, account: str, thread_id: str) -> None:
        self.client.zrem(keys.bound_threads(), _member(account, thread_id))

    def due(self, limit: int = 100) -> list[tuple[str, str]]:
        raw = self.client.zrangebyscore(keys.bound_threads(), "-inf", self.clock.now_ms(), start=0, num=limit)
        out: list[tuple[str, str]] = []
        for item in raw:
            account, _, thread_id = as_text(item).partition(":")
            out.append((account, thread_id))
        return out

    def watched(self) -> int:
        return int(self.client.zcard(keys.bound_threads()))


FarewellCallback = Callable[[SessionBindingRecord], object]


def check_bound_threads(
    svc: SessionBindingService,
    client: redis.Redis,
    config: TetherConfig,
    *,
    on_farewell: FarewellCallback | None = None,
    limit: int = 100,
    interval_s: float = DEFAULT_INTERVAL_S,
    runtime: DiscordRuntime | None = None,
) -> dict[str, int]:
    """Check up to `limit` due bound threads; returns counts by outcome (checked, archived, deleted, kept, dropped)."""
    from adapters.discord.runtime import DiscordRuntime

    owned = runtime is None
    rt = runtime or DiscordRuntime(config, client, clock=svc.clock)
    counts = {"checked": 0, "archived": 0, "deleted": 0, "kept": 0, "dropped": 0}
    try:
        for account, thread_id in rt.threads.due(limit):
            counts["checked"] += 1
            record = svc.resolve_by_conversation(
                ConversationRef(channel=CHANNEL, account_id=account, conversation_id=thread_id)
            )
            if record is None:
                rt.threads.unwatch(account, thread_id)
                counts["dropped"] += 1
                continue
            outcome = check_thread(svc, rt.api, record, on_farewell=on_farewell)
            counts[outcome] += 1
            if outcome == "kept":
                rt.threads.reschedule(account, thread_id, after_s=interval_s)
            else:
                rt.threads.unwatch(account, thread_id)
    finally:
        if owned:
            rt.close()
    if counts["archived"] or counts["deleted"]:
        log.info("bound threads checked", extra=counts)
    return counts


def check_thread(
    svc: SessionBindingService,
    api: DiscordClient,
    record: SessionBindingRecord,
    *,
    on_farewell: FarewellCallback | None = None,
) -> Literal["archived", "deleted", "kept"]:
    """Check one bound thread and end its binding if the thread is archived or deleted."""
    conv = record.conversation
    thread_id = record.metadata.get("threadId") or conv.conversation_id
    if not thread_id:
        return "kept"
    try:
        info = fetch_thread(api, conv.account_id, thread_id)
    except (DiscordApiError, DeliveryError) as exc:
        log.info("thread check failed; keeping the binding", extra={
            "bindingId": record.binding_id, "threadId": thread_id, "error": str(exc)})
        return "kept"
    if info.state == "deleted":
        svc.unbind(binding_id=record.binding_id, reason="thread-delete")
        return "deleted"
    if info.state == "archived":
        for ended in svc.unbind(binding_id=record.binding_id, reason="thread-archived"):
            if on_farewell is not None:
                on_farewell(ended)
        return "archived"
    return "kept"


def records_to_watch(records: Iterable[SessionBindingRecord]) -> list[tuple[str, str]]:
    """(account, thread) of the Discord thread bindings among `records` (for seeding the index by hand)."""
    out: list[tuple[str, str]] = []
    for r in records:
        thread_id = r.metadata.get("threadId") or (r.conversation.conversation_id
                                                   if r.conversation.parent_conversation_id else None)
        if r.conversation.channel == CHANNEL and thread_id:
            out.append((r.conversation.account_id, thread_id))
    return out
