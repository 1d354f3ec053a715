"""Every Redis key of the Slack adapter, built here and nowhere else (prefix `tether:slack:`).

Rate limits (GCRA state of `adapters.ratelimit.SharedLimiter`, shared by every worker process):
    tether:slack:rl:{account}:post:{channel}       chat.postMessage into one channel (~1/s, short bursts)
    tether:slack:rl:{account}:post                 chat.postMessage across the workspace (only if configured)
    tether:slack:rl:{account}:method:{method}      every other Web API method, by Slack's tier

Sends:
    tether:slack:no-customize:{account}            string  set while the workspace refuses username/icon_url
                                                           (missing chat:write.customize); expires, then tried again
    tether:slack:activity:{account}                zset    conversation -> last outbound send (ms)
    tether:slack:activity:{account}:{conversation} hash    lastOutboundAt, lastMessageId, sends

Bound threads the sweeper's conversation check watches:
    tether:slack:threads                           zset    "{account}|{channel}|{thread ts}" -> when to look next (ms)
"""

from __future__ import annotations

PREFIX = "tether:slack:"


def post_limit(account: str, channel: str) -> str:
    return f"{PREFIX}rl:{account}:post:{channel}"


def post_workspace_limit(account: str) -> str:
    return f"{PREFIX}rl:{account}:post"


def method_limit(account: str, method: str) -> str:
    return f"{PREFIX}rl:{account}:method:{method}"


def no_customize(account: str) -> str:
    return f"{PREFIX}no-customize:{account}"


def activity_index(account: str) -> str:
    return f"{PREFIX}activity:{account}"


def activity(account: str, conversation_id: str) -> str:
    return f"{PREFIX}activity:{account}:{conversation_id}"


def bound_threads() -> str:
    return f"{PREFIX}threads"
