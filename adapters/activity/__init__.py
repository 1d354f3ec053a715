"""Outbound activity of any channel: when tether last sent to each conversation, and how.

Per (channel, account), a sorted set orders conversations by their last send (`keys.activity_index`), and a small
hash per conversation (`keys.activity`) keeps `lastOutboundAt` (ms), `lastMessageId`, `lastVia` (the adapter's word:
`webhook` | `bot` on Discord, `bot` on Matrix) and a `sends` counter. Entries live `retention_s` after the last send.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from adapters.activity import keys
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.replies import as_text

DEFAULT_RETENTION_S = 30 * 86_400


@dataclass(frozen=True)
class Activity:
    last_outbound_at: int
    last_message_id: str
    last_via: str
    sends: int


class ActivityLog:
    def __init__(self, client: redis.Redis, channel: str, *, clock: Clock = SYSTEM_CLOCK,
                 retention_s: int = DEFAULT_RETENTION_S) -> None:
        self.client = client
        self.channel = channel
        self.clock = clock
        self.retention_s = retention_s

    def record(self, account: str, conversation_id: str, message_id: str, via: str) -> int:
        now = self.clock.now_ms()
        key = keys.activity(self.channel, account, conversation_id)
        index = keys.activity_index(self.channel, account)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping={"lastOutboundAt": now, "lastMessageId": message_id, "lastVia": via})
        pipe.hincrby(key, "sends", 1)
        pipe.expire(key, self.retention_s)
        pipe.zadd(index, {conversation_id: now})
        pipe.zremrangebyscore(index, "-inf", now - self.retention_s * 1000)
        pipe.expire(index, self.retention_s)
        pipe.execute()
        return now

    def get(self, account: str, conversation_id: str) -> Activity | None:
        raw = self.client.hgetall(keys.activity(self.channel, account, conversation_id))
        if not raw:
            return None
        fields = {as_text(k): as_text(v) for k, v in raw.items()}
        return Activity(
            last_outbound_at=int(fields.get("lastOutboundAt", 0)),
            last_message_id=fields.get("lastMessageId", ""),
            last_via=fields.get("lastVia", ""),
            sends=int(fields.get("sends", 0)),
        )

    def last_outbound_at(self, account: str, conversation_id: str) -> int | None:
        score = self.client.zscore(keys.activity_index(self.channel, account), conversation_id)
        return None if score is None else int(score)

    def recent(self, account: str, limit: int = 100) -> list[tuple[str, int]]:
        """(conversation id, last send ms), most recent first."""
        raw: list[tuple[bytes, float]] = self.client.zrevrange(  # type: ignore[assignment]
            keys.activity_index(self.channel, account), 0, limit - 1, withscores=True
        )
        return [(as_text(member), int(score)) for member, score in raw]

