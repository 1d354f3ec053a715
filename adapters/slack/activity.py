"""Outbound activity: when tether last sent to each Slack conversation (the thread, or the channel for a root post).

Per account, a sorted set orders conversations by their last send (`keys.activity_index`), and a small hash per
conversation (`keys.activity`) keeps `lastOutboundAt` (ms), `lastMessageId` (the message ts) and a `sends` counter.
Entries live `retention_s` after the last send. (The same shape as Discord's log, under Slack's keys.)
"""

from __future__ import annotations

import redis

from adapters.slack import keys
from bindings.clock import SYSTEM_CLOCK, Clock

DEFAULT_RETENTION_S = 30 * 86_400


class ActivityLog:
    def __init__(self, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK,
                 retention_s: int = DEFAULT_RETENTION_S) -> None:
        self.client = client
        self.clock = clock
        self.retention_s = retention_s

    def record(self, account: str, conversation_id: str, message_ts: str) -> int:
        now = self.clock.now_ms()
        key, index = keys.activity(account, conversation_id), keys.activity_index(account)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping={"lastOutboundAt": now, "lastMessageId": message_ts})
        pipe.hincrby(key, "sends", 1)
        pipe.expire(key, self.retention_s)
        pipe.zadd(index, {conversation_id: now})
        pipe.zremrangebyscore(index, "-inf", now - self.retention_s * 1000)
        pipe.expire(index, self.retention_s)
        pipe.execute()
        return now

    def sends(self, account: str, conversation_id: str) -> int:
        raw = self.client.hget(keys.activity(account, conversation_id), "sends")
        return int(raw) if raw is not None else 0

    def last_outbound_at(self, account: str, conversation_id: str) -> int | None:
        score = self.client.zscore(keys.activity_index(account), conversation_id)
        return None if score is None else int(score)
