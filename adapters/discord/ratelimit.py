"""Discord rate limits, shared by every worker process through Redis.

How Discord limits a bot (https://discord.com/developers/docs/topics/rate-limits):

- **Buckets.** Each route belongs to a bucket named by an opaque hash, announced in the `X-RateLimit-Bucket` header
  of its answers. Several routes may share a hash. A bucket is counted separately per *major parameter* — the
  top-level resource in the path (channel id, webhook id) — so `POST /channels/1/messages` and
  `POST /channels/2/messages` share a hash but not a budget. The real bucket is therefore `(hash, major)`.
- **Headers.** Every answer of a limited route says `X-RateLimit-Limit` (requests per window), `-Remaining` (left in
  this window), `-Reset` (epoch seconds when the window resets, the same for every answer of one window) and
  `-Reset-After` (seconds from now until then).
- **429.** Going over gives a 429 whose JSON body has a float `retry_after` (seconds) and `global`; the
  `X-RateLimit-Scope` header says `user`, `global` or `shared`. A global 429 stops *every* route of the bot.
- **Global limit.** 50 requests per second per bot token, whatever the route (webhook executions, authenticated by
  the token in their path, do not count).
- **Invalid requests.** 10,000 answers of 401, 403 or 429 (except `shared` 429s) in 10 minutes get the IP banned
  by Cloudflare for an hour.

What this module does about it, for all processes at once (the state lives in Redis, changed only by Lua scripts):

1. Before a request, `acquire` reserves one request on the route's bucket: it looks the route's hash up (learned from
   earlier answers; a route never answered yet gets a placeholder bucket on which one request at a time probes the
   limits), then a script takes one from `remaining` — or, when the bucket is exhausted, returns how long to wait,
   and the caller sleeps *before* sending anything. The same script enforces the global limit proactively (a
   sliding window of bot requests, slightly longer than a second so network jitter cannot push 51 requests into
   one server-side second), refuses while a global 429 is in force, and stops everything when the invalid-request
   count nears the ceiling (default 5,000 in the current plus previous 10-minute window, half of Discord's ban).
2. After the answer, `update` folds its headers in: the route's hash is recorded, and the bucket takes the lower of
   its own `remaining` and the server's (requests reserved by other processes may still be in flight). Answers of
   an older window, arriving late, are recognised by their `X-RateLimit-Reset` and ignored.
3. A 429 exhausts its bucket — or, when global, blocks the whole account — until `retry_after` from now, and counts
   as an invalid request, like 401 and 403 answers.

When a window is over, the next reservation opens a new one with the learned limit and a provisional reset time
(the longest window seen plus a margin). That first request of a window goes alone: the others wait (polling) for
its answer, which confirms the server's reset time and shows a 429 before anyone else runs into it. An answer
without rate-limit headers, or none at all, releases the bucket again. Times are ms from an
injectable clock; all processes should share a clock (one host, or NTP).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import redis

from adapters.discord import keys
from adapters.discord.errors import InvalidRequestCeiling
from adapters.discord.routes import CompiledRoute
from adapters.protocol import RetryableError
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.lua import ScriptSet
from bindings.replies import as_text

log = logging.getLogger("tether.discord.ratelimit")

PLACEHOLDER_PREFIX = "unknown:"
INVALID_WINDOW_MS = 600_000

GRANTED, BUCKET, GLOBAL_RATE, GLOBAL_BLOCK, CEILING, OPENING = range(6)
_VERDICTS = {BUCKET: "bucket", GLOBAL_RATE: "global-rate", GLOBAL_BLOCK: "global-429", CEILING: "invalid-ceiling",
             OPENING: "opening"}
_POLL_MS = 20  # how often to look again while the request that opened a window awaits its answer


@dataclass(frozen=True)
class RateLimitSettings:
    global_per_s: int = 50  # Discord's global limit; 0 turns the proactive limit off
    global_margin_ms: int = 50  # the window is a little over a second: see the module docstring
    invalid_ceiling: int = 5000  # per ten minutes (current + previous window); 0 disables the ceiling
    probe_ms: int = 5000
    new_window_margin_ms: int = 50
    reset_tolerance_ms: int = 20
    bucket_ttl_ms: int = 3_600_000
    max_wait_s: float = 10.0  # longer waits fail the attempt as retryable instead of holding the lease

    def __post_init__(self) -> None:
        if min(self.global_per_s, self.global_margin_ms, self.invalid_ceiling, self.max_wait_s, self.probe_ms) < 0:
            raise ValueError("rate-limit settings must not be negative")

    @property
    def global_window_ms(self) -> int:
        return 1000 + self.global_margin_ms


@dataclass(frozen=True)
class Reservation:
    """One request's permission to go out; hand it back to `update`/`rate_limited`/`release` with the answer."""

    account: str
    route_key: str
    major: str
    bucket_key: str
    placeholder: bool  # reserved on a stand-in bucket: the route's hash was not known yet
    opener: bool  # this request opens the bucket's window; the others wait for its answer
    at_ms: int


