"""The sweeper's check of Discord's bound threads (a `ConversationCheck`, entry point
`tether.conversation_checks: discord`), built once per sweeper process with one Discord runtime.

Each pass looks at the due threads of the index (`adapters.discord.threads.ThreadIndex`; O(due), never a scan of all
bindings):

- thread deleted (10003)    → binding ended `thread-delete`, no farewell (nobody could read it);
- thread archived           → binding ended `thread-archived`, and `on_ended(record)` is called so the sweeper can
                              send "Session ended …" through normal delivery;
- open (or merely locked)   → looked at again after `interval_s`;
- any transient failure     → kept, looked at again after `interval_s`;
- no active binding any more → dropped from the index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import redis

from adapters.discord.client import DiscordClient
from adapters.discord.errors import DiscordApiError
from adapters.discord.runtime import DiscordRuntime
from adapters.discord.threads import CHANNEL, DEFAULT_INTERVAL_S, fetch_thread
from adapters.protocol import DeliveryError
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.service import SessionBindingService

log = logging.getLogger("tether.discord.threads")


class DiscordThreadCheck:
    """`ConversationCheck` for Discord: one runtime (HTTP client, shared rate limiter, thread index) for the
    sweeper's lifetime."""

    channel = CHANNEL

    def __init__(self, config: TetherConfig, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK,
                 limit: int = 100, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.svc = SessionBindingService(client, config, clock=clock)
        self.runtime = DiscordRuntime(config, client, clock=clock)
        self.limit = limit
        self.interval_s = interval_s

    def run_once(self, on_ended: Callable[[SessionBindingRecord], object]) -> dict[str, int]:
        return check_bound_threads(self.svc, self.runtime.redis, self.runtime.config, on_farewell=on_ended,
                                   limit=self.limit, interval_s=self.interval_s, runtime=self.runtime)

    def close(self) -> None:
        self.runtime.close()


def make_conversation_check(config: TetherConfig, client: redis.Redis) -> DiscordThreadCheck:
    """Entry point `tether.conversation_checks: discord`."""
    return DiscordThreadCheck(config, client)


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


