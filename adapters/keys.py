"""Every Redis key of the `adapters` package, built here and nowhere else.

    tether:dlq:{id}            string   JSON of a DeadLetter
    tether:dlq:index           zset     dead-letter id -> deadAt (ms)
"""

from __future__ import annotations

PREFIX = "tether:"


def dead_letter(dead_letter_id: str) -> str:
    return f"{PREFIX}dlq:{dead_letter_id}"


def dead_letter_index() -> str:
    return f"{PREFIX}dlq:index"
