"""Every Redis key of the `adapters` package, built here and nowhere else (Discord: `adapters/discord/keys.py`).

    tether:dlq:{id}                 string   JSON of a DeadLetter
    tether:dlq:index                zset     dead-letter id -> deadAt (ms)
    tether:delivery:{id}            hash     ledger record of one delivery (see adapters/ledger.py)
    tether:deliveries:watch         zset     delivery id -> ms by which it must have progressed (lease deadline,
                                             retry time + grace); the lease reaper reads it, never a SCAN
    tether:stats:deliveries         hash     "{channel}:{result}" -> count of delivery outcomes
    tether:console:sent:{key}       string   console adapter: message id already printed for an idempotency key
    tether:console:threads          string   console provisioner: counter naming child "threads"
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


def console_sent(idempotency_key: str) -> str:
    return f"{PREFIX}console:sent:{idempotency_key}"


def console_threads() -> str:
    return f"{PREFIX}console:threads"
