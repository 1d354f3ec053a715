"""Every Redis key of the Discord adapter, built here and nowhere else (prefix `tether:discord:`).

Rate limits (shared by every worker process; see ratelimit.py):
    tether:discord:rl:{account}:routes                     hash    route key ("POST /channels/{channel}/messages")
                                                                   -> bucket hash learned from X-RateLimit-Bucket
    tether:discord:rl:{account}:bucket:{hash}:{major}      hash    limit, remaining, reset_at, server_reset, ...
    tether:discord:rl:{account}:global                     zset    sliding window of bot requests (member -> ms)
    tether:discord:rl:{account}:global-block               string  ms until which a global 429 blocks everyone
    tether:discord:rl:invalid:{window}                     string  401/403/429 answers in 10-minute window #window

Webhooks (one per parent channel, reused by every binding and process):
    tether:discord:webhook:{account}:{parent}              string  JSON {"id", "token"} — the token is a secret
    tether:discord:webhook-lock:{account}:{parent}         string  held while one process finds or creates it

Sends:
    tether:discord:attempt:{idempotency key}               string  JSON of the first attempt (time, path, channel)
    tether:discord:claim:{message id}                      string  the idempotency key of the chunk this message is
    tether:discord:activity:{account}                      zset    conversation id -> last outbound send (ms)
    tether:discord:activity:{account}:{conversation}       hash    lastOutboundAt, lastMessageId, lastVia, sends

Bound threads the sweeper watches:
    tether:discord:threads                                 zset    "{account}:{thread}" -> when to look next (ms)
"""

from __future__ import annotations

from adapters.activity import keys as activity_keys

PREFIX = "tether:discord:"


def route_buckets(account: str) -> str:
    return f"{PREFIX}rl:{account}:routes"


def bucket(account: str, bucket_hash: str, major: str) -> str:
    return f"{PREFIX}rl:{account}:bucket:{bucket_hash}:{major}"


def global_window(account: str) -> str:
    return f"{PREFIX}rl:{account}:global"


def global_block(account: str) -> str:
    return f"{PREFIX}rl:{account}:global-block"


def invalid_requests(window: int) -> str:
    return f"{PREFIX}rl:invalid:{window}"


def webhook(account: str, parent_id: str) -> str:
    return f"{PREFIX}webhook:{account}:{parent_id}"


def webhook_lock(account: str, parent_id: str) -> str:
    return f"{PREFIX}webhook-lock:{account}:{parent_id}"


def attempt(idempotency_key: str) -> str:
    return f"{PREFIX}attempt:{idempotency_key}"


def claim(message_id: str) -> str:
    return f"{PREFIX}claim:{message_id}"


def activity_index(account: str) -> str:
    return activity_keys.activity_index("discord", account)  # the shared activity log's key, named once there


def activity(account: str, conversation_id: str) -> str:
    return activity_keys.activity("discord", account, conversation_id)


def bound_threads() -> str:
    return f"{PREFIX}threads"
