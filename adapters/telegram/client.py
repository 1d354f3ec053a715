"""One Bot API client and its one request loop.

For every request: read the bot token afresh (rotation), reserve a slot under the rate limits the caller names
(`adapters.ratelimit.SharedLimiter`, shared by every worker process), POST the parameters as JSON to
`{apiBase}/bot<token>/<method>`, then:

- `{"ok": true}` → the `result`;
- 429 → every process waits on the named limits until `retry_after` (`SharedLimiter.block`), then go round again;
  too many in one call → `RetryableError` carrying `retry_after`;
- 5xx, timeouts, dropped connections → for a method safe to repeat, bounded exponential backoff; for one that is not
  (`sendMessage`, `createForumTopic`) `OutcomeUnknown` at once: the caller decides. A connection that was never
  established is always safe to retry;
- any other error → `TelegramApiError` (code, description, `retry_after`, `migrate_to_chat_id`).

The token is part of the URL path, so no URL ever leaves this module: errors name the method, an httpx exception is
replaced by its type name, and a filter on httpx's and httpcore's loggers scrubs `/bot<token>/` from their records
(httpx logs every request's URL at INFO), whatever level those loggers are set to.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from adapters.protocol import PermanentError, RetryableError
from adapters.ratelimit import Rate, SharedLimiter
from adapters.secrets import SecretSource
from adapters.telegram.errors import OutcomeUnknown, TelegramApiError
from adapters.telegram.methods import Method
from adapters.telegram.metrics import RESPONSES

log = logging.getLogger("tether.telegram.http")

DEFAULT_API_BASE = "https://api.telegram.org"
CHANNEL = "telegram"
_TOKEN_SHAPE = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{1,200}$")
_BOT_PATH = re.compile(r"/bot[^/\s'\"]+")
_decoder = msgspec.json.Decoder()


class _ScrubBotPath(logging.Filter):
    """Rewrites a record whose message holds `/bot<token>` (httpx: "HTTP Request: POST https://…/bot123:AA…/…")."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose args do not fit its format: keep it as it is
            return True
        if "/bot" in message:
            record.msg = _BOT_PATH.sub("/bot[redacted]", message)
            record.args = None
        return True


_SCRUB = _ScrubBotPath()
_LIBRARY_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2",
                    "httpcore.proxy", "httpcore.socks")
for _name in _LIBRARY_LOGGERS:
    _logger = logging.getLogger(_name)
    if _SCRUB not in _logger.filters:
        _logger.addFilter(_SCRUB)


def scrub(text: str) -> str:
    return _BOT_PATH.sub("/bot[redacted]", text)


@dataclass(frozen=True)
class ClientSettings:
    api_base: str = DEFAULT_API_BASE
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    max_server_retries: int = 3  # 5xx / timeouts of repeatable methods, connections never established
    backoff_base_s: float = 0.25
    backoff_max_s: float = 4.0
    max_rate_limited: int = 5  # 429s in one call before it gives up (as retryable)
    max_wait_s: float = 10.0  # longest wait for a rate-limit slot before the attempt ends as retryable


Limits = Sequence[tuple[str, Rate]]


class TelegramClient:
    """Synchronous; one `httpx.Client` (connection pool) per instance, shared by the threads of a worker."""

    def __init__(self, tokens: SecretSource, limiter: SharedLimiter, settings: ClientSettings | None = None, *,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.tokens = tokens
        self.limiter = limiter
        self.settings = settings or ClientSettings()
        self.sleep = sleep
        self.rng = rng or random.Random()
        s = self.settings
        self._base = s.api_base.rstrip("/")
        self._http = httpx.Client(timeout=httpx.Timeout(s.timeout_s, connect=s.connect_timeout_s),
                                  transport=transport, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def call(self, account: str, method: Method, params: dict[str, Any], *, limits: Limits = (),
             block: Sequence[str] | None = None) -> Any:
        """Call `method` and return its `result`. `limits`: the rate limits this request counts against, reserved
        before sending; `block`: the limit keys a 429 blocks for `retry_after` in every process (default: all of
        `limits`; a 429 into one chat should not stop the whole bot)."""
        failures = 0
        rate_limited = 0
        while True:
            url = self._url(account, method)
            if limits:
                self.limiter.acquire(limits, max_wait_s=self.settings.max_wait_s)
            try:
                response = self._http.post(url, json=params)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failures += 1  # never reached Telegram: repeating cannot duplicate anything
                self._backoff_or_raise(method, failures, f"connection failed ({type(exc).__name__})", unsent=True)
                continue
            except httpx.HTTPError as exc:
                RESPONSES.labels(method.name, "0").inc()
                what = f"no answer ({type(exc).__name__})"
                if not method.repeatable:
                    raise OutcomeUnknown(f"telegram {method.name}: {what}; it may have taken effect") from None
                failures += 1
                self._backoff_or_raise(method, failures, what)
                continue
            status = response.status_code
            RESPONSES.labels(method.name, str(status)).inc()
            body = _decode(response)
            if isinstance(body, dict) and body.get("ok") is True and "result" in body:
                return body["result"]
            if status >= 500 or (status < 400 and not isinstance(body, dict)):  # 5xx, or a 2xx that is not the API's
                what = f"server error {status}"
                if not method.repeatable:
                    raise OutcomeUnknown(f"telegram {method.name}: {what}; it may have taken effect")
                failures += 1
                self._backoff_or_raise(method, failures, what)
                continue
            error = TelegramApiError.from_body(method.name, status, body)
            if error.code == 429:
                rate_limited += 1
                retry_after_s = error.retry_after_s if error.retry_after_s is not None else 1.0
                for key in (block if block is not None else [key for key, _ in limits]):
                    self.limiter.block(key, retry_after_s)
                log.info("telegram rate limited", extra={"method": method.name, "retryAfterS": retry_after_s})
                if rate_limited > self.settings.max_rate_limited or not limits:
                    raise RetryableError(f"telegram {method.name}: rate limited {rate_limited} times",
                                         retry_after_s=retry_after_s, reason="rate-limited", unsent=True)
                continue
            log.info("telegram error", extra={"method": method.name, "code": error.code,
                                              "description": error.description})
            raise error

    def _url(self, account: str, method: Method) -> str:
        token = self.tokens.get(account)
        if not _TOKEN_SHAPE.match(token):
            # Never echo it: a malformed token may be a secret pasted in the wrong place.
            raise PermanentError(f"telegram account {account!r}: the token from {self.tokens.describe(account)} "
                                 "is not a bot token (<digits>:<letters>)", reason="bad-token")
        return f"{self._base}/bot{token}/{method.name}"

    def _backoff_or_raise(self, method: Method, failures: int, what: str, *, unsent: bool = False) -> None:
        s = self.settings
        if failures > s.max_server_retries:
            raise RetryableError(f"telegram {method.name}: {what} ({failures} tries)", reason="server-error",
                                 unsent=unsent)
        delay_s = min(s.backoff_max_s, s.backoff_base_s * 2 ** (failures - 1)) * (0.5 + self.rng.random() / 2)
        log.info("telegram request failed; retrying", extra={"method": method.name, "error": what,
                                                             "delayS": round(delay_s, 3)})
        self.sleep(delay_s)


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return _decoder.decode(response.content)
    except msgspec.DecodeError:
        return None  # a proxy's HTML 502
