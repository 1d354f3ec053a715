"""The index of Matrix threads the sweeper watches: every thread tether created or delivered a bound message to.

One sorted set (`keys.watched_threads`), member "{account}\\x1f{room}\\x1f{root}", score = when to look next (ms), so
the sweeper reads only the due ones (never a scan of all bindings).
"""

from __future__ import annotations

import redis

from adapters.matrix import keys
from bindings.clock import SYSTEM_CLOCK, Clock

DEFAULT_INTERVAL_S = 60.0


class ThreadIndex:
    def __init__(self, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.client = client
        self.clock = clock

    @staticmethod
    def _member(account: str, room_id: str, root: str) -> str:
        return keys.SEP.join((account, room_id, root))

    def watch(self, account: str, room_id: str, root: str, *, after_s: float = DEFAULT_INTERVAL_S) -> None:
        """Start watching (a thread already watched keeps its due time)."""
        due = self.clock.now_ms() + int(after_s * 1000)
        self.client.zadd(keys.watched_threads(), {self._member(account, room_id, root): due}, nx=True)

    def reschedule(self, account: str, room_id: str, root: str, *, after_s: float) -> None:
        due = self.clock.now_ms() + int(after_s * 1000)
        self.client.zadd(keys.watched_threads(), {self._member(account, room_id, root): due}, xx=True)

    def unwatch(self, account: str, room_id: str, root: str) -> None:
        self.client.zrem(keys.watched_threads(), self._member(account, room_id, root))

    def due(self, limit: int = 100) -> list[tuple[str, str, str]]:
        raw = self.client.zrangebyscore(keys.watched_threads(), "-inf", self.clock.now_ms(), start=0, num=limit)
        out: list[tuple[str, str, str]] = []
        for item in raw:
            parts = (item.decode() if isinstance(item, bytes) else str(item)).split(keys.SEP)
            if len(parts) == 3:
                out.append((parts[0], parts[1], parts[2]))
        return out