@dataclass(frozen=True)
class Wait:
    """Not now: how long, and why (`bucket`, `global-rate`, `global-429`, `invalid-ceiling`)."""

    wait_ms: int
    why: str


@dataclass(frozen=True)
class BucketHeaders:
    bucket: str
    limit: int
    remaining: int
    reset_after_s: float
    reset_epoch_s: float | None

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> BucketHeaders | None:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            bucket = lowered["x-ratelimit-bucket"]
            limit = int(lowered["x-ratelimit-limit"])
            remaining = int(lowered["x-ratelimit-remaining"])
            reset_after_s = float(lowered["x-ratelimit-reset-after"])
        except (KeyError, ValueError):
            return None
        reset_raw = lowered.get("x-ratelimit-reset")
        try:
            reset_epoch_s = float(reset_raw) if reset_raw is not None else None
        except ValueError:
            reset_epoch_s = None
        return cls(bucket, limit, remaining, reset_after_s, reset_epoch_s)


ScriptName = Literal["rl_acquire", "rl_update", "rl_block"]
SCRIPTS: ScriptSet[ScriptName] = ScriptSet(
    "adapters.discord", {name: (name,) for name in ("rl_acquire", "rl_update", "rl_block")})


class RateLimiter:
    """The shared bucket state of one Redis; safe to use from several threads and processes."""

    def __init__(
        self,
        client: redis.Redis,
        settings: RateLimitSettings | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.settings = settings or RateLimitSettings()
        self.clock = clock
        self.sleep = sleep
        self._routes: dict[tuple[str, str], str] = {}  # (account, route key) -> bucket hash, learned once

    # -- reserving -----------------------------------------------------------------------------------------------

    def try_acquire(self, account: str, route: CompiledRoute) -> Reservation | Wait:
        bucket_hash = self._bucket_hash(account, route.key)
        placeholder = bucket_hash is None
        bucket_key = keys.bucket(account, bucket_hash or PLACEHOLDER_PREFIX + route.key, route.major)
        now = self.clock.now_ms()
        s = self.settings
        window = now // INVALID_WINDOW_MS
        verdict, wait_ms, *rest = self._run(
            "rl_acquire",
            [
                bucket_key,
                keys.global_window(account),
                keys.global_block(account),
                keys.invalid_requests(window),
                keys.invalid_requests(window - 1),
            ],
            [
                now,
                s.global_per_s if route.route.bot_auth else 0,
                s.global_window_ms,
                uuid.uuid4().hex,
                s.invalid_ceiling,
                (window + 1) * INVALID_WINDOW_MS - now,
                s.probe_ms,
                s.new_window_margin_ms,
                s.bucket_ttl_ms,
            ],
        )
        if verdict == GRANTED:
            return Reservation(account, route.key, route.major, bucket_key, placeholder, bool(rest and rest[0]), now)
        return Wait(int(wait_ms), _VERDICTS[int(verdict)])

    def acquire(self, account: str, route: CompiledRoute, *, max_wait_s: float | None = None) -> Reservation:
        """Wait (sleeping) until the request may go out. Waits longer than `max_wait_s` in total raise
        `RetryableError(retry_after_s=…)` (or `InvalidRequestCeiling`) instead: the delivery is tried again later."""
        budget_ms = (self.settings.max_wait_s if max_wait_s is None else max_wait_s) * 1000
        waited_ms = 0.0
        while True:
            got = self.try_acquire(account, route)
            if isinstance(got, Reservation):
                return got
            if got.why == "invalid-ceiling":
                log.error("invalid-request ceiling reached; refusing to call discord",
                          extra={"account": account, "route": route.key, "wait_ms": got.wait_ms})
                raise InvalidRequestCeiling(
                    f"discord: {self.settings.invalid_ceiling} invalid requests in 10 minutes; pausing",
                    retry_after_s=got.wait_ms / 1000,
                )
            # A window's first request is out and its answer will free the bucket early (or, for a route this
            # process has not seen answered, tell the route's real bucket): look again soon.
            soon = got.why == "opening" or self._bucket_hash(account, route.key) is None
            step_ms = min(got.wait_ms, _POLL_MS) if soon else got.wait_ms
            if waited_ms + step_ms > budget_ms:
                raise RetryableError(
                    f"discord {route.key}: rate limited ({got.why}) for {got.wait_ms / 1000:.3f}s more",
                    retry_after_s=got.wait_ms / 1000,
                    reason="rate-limited",
                )
            self.sleep(step_ms / 1000)
            waited_ms += step_ms

    # -- learning from answers -----------------------------------------------------------------------------------

    def update(self, reservation: Reservation, headers: Mapping[str, str]) -> None:
        """Fold an answer's rate-limit headers in; an answer without them frees the bucket if this request opened
        its window."""
        parsed = BucketHeaders.parse(headers)
        if parsed is None:
            self.release(reservation)
            return
        now = self.clock.now_ms()
        reset_after_ms = round(parsed.reset_after_s * 1000)
        server_reset_ms = (
            round(parsed.reset_epoch_s * 1000) if parsed.reset_epoch_s is not None else now + reset_after_ms
        )
        bucket_key = keys.bucket(reservation.account, parsed.bucket, reservation.major)
        s = self.settings
        self._run(
            "rl_update",
            [bucket_key, keys.route_buckets(reservation.account), reservation.bucket_key],
            [
                reservation.route_key,
                parsed.bucket,
                parsed.limit,
                parsed.remaining,
                now + reset_after_ms,
                server_reset_ms,
                reset_after_ms,
                s.bucket_ttl_ms,
                s.reset_tolerance_ms,
                now + s.probe_ms,
                now,
            ],
        )
        self._routes[(reservation.account, reservation.route_key)] = parsed.bucket

    def rate_limited(
        self, reservation: Reservation, headers: Mapping[str, str], *, retry_after_s: float, is_global: bool,
        scope: str | None,
    ) -> None:
        """A 429: exhaust the bucket (or block the account) until `retry_after_s` from now."""
        self.update(reservation, headers)
        now = self.clock.now_ms()
        until_ms = now + max(1, round(retry_after_s * 1000))
        bucket_key = self._current_bucket_key(reservation, headers)
        mode = "global" if is_global else "bucket"
        self._run("rl_block", [bucket_key, keys.global_block(reservation.account)],
                  [until_ms, mode, self.settings.bucket_ttl_ms, now])
        if scope != "shared":  # Discord does not count shared-resource 429s against the ban threshold
            self.count_invalid()
        log.warning("discord 429", extra={"account": reservation.account, "route": reservation.route_key,
                                          "retry_after_s": retry_after_s, "global": is_global, "scope": scope})

    def release(self, reservation: Reservation) -> None:
        """The request got no usable answer: if it opened the bucket's window, let the others go (or, while the
        limit is unknown, let the next request find it out)."""
        if reservation.opener:
            self._run("rl_block", [reservation.bucket_key, keys.global_block(reservation.account)],
                      [0, "release", self.settings.bucket_ttl_ms, self.clock.now_ms()])

    def count_invalid(self) -> None:
        key = keys.invalid_requests(self.clock.now_ms() // INVALID_WINDOW_MS)
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(key)
        pipe.pexpire(key, 2 * INVALID_WINDOW_MS + 60_000)
        pipe.execute()

    def invalid_count(self) -> int:
        """Invalid answers in the current and previous 10-minute windows (what the ceiling compares against)."""
        window = self.clock.now_ms() // INVALID_WINDOW_MS
        raw = self.client.mget([keys.invalid_requests(window), keys.invalid_requests(window - 1)])
        return sum(int(v) for v in raw if v is not None)

    # -- internals ------------------------------------------------------------------------------------------------

    def _bucket_hash(self, account: str, route_key: str) -> str | None:
        cached = self._routes.get((account, route_key))
        if cached is not None:
            return cached
        raw = self.client.hget(keys.route_buckets(account), route_key)
        if raw is None:
            return None
        value = as_text(raw)
        self._routes[(account, route_key)] = value
        return value

    def _current_bucket_key(self, reservation: Reservation, headers: Mapping[str, str]) -> str:
        parsed = BucketHeaders.parse(headers)
        if parsed is not None:
            return keys.bucket(reservation.account, parsed.bucket, reservation.major)
        known = self._bucket_hash(reservation.account, reservation.route_key)
        return keys.bucket(reservation.account, known, reservation.major) if known else reservation.bucket_key

    def _run(self, name: ScriptName, keys_: list[str], args: list[Any]) -> Any:
        return SCRIPTS.run(self.client, name, keys_, args)
