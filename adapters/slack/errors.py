"""Slack's answers, sorted into the three kinds of delivery failure (`adapters.protocol`) by one function.

Slack answers almost every error with HTTP 200 and `{"ok": false, "error": "<code>"}`; a rate limit with HTTP 429,
`Retry-After` and `ratelimited`; an outage with a 5xx (often HTML). `SlackError` carries the method, the HTTP status,
the error code and, for `missing_scope`, the scope Slack says is needed. `classify` is the one place that decides
what a code means for a delivery:

- `channel_not_found`, `thread_not_found` (a deleted or unknown thread root) → `DestinationGone`: the engine ends the
  binding `thread-delete` and dead-letters `destination-gone`; nothing is posted to the channel root instead;
- `is_archived` → permanent `channel-archived`;
- `not_in_channel`, `restricted_action`, `missing_scope` (the scope named in the message) → permanent;
- `invalid_auth`, `not_authed`, `token_revoked`, `token_expired`, `account_inactive` → permanent `unauthorized`;
- 429 / `ratelimited` → retryable after `Retry-After`;
- `internal_error`, `fatal_error`, `service_unavailable`, `request_timeout`, 5xx, timeouts → retryable;
- anything else (`no_text`, `invalid_metadata_format`, `msg_too_long`, ...) → permanent `slack-<code>`.
"""

from __future__ import annotations

from adapters.protocol import DeliveryError, DestinationGone, PermanentError, RetryableError
from bindings.errors import TetherError

GONE = frozenset({"channel_not_found", "thread_not_found"})
UNAUTHORIZED = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
SERVER_SIDE = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
# Errors after which a write may have taken effect ("it's possible some aspect of the operation succeeded").
MAYBE_WRITTEN = frozenset({"internal_error", "fatal_error", "request_timeout"})
_PERMANENT = {
    "is_archived": "channel-archived",
    "not_in_channel": "not-in-channel",
    "restricted_action": "restricted-action",
    "missing_scope": "missing-scope",
}


class SlackError(TetherError):
    """An error answer from Slack; never holds the token (Slack does not echo it)."""

    def __init__(self, method: str, status: int, error: str, *, needed: str | None = None,
                 retry_after_s: float | None = None) -> None:
        detail = f" (needs scope {needed})" if needed else ""
        super().__init__(f"slack {method} → {status} {error}{detail}")
        self.method = method
        self.status = status
        self.error = error
        self.needed = needed
        self.retry_after_s = retry_after_s


class OutcomeUnknown(RetryableError):
    """A write got no usable answer (timeout, dropped connection, 5xx, `fatal_error`): it may have landed. The
    adapter looks for it (message metadata) before it is ever sent again."""

    reason = "outcome-unknown"


def classify(err: SlackError) -> DeliveryError:
    if err.status == 429 or err.error == "ratelimited":
        return RetryableError(str(err), retry_after_s=err.retry_after_s, reason="rate-limited", unsent=True)
    if err.status >= 500 or err.error in SERVER_SIDE:
        return RetryableError(str(err), reason="server-error")
    if err.error in GONE:
        return DestinationGone(str(err))
    if err.error in UNAUTHORIZED:
        return PermanentError(str(err), reason="unauthorized")
    reason = _PERMANENT.get(err.error)
    if reason is not None:
        return PermanentError(str(err), reason=reason)
    return PermanentError(str(err), reason=f"slack-{err.error.replace('_', '-')}")
