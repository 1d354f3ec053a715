"""Discord's answers, sorted into the three kinds of delivery failure (`adapters.protocol`) by one function.

`DiscordApiError` is what the request loop raises for any error response it does not handle itself: it carries the
HTTP status, Discord's JSON error `code` and `message`, and the route *template* (never the path, which may hold a
webhook token). `classify` turns it into a `RetryableError`, a `PermanentError` with a stable reason, or
`DestinationGone`. The adapter looks at a few codes before classifying (archived thread → unarchive and resend,
webhook gone → recreate it), everything else goes through here.
"""

from __future__ import annotations

from typing import Any

from adapters.protocol import DeliveryError, DestinationGone, PermanentError, RetryableError
from bindings.errors import TetherError

# Discord JSON error codes tether reacts to.
GENERAL = 0
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
UNKNOWN_WEBHOOK = 10015
MAX_WEBHOOKS = 30007
MISSING_ACCESS = 50001
CANNOT_SEND_EMPTY = 50006
MISSING_PERMISSIONS = 50013
WRONG_CHANNEL_TYPE = 50024
INVALID_WEBHOOK_TOKEN = 50027
INVALID_FORM_BODY = 50035
THREAD_ARCHIVED = 50083
INVALID_JSON = 50109
THREAD_LOCKED = 160005

WEBHOOK_GONE = frozenset({UNKNOWN_WEBHOOK, INVALID_WEBHOOK_TOKEN})

_PERMANENT_BY_CODE: dict[int, str] = {
    MISSING_ACCESS: "missing-access",
    MISSING_PERMISSIONS: "missing-permissions",
    INVALID_FORM_BODY: "invalid-payload",
    CANNOT_SEND_EMPTY: "invalid-payload",
    INVALID_JSON: "invalid-payload",
    THREAD_LOCKED: "thread-locked",
    THREAD_ARCHIVED: "thread-archived",
    UNKNOWN_MESSAGE: "unknown-message",
    UNKNOWN_WEBHOOK: "webhook-gone",
    INVALID_WEBHOOK_TOKEN: "webhook-gone",
    WRONG_CHANNEL_TYPE: "wrong-channel-type",
    MAX_WEBHOOKS: "max-webhooks",
}


class DiscordApiError(TetherError):
    """An error response from Discord: status, JSON code and message; `route` is the template, e.g. `POST /x/{y}`."""

    def __init__(self, status: int, code: int, message: str, route: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(f"discord {route} → {status} (code {code}): {message}")
        self.status = status
        self.code = code
        self.message = message
        self.route = route
        self.retry_after_s = retry_after_s

    @classmethod
    def from_body(cls, status: int, body: Any, route: str) -> DiscordApiError:
        code, message = GENERAL, f"HTTP {status}"
        if isinstance(body, dict):
            raw_code = body.get("code")
            code = raw_code if isinstance(raw_code, int) else GENERAL
            raw_message = body.get("message")
            if isinstance(raw_message, str) and raw_message:
                message = raw_message[:300]
        return cls(status, code, message, route)


class OutcomeUnknown(RetryableError):
    """A request that creates something got no answer (timeout, dropped connection, 5xx): it may or may not have
    taken effect. The caller reconciles before sending again."""

    reason = "outcome-unknown"


class InvalidRequestCeiling(RetryableError):
    """Too many 401/403/429 answers in the last ten minutes: tether stops before Discord bans the IP."""

    reason = "invalid-request-ceiling"


def classify(err: DiscordApiError) -> DeliveryError:
    """The one place that decides what a Discord error means for a delivery."""
    if err.status == 429:
        return RetryableError(str(err), retry_after_s=err.retry_after_s, reason="rate-limited")
    if err.status >= 500:
        return RetryableError(str(err), reason="server-error")
    if err.code == UNKNOWN_CHANNEL:
        return DestinationGone(str(err))
    reason = _PERMANENT_BY_CODE.get(err.code)
    if reason is not None:
        return PermanentError(str(err), reason=reason)
    if err.status == 401:
        return PermanentError(str(err), reason="unauthorized")
    if err.status == 403:
        return PermanentError(str(err), reason="forbidden")
    if err.status == 404:  # code 0: an unknown *route* (a wrong apiBase?), not a deleted channel
        return PermanentError(str(err), reason="not-found")
    if err.status == 400:
        return PermanentError(str(err), reason="invalid-payload")
    if err.status == 408:
        return RetryableError(str(err), reason="timeout")
    return PermanentError(str(err), reason=f"http-{err.status}")
