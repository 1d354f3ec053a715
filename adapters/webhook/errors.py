"""A receiver's answer, sorted into the three kinds of delivery failure (`adapters.protocol`) by one function.

    2xx                      delivered
    410 Gone                 DestinationGone, the binding ends `endpoint-gone`
    429, 502, 503, 504       RetryableError honouring Retry-After (seconds or an HTTP date)
    other 4xx, 3xx           PermanentError `http-<status>` (redirects are never followed)
    other 5xx                RetryableError `server-error`
    timeout, connection      RetryableError `timeout` / `connection-error`

Only a short excerpt of the answer's body is kept (`BODY_EXCERPT_CHARS`, secrets redacted by the ledger's
`clean_error` as well as here); the endpoint is named by its account, never by its URL (which may hold a token).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re

import httpx

from adapters.protocol import DeliveryError, DestinationGone, PermanentError, RetryableError
from adapters.redact import redact

BODY_EXCERPT_CHARS = 120
RETRY_STATUSES = frozenset({429, 502, 503, 504})
GONE_REASON = "endpoint-gone"
_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")
_SPACE = re.compile(r"\s+")


def excerpt(body: bytes) -> str:
    text = _SPACE.sub(" ", body[: BODY_EXCERPT_CHARS * 4].decode("utf-8", "replace")).strip()
    text = redact(_SECRET.sub("whsec_[redacted]", text))
    return text if len(text) <= BODY_EXCERPT_CHARS else text[: BODY_EXCERPT_CHARS - 1] + "…"


def retry_after_s(value: str | None, now: dt.datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def classify(account_id: str, status: int, headers: httpx.Headers, body: bytes) -> DeliveryError:
    """The one place that decides what a non-2xx answer means for a delivery."""
    what = f"webhook {account_id}: HTTP {status}"
    text = excerpt(body)
    message = f"{what}: {text}" if text else what
    if status == 410:
        return DestinationGone(message, end_reason=GONE_REASON)
    if status in RETRY_STATUSES:
        reason = "rate-limited" if status == 429 else "unavailable"
        # A 429 is a refusal: the receiver did not act on it (`unsent`). A gateway's 502-504 may hide a receiver
        # that did, so those stay unknown outcomes.
        return RetryableError(message, retry_after_s=retry_after_s(headers.get("retry-after")), reason=reason,
                              unsent=status == 429)
    if status >= 500:
        return RetryableError(message, reason="server-error")
    return PermanentError(message, reason=f"http-{status}")


def transport_error(account_id: str, exc: httpx.HTTPError) -> RetryableError:
    never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    if isinstance(exc, httpx.TimeoutException):
        return RetryableError(f"webhook {account_id}: no answer in time ({type(exc).__name__})", reason="timeout",
                              unsent=never_sent)
    return RetryableError(f"webhook {account_id}: {type(exc).__name__}", reason="connection-error",
                          unsent=never_sent)
