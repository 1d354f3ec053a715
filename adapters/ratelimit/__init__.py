"""Rate limits shared by every worker process of a platform, enforced *before* sending.

A platform's limits are stated as rates with a burst ("about one message per second per channel, short bursts
tolerated", "30 messages per second per bot", "20 per minute per group"). Each is a `Rate` on a Redis key the adapter
names (its package's `keys.py`); a send asks for all the limits it falls under at once, and `SharedLimiter.acquire`
waits until every one of them admits it, reserving them together in one Lua script (GCRA: the state per limit is one
timestamp, so any number of processes share it exactly and nothing needs a sweeper).

A 429 from the platform is folded in with `block(key, retry_after_s)`: every process then waits on that limit until
the platform's `Retry-After` has passed. A wait longer than the caller allows ends the attempt as retryable, so the
delivery engine's backoff (and its lease) take over instead of a worker sleeping for minutes.

Times come from an injectable clock (ms, kept in Redis as µs so fast rates stay exact); processes on several
hosts should share a clock (NTP).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import redis

from adapters.protocol import RetryableError
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.lua import ScriptSet


@dataclass(frozen=True)
class Rate:
    """`per_s` sends per second sustained; up to `burst` of them may go back to back."""

    per_s: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not self.per_s > 0:
            raise ValueError(f"Rate.per_s must be positive, got {self.per_s}")
        if self.burst < 1:
            raise ValueError(f"Rate.burst must be at least 1, got {self.burst}")

    @classmethod
    def per_minute(cls, count: float, *, burst: int = 1) -> Rate:
        return cls(per_s=count / 60.0, burst=burst)

    @property
    def interval_us(self) -> int:
        return max(1, round(1_000_000 / self.per_s))


class RateLimited(RetryableError):
    """The wait for a slot would be longer than the caller allows: try the delivery again after it."""

    reason = "rate-limited"
    unsent = True  # raised before anything was sent


SCRIPTS: ScriptSet[Literal["acquire", "block"]] = ScriptSet("adapters.ratelimit",
                                                            {"acquire": ("acquire",), "block": ("block",)})


class SharedLimiter:
    def __init__(self, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self.client = client

    def try_acquire(self, limits: Sequence[tuple[str, Rate]]) -> float:
        """Reserve one send under every limit now (→ 0.0), or say how many seconds to wait (nothing reserved)."""
        if not limits:
            return 0.0
        args: list[int] = [self.clock.now_ms() * 1000]
        for _, rate in limits:
            args += [rate.interval_us, rate.burst]
        wait_us = int(SCRIPTS.run(self.client, "acquire", [key for key, _ in limits], args))
        return wait_us / 1_000_000

    def acquire(self, limits: Sequence[tuple[str, Rate]], *, max_wait_s: float) -> float:
        """Wait until every limit admits one more send and reserve it; returns the seconds waited. Raises
        `RateLimited` (retryable, with the wait) instead of waiting longer than `max_wait_s` in all."""
        waited = 0.0
        while True:
            wait_s = self.try_acquire(limits)
            if wait_s <= 0:
                return waited
            if waited + wait_s > max_wait_s:
                raise RateLimited(f"rate limit: next slot in {wait_s:.3f}s (waited {waited:.3f}s)",
                                  retry_after_s=wait_s)
            self.sleep(wait_s)
            waited += wait_s

    def block(self, key: str, retry_after_s: float) -> None:
        """The platform said 429 on this limit: no process sends under it for `retry_after_s`."""
        SCRIPTS.run(self.client, "block", [key], [self.clock.now_ms() * 1000, max(0, round(retry_after_s * 1_000_000))])
