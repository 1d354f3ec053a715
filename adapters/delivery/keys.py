"""Every Redis key of the delivery engine, built here and nowhere else (each platform has its own `keys.py`).

    tether:dlq:{id}                 string   JSON of a DeadLetter
    tether:dlq:index                zset     dead-letter id -> deadAt (ms)
    tether:delivery:{id}            hash     ledger record of one delivery (see adapters/delivery/ledger.py)
    tether:deliveries:watch         zset     delivery id -> ms by which it must have progressed (lease deadline,
                                             retry time + grace); the lease reaper reads it, never a SCAN
    tether:stats:deliveries         hash     "{channel}:{result}" -> count of delivery outcomes
"""

from __future__ import annotations

PREFIX = "tether:"


def dead_letter(dead_letter_id: str) -> str:
    return f"{PREFIX}dlq:{dead_letter_id}"


def dead_letter_index() -> str:
    return f"{PREFIX}dlq:index"


def delivery(delivery_id: str) -> str:
    return f"{PREFIX}delivery:{delivery_id}"


def delivery_watch() -> str:
    return f"{PREFIX}deliveries:watch"


def delivery_stats() -> str:
    return f"{PREFIX}stats:deliveries"

