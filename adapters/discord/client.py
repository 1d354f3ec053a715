"""One Discord REST client and its one request loop.

For every request: resolve the bot token (at each attempt, so a rotated token is used at once), reserve a slot in
the shared rate limiter (sleeping while the bucket or the global limit says so), send, then:

- 2xx → fold the rate-limit headers in, return the JSON body;
- 429 → exhaust the bucket (or block the account, when global) until `retry_after`, count an invalid request, and
  go round again — the limiter does the waiting, so nothing is sent before the time Discord gave;
- 5xx, timeouts, dropped connections → for a request that is safe to repeat (reads, unarchiving, a message create
  carrying an enforced nonce) bounded exponential backoff with jitter; for one that is not (webhook execution,
  creating a thread or a webhook) `OutcomeUnknown` at once, because the caller must first look whether it took
  effect. A connection that was never established is always safe to retry;
- any other error → `DiscordApiError` (status, JSON code, message), decided on by `errors.classify`; 401 and 403
  count as invalid requests.

Logs and errors name the route template, never the path: a webhook's path holds its token.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from adapters.discord.errors import DiscordApiError, OutcomeUnknown
from adapters.discord.metrics import RESPONSES
from adapters.discord.ratelimit import RateLimiter
from adapters.discord.routes import CompiledRoute
from adapters.discord.tokens import TokenSource
from adapters.protocol import RetryableError

log = logging.getLogger("tether.discord.http")
# httpx logs every request's URL at INFO and httpcore its headers at DEBUG: a webhook URL holds the webhook's token
# and the headers the bot token. tether logs its requests itself (route templates only).
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

DEFAULT_API_BASE = "https://discord.com/api/v10"
USER_AGENT = "DiscordBot (https://github.com/tether, 0.1.0) tether"

_decoder = msgspec.json.Decoder()


@dataclass(frozen=True)
class ClientSettings:
    api_base: str = DEFAULT_API_BASE
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    max_server_retries: int = 3  # 5xx / timeouts on requests safe to repeat
    backoff_base_s: float = 0.25
    backoff_max_s: float = 4.0
    max_rate_limited: int = 5  # 429s in one call before it gives up (as retryable)


class DiscordClient:
    """Synchronous; one `httpx.Client` (connection pool) per instance, shared by the threads of a worker."""

    def __init__(
        self,
        tokens: TokenSource,
        limiter: RateLimiter,
        settings: ClientSettings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.tokens = tokens
        self.limiter = limiter
        self.settings = settings or ClientSettings()
        self.sleep = sleep
        self.rng = rng or random.Random()
        s = self.settings
        self._base = s.api_base.rstrip("/")
        self._http = httpx.Client(
            timeout=httpx.Timeout(s.timeout_s, connect=s.connect_timeout_s),
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        account: str,
        route: CompiledRoute,
        *,
        json: Any = None,
        query: Mapping[str, str] | None = None,
        repeatable: bool,
    ) -> Any:
        """Send one request (with the retries above) and return the decoded JSON body (None for 204)."""
        server_failures = 0
        rate_limited = 0
        while True:
            headers = self._auth(account, route)
            reservation = self.limiter.acquire(account, route)
            try:
                response = self._http.request(
                    route.route.method, self._base + route.path, json=json, params=query, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Never reached Discord: repeating cannot duplicate anything.
                self.limiter.release(reservation)
                server_failures += 1
                self._backoff_or_raise(route, server_failures, f"connection failed ({type(exc).__name__})")
                continue
            except httpx.HTTPError as exc:
                self.limiter.release(reservation)
                RESPONSES.labels(route.route.key, "0").inc()
                what = f"no answer ({type(exc).__name__})"
                if not repeatable:
                    raise OutcomeUnknown(f"discord {route.key}: {what}; it may have taken effect") from None
                server_failures += 1
                self._backoff_or_raise(route, server_failures, what)
                continue

            status = response.status_code
            RESPONSES.labels(route.route.key, str(status)).inc()
            body = self._decode(response)
            if status == 429:
                rate_limited += 1
                retry_after_s = _retry_after_s(body, response.headers)
                is_global = bool(isinstance(body, dict) and body.get("global")) or (
                    response.headers.get("x-ratelimit-global", "").lower() == "true"
                )
                scope = response.headers.get("x-ratelimit-scope")
                self.limiter.rate_limited(
                    reservation, response.headers, retry_after_s=retry_after_s, is_global=is_global, scope=scope
                )
                if rate_limited > self.settings.max_rate_limited:
                    raise RetryableError(
                        f"discord {route.key}: rate limited {rate_limited} times in a row",
                        retry_after_s=retry_after_s,
                        reason="rate-limited",
                    )
                continue
            self.limiter.update(reservation, response.headers)
            if status >= 500:
                what = f"server error {status}"
                if not repeatable:
                    raise OutcomeUnknown(f"discord {route.key}: {what}; it may have taken effect")
                server_failures += 1
                self._backoff_or_raise(route, server_failures, what)
                continue
            if status >= 400:
                if status in (401, 403):
                    self.limiter.count_invalid()
                error = DiscordApiError.from_body(status, body, route.key)
                log.info("discord error", extra={"route": route.key, "status": status, "code": error.code})
                raise error
            return body

    # -- internals ------------------------------------------------------------------------------------------------

    def _auth(self, account: str, route: CompiledRoute) -> dict[str, str]:
        if not route.route.bot_auth:
            return {}
        return {"Authorization": f"Bot {self.tokens.token(account)}"}

    def _backoff_or_raise(self, route: CompiledRoute, failures: int, what: str) -> None:
        s = self.settings
        if failures > s.max_server_retries:
            raise RetryableError(f"discord {route.key}: {what} ({failures} tries)", reason="server-error")
        delay_s = min(s.backoff_max_s, s.backoff_base_s * 2 ** (failures - 1)) * (0.5 + self.rng.random() / 2)
        log.info("discord request failed; retrying", extra={"route": route.key, "error": what, "delay_s": delay_s})
        self.sleep(delay_s)

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return _decoder.decode(response.content)
        except msgspec.DecodeError:
            return None  # Cloudflare's HTML 502, a proxy's plain text 503


def _retry_after_s(body: Any, headers: Mapping[str, str]) -> float:
    if isinstance(body, dict):
        value = body.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    try:
        return max(0.0, float(headers.get("retry-after", "1")))
    except ValueError:
        return 1.0
