"""Bound threads: their state on Discord and the index of threads to watch.

Every thread tether created (child placement) or delivered a bound message to is put in an index
(`keys.bound_threads`, member `account:thread`, score = when to look next); the sweeper's check
(`adapters.discord.thread_check`) looks at the due ones only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import redis

from adapters.discord import keys, routes
from adapters.discord.errors import UNKNOWN_CHANNEL, DiscordApiError
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.model import SessionBindingRecord
from bindings.replies import as_text

if TYPE_CHECKING:
    from adapters.discord.client import DiscordClient

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


def records_to_watch(records: Iterable[SessionBindingRecord]) -> list[tuple[str, str]]:
    """(account, thread) of the Discord thread bindings among `records` (for seeding the index by hand)."""
    out: list[tuple[str, str]] = []
    for r in records:
        thread_id = r.metadata.get("threadId") or (r.conversation.conversation_id
                                                   if r.conversation.parent_conversation_id else None)
        if r.conversation.channel == CHANNEL and thread_id:
            out.append((r.conversation.account_id, thread_id))
    return out
