"""Groups upgraded to supergroups. Telegram then gives the chat a new id and answers a send to the old one with
`400 … group chat was upgraded to a supergroup chat` and `parameters.migrate_to_chat_id`.

`Migrations.record` (1) remembers old → new for every process (`keys.migrated`), so deliveries already queued for the
old id go to the new one without asking Telegram again, and (2) moves every active binding on the old chat — the
chat itself and each topic conversation tether knows in it — to the new id in one step
(`SessionBindingService.rebind_conversations`, which knows nothing of Telegram: it gets the mapping computed here).
Both are idempotent: two workers that hit the same migration at once do the same thing twice.
"""

from __future__ import annotations

import logging
from typing import Protocol

import redis

from adapters.telegram import keys
from adapters.telegram.activity import DEFAULT_RETENTION_S, ActivityLog, watch_member
from adapters.telegram.conversations import Target
from adapters.telegram.settings import CHANNEL
from bindings.model import SessionBindingRecord

log = logging.getLogger("tether.telegram.migration")

MAX_HOPS = 4  # a chain of migrations (group → supergroup only happens once, but stay safe against loops)


class Rebinder(Protocol):
    def rebind_conversations(self, channel: str, account_id: str, moves: dict[str, str]) -> list[SessionBindingRecord]:
        ...


class Migrations:
    def __init__(self, client: redis.Redis, bindings: Rebinder, activity: ActivityLog,
                 retention_s: int = DEFAULT_RETENTION_S) -> None:
        self.client = client
        self.bindings = bindings
        self.activity = activity
        self.retention_s = retention_s

    def follow(self, account: str, target: Target) -> Target:
        """The target on the chat's current id (itself when its chat never migrated)."""
        for _ in range(MAX_HOPS):
            new = self.client.get(keys.migrated(account, target.chat_id))
            if new is None:
                return target
            target = target.moved_to(new.decode() if isinstance(new, bytes) else str(new))
        return target

    def record(self, account: str, old_chat: str, new_chat: str) -> list[SessionBindingRecord]:
        self.client.set(keys.migrated(account, old_chat), new_chat, ex=self.retention_s)
        known = self.activity.conversations(account, old_chat) | {old_chat}
        moves = {conv: new_chat + conv[len(old_chat):] for conv in known
                 if conv == old_chat or conv.startswith(f"{old_chat}:topic:")}
        moved = self.bindings.rebind_conversations(CHANNEL, account, moves)
        pipe = self.client.pipeline(transaction=True)
        new_set = keys.conversations(account, new_chat)
        for conv in moves.values():
            pipe.sadd(new_set, conv)
        pipe.expire(new_set, self.retention_s)
        pipe.delete(keys.conversations(account, old_chat))
        pipe.zrem(keys.watched_chats(), watch_member(account, old_chat))
        pipe.execute()
        log.info("telegram chat migrated; bindings moved", extra={
            "account": account, "fromChat": old_chat, "toChat": new_chat, "bindings": len(moved)})
        return moved
