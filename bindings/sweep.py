"""Ending due bindings: `sweep_once` ends every binding whose deadline has passed, with `idle-expired` or
`max-age-expired`.

Cost O(expired): the shard directory (`tether:{b}:xd`, score ≤ earliest deadline per expiry shard) names the only
shards with anything due; each shard is swept by one Lua script that checks and ends in one step, so any number
of sweepers may run at once and every binding still ends exactly once.
"""

from __future__ import annotations

import redis

from bindings import keys
from bindings.model import SessionBindingRecord
from bindings.replies import as_text
from bindings.service import SessionBindingService

_SHARDS_PER_READ = 64


def sweep_once(
    target: SessionBindingService | redis.Redis, now_ms: int | None = None, limit: int = 1000
) -> list[SessionBindingRecord]:
    """End up to `limit` bindings due at `now_ms` (default: the service's clock) and return them.

    Given a client instead of a service, uses the built-in configuration and notifies no listeners.
    """
    svc = target if isinstance(target, SessionBindingService) else SessionBindingService(target)
    now = svc.clock.now_ms() if now_ms is None else now_ms
    ended: list[SessionBindingRecord] = []
    directory = keys.expiry_directory()
    while len(ended) < limit:
        raw_shards = svc.client.zrangebyscore(directory, "-inf", now, start=0, num=_SHARDS_PER_READ)
        if not raw_shards:
            break
        for raw in raw_shards:
            shard = as_text(raw)
            result = svc.scripts.run(
                "sweep",
                [keys.expiry_shard(shard), directory, keys.events(), keys.active_count()],
                [keys.PREFIX, now, svc.grace_ms, limit - len(ended), shard],
            )
            records = svc.decode_many(result[1:])
            svc.notify_ended(records)
            ended += records
            if len(ended) >= limit:
                break
    return ended
