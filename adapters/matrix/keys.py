"""Every Redis key of the Matrix adapter, built here and nowhere else (prefix `tether:matrix:`).

    tether:matrix:rl:{account}                     string  GCRA state of the account's sends (adapters/ratelimit)
    tether:matrix:rl:{account}:room:{room}         string  GCRA state of the account's sends into one room
    tether:matrix:threads                          zset    "{account}\\x1f{room}\\x1f{root}" -> when the sweeper looks
                                                           next (ms)
    tether:matrix:moved:{account}:{conversation}   string  JSON ConversationRef a tombstoned room's conversation moved
                                                           to (the replacement room, or a new thread in it)
Activity (shared helper): tether:matrix:activity:{account}[:{room}] (adapters/keys.py).
"""

from __future__ import annotations

PREFIX = "tether:matrix:"
SEP = "\x1f"


def account_limit(account: str) -> str:
    return f"{PREFIX}rl:{account}"


def room_limit(account: str, room_id: str) -> str:
    return f"{PREFIX}rl:{account}:room:{room_id}"


def watched_threads() -> str:
    return f"{PREFIX}threads"


def moved(account: str, conversation_id: str) -> str:
    return f"{PREFIX}moved:{account}:{conversation_id}"
