"""The sweeper's look at the Telegram chats tether uses (`adapters.protocol.ConversationCheck`, entry point
`tether.conversation_checks: telegram`).

Every chat tether sent to or created a topic in is in an index (`keys.watched_chats`, score = when to look next);
a pass looks at the due ones only (O(due), never a scan of bindings) with `getChat`:

- reachable → looked at again after `interval_s` (the Bot API cannot read a topic's state: a deleted or closed topic
  is found by the next send, which ends its binding `thread-delete` or dead-letters `topic-closed`);
- upgraded to a supergroup → the bindings move to the new chat id (`migration.Migrations`), counted `migrated`;
- gone for the bot (chat not found, bot kicked or blocked, not a member) → the active bindings of every conversation
  tether knows in that chat end with reason `chat-gone`, counted `deleted` (the protocol's word for a conversation
  that is gone); no farewell (`on_ended` is not called: nobody could read it, and its send would only fail);
- any transient failure → looked at again after `interval_s`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from adapters.protocol import DeliveryError, DestinationGone
from adapters.telegram import keys, methods
from adapters.telegram.activity import CHECK_INTERVAL_S, watch_member
from adapters.telegram.errors import TelegramApiError, classify
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.settings import CHANNEL
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.model import ConversationRef, SessionBindingRecord

log = logging.getLogger("tether.telegram.check")


class TelegramConversationCheck:
    channel = CHANNEL

    def __init__(self, config: TetherConfig, client: redis.Redis, *, runtime: TelegramRuntime | None = None,
                 clock: Clock = SYSTEM_CLOCK, limit: int = 100, interval_s: float = CHECK_INTERVAL_S) -> None:
        self.rt = runtime or TelegramRuntime(config, client, clock=clock)
        self.client = client
        self.clock = clock
        self.limit = limit
        self.interval_s = interval_s

    def run_once(self, on_ended: Callable[[SessionBindingRecord], object]) -> dict[str, int]:
        counts = {"checked": 0, "kept": 0, "migrated": 0, "deleted": 0, "ended": 0}
        now = self.clock.now_ms()
        due = self.client.zrangebyscore(keys.watched_chats(), "-inf", now, start=0, num=self.limit)
        for raw in due:
            member = raw.decode() if isinstance(raw, bytes) else str(raw)
            account, _, chat_id = member.partition("|")
            counts["checked"] += 1
            outcome = self._check(account, chat_id, on_ended, counts)
            counts[outcome] += 1
            if outcome == "kept":
                self.client.zadd(keys.watched_chats(), {member: now + int(self.interval_s * 1000)}, xx=True)
            else:
                self.client.zrem(keys.watched_chats(), member)
        if counts["migrated"] or counts["deleted"]:
            log.info("telegram chats checked", extra=counts)
        return counts

    def _check(self, account: str, chat_id: str, on_ended: Callable[[SessionBindingRecord], object],
               counts: dict[str, int]) -> str:
        try:
            self.rt.api.call(account, methods.GET_CHAT, {"chat_id": chat_id})
            return "kept"
        except TelegramApiError as exc:
            if exc.migrate_to_chat_id is not None:
                self.rt.migrations.record(account, chat_id, exc.migrate_to_chat_id)
                return "migrated"
            failure: DeliveryError = classify(exc)
        except DeliveryError as exc:
            failure = exc
        if not isinstance(failure, DestinationGone):
            log.info("telegram chat check failed; keeping its bindings", extra={
                "account": account, "chat": chat_id, "error": str(failure)})
            return "kept"
        for conversation_id in self.rt.activity.conversations(account, chat_id) | {chat_id}:
            record = self.rt.bindings.resolve_by_conversation(
                ConversationRef(channel=CHANNEL, account_id=account, conversation_id=conversation_id))
            if record is None:
                continue
            counts["ended"] += len(self.rt.bindings.unbind(binding_id=record.binding_id, reason="chat-gone"))
        self.client.delete(keys.conversations(account, chat_id))
        return "deleted"

    def close(self) -> None:
        self.rt.close()


def make_conversation_check(config: TetherConfig, client: redis.Redis) -> TelegramConversationCheck:
    """Entry point `tether.conversation_checks: telegram`."""
    return TelegramConversationCheck(config, client)


__all__ = ["TelegramConversationCheck", "make_conversation_check", "watch_member"]
