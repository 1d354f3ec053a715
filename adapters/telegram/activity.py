"""What tether knows of the Telegram conversations it uses: outbound activity, and which conversations (chat and
topics) it has sent to or created in each chat — the set a group→supergroup migration moves and the sweeper checks.

Activity per account: a sorted set orders conversations by their last send; a small hash per conversation keeps
`lastOutboundAt` (ms), `lastMessageId` and a `sends` counter. Everything lives `retention_s` after its last use.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from adapters.telegram import keys
from bindings.clock import SYSTEM_CLOCK, Clock

DEFAULT_RETENTION_S = 30 * 86_400
CHECK_INTERVAL_S = 300.0


@dataclass(frozen=True)
class Activity:
    last_outbound_at: int
    last_message_id: str
    sends: int


class ActivityLog:
    def __init__(self, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK,
                 retention_s: int = DEFAULT_RETENTION_S) -> None:
        self.client = client
        self.clock = clock
        self.retention_s = retention_s

    def record(self, account: str, chat_id: str, conversation_id: str, message_id: str) -> int:
        """One send: activity, and the conversation remembered under its chat (watched by the sweeper)."""
        now = self.clock.now_ms()
        key = keys.activity(account, conversation_id)
        index = keys.activity_index(account)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping={"lastOutboundAt": now, "lastMessageId": message_id})
        pipe.hincrby(key, "sends", 1)
        pipe.expire(key, self.retention_s)
        pipe.zadd(index, {conversation_id: now})
        pipe.zremrangebyscore(index, "-inf", now - self.retention_s * 1000)
        pipe.expire(index, self.retention_s)
        self._remember(pipe, account, chat_id, conversation_id, now)
        pipe.execute()
        return now

    def remember(self, account: str, chat_id: str, conversation_id: str) -> None:
        """A conversation tether created (a topic) or bound, before any send."""
        pipe = self.client.pipeline(transaction=True)
        self._remember(pipe, account, chat_id, conversation_id, self.clock.now_ms())
        pipe.execute()

    def _remember(self, pipe: redis.client.Pipeline, account: str, chat_id: str, conversation_id: str,
                  now: int) -> None:
        convs = keys.conversations(account, chat_id)
        pipe.sadd(convs, conversation_id)
        pipe.expire(convs, self.retention_s)
        pipe.zadd(keys.watched_chats(), {watch_member(account, chat_id): now + int(CHECK_INTERVAL_S * 1000)},
                  nx=True)

    def get(self, account: str, conversation_id: str) -> Activity | None:
        raw = self.client.hgetall(keys.activity(account, conversation_id))
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        return Activity(int(fields.get("lastOutboundAt", 0)), fields.get("lastMessageId", ""),
                        int(fields.get("sends", 0)))

    def conversations(self, account: str, chat_id: str) -> set[str]:
        return {_text(m) for m in self.client.smembers(keys.conversations(account, chat_id))}


def watch_member(account: str, chat_id: str) -> str:
    return f"{account}|{chat_id}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
