"""Every Redis key of the shared outbound activity log, built here and nowhere else.

    tether:{channel}:activity:{account}                  zset  conversation id -> last outbound send (ms)
    tether:{channel}:activity:{account}:{conversation}   hash  lastOutboundAt, lastMessageId, lastVia, sends

(Discord's keys keep the names they had: `tether:discord:activity:…`.)
"""

from __future__ import annotations

PREFIX = "tether:"


def activity_index(channel: str, account: str) -> str:
    return f"{PREFIX}{channel}:activity:{account}"


def activity(channel: str, account: str, conversation_id: str) -> str:
    return f"{PREFIX}{channel}:activity:{account}:{conversation_id}"
