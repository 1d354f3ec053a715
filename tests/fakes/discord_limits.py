"""Discord's rate limits as the local API enforces them.

How Discord does it (https://discord.com/developers/docs/topics/rate-limits), and what is copied here:

- Per-route buckets. A route's bucket is named by an opaque hash (`X-RateLimit-Bucket`) and counted separately per
  top-level resource in the path (the "major parameter": the channel id, or the webhook id), so exhausting the
  message bucket of channel A leaves channel B untouched. A bucket is a fixed window: it opens with its first
  request, allows `limit` requests, and resets `window_ms` later. Every response of a limited route carries
  `X-RateLimit-Limit`, `-Remaining`, `-Reset` (epoch seconds, float), `-Reset-After` (seconds, float) and `-Bucket`.
- The global limit: 50 requests per second per bot token across all routes (webhook executions with the token in
  the URL do not count). Hitting it gives a 429 with `"global": true`, `X-RateLimit-Global: true` and
  `X-RateLimit-Scope: global`, and no bucket headers.
- A 429 blocks its bucket (or everything, for global) until `retry_after`; requests sent earlier get 429 again.

Times are integer milliseconds from the fake's clock, so tests can move time instead of sleeping.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bindings.errors import InvalidInput


@dataclass(frozen=True)
class RouteLimit:
    limit: int
    window_ms: int

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise InvalidInput("limit", f"must be >= 1, got {self.limit}")
        if self.window_ms < 1:
            raise InvalidInput("window_s", f"must be >= 0.001, got {self.window_ms / 1000}")


@dataclass
class _Window:
    reset_at_ms: int = 0
    used: int = 0
    blocked_until_ms: int = 0


@dataclass(frozen=True)
class BucketVerdict:
    """The outcome of one request against its route bucket, and the header values to send back."""

    allowed: bool
    bucket: str
    limit: int
    remaining: int
    reset_at_ms: int
    retry_after_ms: int

    def headers(self, now_ms: int, epoch_offset_ms: int) -> list[tuple[str, str]]:
        reset_after_s = max(0, self.reset_at_ms - now_ms) / 1000
        return [
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Remaining", str(self.remaining)),
            ("X-RateLimit-Reset", f"{(self.reset_at_ms + epoch_offset_ms) / 1000:.3f}"),
            ("X-RateLimit-Reset-After", f"{reset_after_s:.3f}"),
            ("X-RateLimit-Bucket", self.bucket),
        ]


def bucket_hash(route_name: str) -> str:
    """An opaque, stable, Discord-looking bucket id for a route (same for every major parameter)."""
    return hashlib.blake2s(route_name.encode(), digest_size=16).hexdigest()


class RateLimiter:
    """Per-route fixed windows keyed by (route, major parameter) plus one global window for bot requests.

    Not thread-safe: the caller holds the fake's state lock.
    """

    def __init__(self, limits: dict[str, RouteLimit], default: RouteLimit, global_limit: RouteLimit) -> None:
        self._limits = dict(limits)
        self._default = default
        self.global_limit = global_limit
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global = _Window()

    def limit_for(self, route: str) -> RouteLimit:
        return self._limits.get(route, self._default)

    def set_limit(self, route: str, limit: RouteLimit) -> None:
        self._limits[route] = limit
        # A changed limit starts from a fresh window rather than mixing two budgets.
        for key in [k for k in self._windows if k[0] == route]:
            del self._windows[key]

    def set_global_limit(self, limit: RouteLimit) -> None:
        self.global_limit = limit
        self._global = _Window()

    def limits(self) -> dict[str, RouteLimit]:
        return dict(self._limits)

    def acquire_global(self, now_ms: int) -> int:
        """Take one request from the global window; 0 when allowed, else the milliseconds to wait."""
        win = self._global
        if now_ms < win.blocked_until_ms:
            return win.blocked_until_ms - now_ms
        if now_ms >= win.reset_at_ms:
            win.reset_at_ms = now_ms + self.global_limit.window_ms
            win.used = 0
        if win.used >= self.global_limit.limit:
            return win.reset_at_ms - now_ms
        win.used += 1
        return 0

    def acquire(self, route: str, major: str, now_ms: int) -> BucketVerdict:
        lim = self.limit_for(route)
        win = self._windows.setdefault((route, major), _Window())
        if now_ms < win.blocked_until_ms:
            return self._denied(route, lim, win.blocked_until_ms, now_ms)
        if now_ms >= win.reset_at_ms:
            win.reset_at_ms = now_ms + lim.window_ms
            win.used = 0
        if win.used >= lim.limit:
            return self._denied(route, lim, win.reset_at_ms, now_ms)
        win.used += 1
        return BucketVerdict(
            allowed=True,
            bucket=bucket_hash(route),
            limit=lim.limit,
            remaining=lim.limit - win.used,
            reset_at_ms=win.reset_at_ms,
            retry_after_ms=0,
        )

    @staticmethod
    def _denied(route: str, lim: RouteLimit, until_ms: int, now_ms: int) -> BucketVerdict:
        return BucketVerdict(
            allowed=False,
            bucket=bucket_hash(route),
            limit=lim.limit,
            remaining=0,
            reset_at_ms=until_ms,
            retry_after_ms=max(1, until_ms - now_ms),
        )

    def block(self, route: str, major: str, until_ms: int) -> None:
        """Exhaust a bucket until `until_ms` (what a 429 promises, also when the 429 was injected)."""
        win = self._windows.setdefault((route, major), _Window())
        win.blocked_until_ms = max(win.blocked_until_ms, until_ms)
        win.reset_at_ms = max(win.reset_at_ms, until_ms)
        win.used = self.limit_for(route).limit

    def block_global(self, until_ms: int) -> None:
        self._global.blocked_until_ms = max(self._global.blocked_until_ms, until_ms)

    def reset(self) -> None:
        self._windows.clear()
        self._global = _Window()
