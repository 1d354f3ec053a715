"""Calls to the Slack Web API through the official SDK's `WebClient`, under tether's shared rate limits.

One `WebClient` per process, pointed at `channels.slack.apiBase`, with the SDK's retry handlers off (an empty list:
by default it retries connection errors itself, which would resend a `chat.postMessage` tether cannot see), so the
shared limiter and the delivery ledger decide every retry. The bot token is read from its `env:`/`file:` source at
every call and passed with that call (the SDK puts it in the `Authorization` header, never in a URL or a log line),
so a rotated token is used at once.

Per call:
1. wait for a slot under every limit the call falls under (`SharedLimiter.acquire`, across all worker processes);
2. send; HTTP 429 → `SharedLimiter.block(key, Retry-After)` so every process waits, then back to 1 (at most
   `max_rate_limited` times, then a retryable `rate-limited`);
3. any other error answer → `SlackError` (decided on by `errors.classify`); a write without a usable answer
   (timeout, dropped connection, 5xx, `fatal_error`/`internal_error`/`request_timeout`) → `OutcomeUnknown`.
"""

from __future__ import annotations

import http.client
import logging
import socket
import urllib.error
from collections.abc import Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from adapters.protocol import PermanentError, RetryableError
from adapters.ratelimit import Rate, SharedLimiter
from adapters.secrets import SecretSource
from adapters.slack import keys
from adapters.slack.errors import MAYBE_WRITTEN, OutcomeUnknown, SlackError
from adapters.slack.settings import SlackSettings

log = logging.getLogger("tether.slack.http")
# The SDK logs every failed request at ERROR and request bodies at DEBUG: tether logs its calls itself.
_sdk_log = logging.getLogger("tether.slack.sdk")
_sdk_log.setLevel(logging.CRITICAL)


class SlackClient:
    def __init__(self, tokens: SecretSource, limiter: SharedLimiter, settings: SlackSettings) -> None:
        self.tokens = tokens
        self.limiter = limiter
        self.settings = settings
        self._web = WebClient(base_url=settings.api_base, timeout=settings.timeout_s, retry_handlers=[],
                              logger=_sdk_log)

    def close(self) -> None:
        return None  # the SDK's urllib transport holds no connections between calls

    def limits(self, account: str, method: str, channel: str | None) -> list[tuple[str, Rate]]:
        s = self.settings
        if method == "chat.postMessage":
            out = [(keys.post_limit(account, channel or "-"), s.post_rate)]
            if s.workspace_rate is not None:
                out.append((keys.post_workspace_limit(account), s.workspace_rate))
            return out
        rate = s.method_rates.get(method)
        return [(keys.method_limit(account, method), rate)] if rate is not None else []

    def call(self, account: str, method: str, args: Mapping[str, Any], *, write: bool = False) -> dict[str, Any]:
        """One Web API call; returns the decoded body of an `ok` answer. A write goes as JSON, a read as query
        arguments (as the SDK's own methods send them)."""
        channel = args.get("channel")
        limits = self.limits(account, method, channel if isinstance(channel, str) else None)
        rate_limited = 0
        while True:
            self.limiter.acquire(limits, max_wait_s=self.settings.max_wait_s)
            token = self.tokens.get(account)
            try:
                if write:
                    response = self._web.api_call(method, json={**args, "token": token})
                else:
                    response = self._web.api_call(method, http_verb="GET", params={**args, "token": token})
            except SlackApiError as exc:
                error = _as_error(method, exc)
                if error.status == 429 or error.error == "ratelimited":
                    rate_limited += 1
                    retry_after_s = error.retry_after_s if error.retry_after_s is not None else 1.0
                    for key, _ in limits[:1]:
                        self.limiter.block(key, retry_after_s)
                    log.info("slack rate limited", extra={"method": method, "retryAfterS": retry_after_s})
                    if rate_limited > self.settings.max_rate_limited:
                        raise RetryableError(f"slack {method}: rate limited {rate_limited} times in a row",
                                             retry_after_s=retry_after_s, reason="rate-limited",
                                             unsent=True) from None
                    continue
                if write and (error.status >= 500 or error.error in MAYBE_WRITTEN):
                    raise OutcomeUnknown(f"{error}; it may have taken effect") from None
                log.info("slack error", extra={"method": method, "status": error.status, "error": error.error})
                raise error from None
            except SlackRequestError as exc:
                raise PermanentError(f"slack {method}: {exc}", reason="bad-request") from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                what = _transport_failure(exc)
                if what is None:  # never reached Slack: repeating cannot duplicate anything
                    raise RetryableError(f"slack {method}: connection failed", reason="connection-failed",
                                         unsent=True) from None
                if write:
                    raise OutcomeUnknown(f"slack {method}: {what}; it may have taken effect") from None
                raise RetryableError(f"slack {method}: {what}", reason="timeout") from None
            data = response.data
            return data if isinstance(data, dict) else {}


def _as_error(method: str, exc: SlackApiError) -> SlackError:
    response = exc.response
    status = int(getattr(response, "status_code", 200) or 200)
    data = response.data if isinstance(response.data, dict) else {}
    error = str(data.get("error") or f"http_{status}")
    if status >= 500 and error.startswith("Received"):  # the SDK's note about a body that was not JSON
        error = f"http_{status}"
    needed = data.get("needed") if isinstance(data.get("needed"), str) else None
    return SlackError(method, status, error, needed=needed, retry_after_s=_retry_after(response.headers))


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    if not headers:
        return None
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None


def _transport_failure(exc: BaseException) -> str | None:
    """What went wrong, or None when the request certainly never reached Slack (connection refused)."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ConnectionRefusedError | socket.gaierror):
        return None
    if isinstance(reason, TimeoutError | socket.timeout):
        return "no answer in time"
    return f"no answer ({type(reason).__name__})"
