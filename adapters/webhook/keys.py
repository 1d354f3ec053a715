"""Every Redis key of the webhook adapter, built here and nowhere else (prefix `tether:webhook:`).

    tether:webhook:rl:{account}                   hash    the endpoint's shared limit (adapters.ratelimit): GCRA
                                                          state for `rateLimit.globalPerSecond`, and the block a
                                                          receiver's 429 Retry-After sets for every process
    tether:webhook:activity:{account}             zset    conversation id -> last successful send (ms)
"""

from __future__ import annotations

PREFIX = "tether:webhook:"


def rate_limit(account: str) -> str:
    return f"{PREFIX}rl:{account}"


def activity(account: str) -> str:
    return f"{PREFIX}activity:{account}"
