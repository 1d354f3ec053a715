"""One Matrix client-server API client and its one request loop.

For every request: read the access token afresh (a rotated token file is used at once) and send it in the
`Authorization` header — never as `?access_token=`, which ends up in proxy and server logs; for a message send,
first reserve a slot under the shared rate limits (every worker process of the account); then:

- 2xx → the decoded JSON body;
- 429 `M_LIMIT_EXCEEDED` → block the account's limit for `retry_after_ms` (or `Retry-After`) so every process
  waits, and go round again (at most `max_rate_limited` times, then retryable);
- 5xx, timeouts, dropped connections → a request safe to repeat (every read, and every PUT with a transaction id:
  the homeserver answers a repeated one with the first event) is retried with bounded exponential backoff and
  jitter; others raise `OutcomeUnknown`;
- any other error → `MatrixApiError` (status, errcode, error), decided on by `errors.classify`.

Logs and errors name the route template (`PUT /rooms/{room}/send/{type}/{txn}`), never the token.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from adapters.matrix.errors import M_LIMIT_EXCEEDED, MatrixApiError
from adapters.matrix.settings import MatrixSettings
from adapters.protocol import RetryableError
from adapters.ratelimit import Rate, SharedLimiter
from adapters.secrets import SecretSource

log = logging.getLogger("tether.matrix.http")
for _name in ("httpx", "httpcore"):  # httpcore logs request headers (the access token) at DEBUG
    logging.getLogger(_name).setLevel(logging.WARNING)

USER_AGENT = "tether/0.1.0 (matrix adapter)"
_decoder = msgspec.json.Decoder()


class OutcomeUnknown(RetryableError):
    """A request that is not safe to repeat got no answer: it may or may not have taken effect."""

    reason = "outcome-unknown"


def q(segment: str) -> str:
    """One path segment (room ids hold `!` and `:`, event ids `$`, transaction ids anything)."""
    return quote(segment, safe="")


class MatrixClient:
    """Synchronous; one `httpx.Client` (connection pool) per instance."""

    def __init__(
        self,
        settings: MatrixSettings,
        tokens: SecretSource,
        limiter: SharedLimiter,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.limiter = limiter
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._http = httpx.Client(
            base_url=settings.homeserver,
            timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        account: str,
        method: str,
        route: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        repeatable: bool = True,
        limits: Sequence[tuple[str, Rate]] = (),
        block_key: str | None = None,
    ) -> Any:
        """Send one request (retries above) and return the decoded body. `route` is the template for logs;
        `limits` are reserved before each try; a 429 blocks `block_key` (default: the first limit's key)."""
        s = self.settings
        failures = 0
        rate_limited = 0
        while True:
            headers = {"Authorization": f"Bearer {self.tokens.get(account)}"}
            if limits:
                self.limiter.acquire(limits, max_wait_s=s.max_wait_s)
            try:
                response = self._http.request(method, path, json=json, params=params, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failures += 1  # never reached the homeserver: repeating cannot duplicate anything
                self._backoff_or_raise(route, failures, f"connection failed ({type(exc).__name__})")
                continue
            except httpx.HTTPError as exc:
                what = f"no answer ({type(exc).__name__})"
                if not repeatable:
                    raise OutcomeUnknown(f"matrix {route}: {what}; it may have taken effect") from None
                failures += 1
                self._backoff_or_raise(route, failures, what)
                continue
            status = response.status_code
            body = _decode(response)
            if status == 429 or (status >= 400 and isinstance(body, dict) and body.get("errcode") == M_LIMIT_EXCEEDED):
                rate_limited += 1
                retry_after_s = retry_after(body, response.headers)
                key = block_key or (limits[0][0] if limits else None)
                if key is not None:
                    self.limiter.block(key, retry_after_s)
                log.info("matrix rate limited", extra={"route": route, "retryAfterS": retry_after_s})
                if rate_limited > s.max_rate_limited or key is None:
                    raise RetryableError(f"matrix {route}: rate limited {rate_limited} times",
                                         retry_after_s=retry_after_s, reason="rate-limited")
                continue
            if status >= 500:
                what = f"server error {status}"
                if not repeatable:
                    raise OutcomeUnknown(f"matrix {route}: {what}; it may have taken effect")
                failures += 1
                self._backoff_or_raise(route, failures, what)
                continue
            if status >= 400:
                error = MatrixApiError.from_body(status, body, route)
                log.info("matrix error", extra={"route": route, "status": status, "errcode": error.errcode})
                raise error
            return body

    def _backoff_or_raise(self, route: str, failures: int, what: str) -> None:
        s = self.settings
        if failures > s.max_server_retries:
            raise RetryableError(f"matrix {route}: {what} ({failures} tries)", reason="server-error")
        delay_s = min(s.backoff_max_s, s.backoff_base_s * 2 ** (failures - 1)) * (0.5 + self.rng.random() / 2)
        log.info("matrix request failed; retrying", extra={"route": route, "error": what, "delayS": delay_s})
        self.sleep(delay_s)


def retry_after(body: Any, headers: Mapping[str, str]) -> float:
    """Seconds to wait after a 429: the body's `retry_after_ms`, else the `Retry-After` header, else 1."""
    if isinstance(body, dict):
        ms = body.get("retry_after_ms")
        if isinstance(ms, int | float) and not isinstance(ms, bool) and ms >= 0:
            return float(ms) / 1000
    try:
        return max(0.0, float(headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return _decoder.decode(response.content)
    except msgspec.DecodeError:
        return None  # a proxy's HTML 502
