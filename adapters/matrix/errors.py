"""Matrix answers, sorted into the three kinds of delivery failure (`adapters.protocol`) by one function.

`MatrixApiError` carries the HTTP status, the Matrix `errcode` and `error`, and the route *template* (never a path
with its room or a query with a token). The adapter looks closer at a 403 first (room upgraded → follow it; bot no
longer in the room → destination gone), everything else is decided here:

    429 M_LIMIT_EXCEEDED          retryable after `retry_after_ms` (or Retry-After)
    401 M_UNKNOWN_TOKEN / other   permanent `unauthorized` (the token was revoked or rotated away: fix the file)
    403 M_FORBIDDEN               permanent `forbidden` (power levels forbid the bot to post)
    404 M_NOT_FOUND               destination gone (unknown room or event)
    404 M_UNRECOGNIZED            permanent `not-found` (a wrong homeserver URL, not a deleted room)
    400/413 M_TOO_LARGE           permanent `too-large`
    400 other                     permanent `invalid-payload`
    408, 5xx, no answer           retryable
"""

from __future__ import annotations

from typing import Any

from adapters.protocol import DeliveryError, DestinationGone, PermanentError, RetryableError
from bindings.errors import TetherError

M_FORBIDDEN = "M_FORBIDDEN"
M_NOT_FOUND = "M_NOT_FOUND"
M_LIMIT_EXCEEDED = "M_LIMIT_EXCEEDED"
M_UNKNOWN_TOKEN = "M_UNKNOWN_TOKEN"  # noqa: S105 (an error code, not a secret)
M_MISSING_TOKEN = "M_MISSING_TOKEN"  # noqa: S105
M_TOO_LARGE = "M_TOO_LARGE"


class MatrixApiError(TetherError):
    def __init__(self, status: int, errcode: str, error: str, route: str, *,
                 retry_after_s: float | None = None) -> None:
        super().__init__(f"matrix {route} → {status} {errcode}: {error}")
        self.status = status
        self.errcode = errcode
        self.error = error
        self.route = route
        self.retry_after_s = retry_after_s

    @classmethod
    def from_body(cls, status: int, body: Any, route: str) -> MatrixApiError:
        errcode, error = "", f"HTTP {status}"
        if isinstance(body, dict):
            if isinstance(body.get("errcode"), str):
                errcode = body["errcode"][:64]
            if isinstance(body.get("error"), str) and body["error"]:
                error = body["error"][:300]
        return cls(status, errcode, error, route)


def classify(err: MatrixApiError) -> DeliveryError:
    """The one place that decides what a Matrix error means for a delivery."""
    if err.status == 429 or err.errcode == M_LIMIT_EXCEEDED:
        return RetryableError(str(err), retry_after_s=err.retry_after_s, reason="rate-limited")
    if err.status >= 500 or err.status == 408:
        return RetryableError(str(err), reason="server-error")
    if err.status == 401 or err.errcode in (M_UNKNOWN_TOKEN, M_MISSING_TOKEN):
        return PermanentError(str(err), reason="unauthorized")
    if err.errcode == M_TOO_LARGE or err.status == 413:
        return PermanentError(str(err), reason="too-large")
    if err.status == 404 and err.errcode == M_NOT_FOUND:
        return DestinationGone(str(err))
    if err.status == 404:
        return PermanentError(str(err), reason="not-found")
    if err.status == 403:
        return PermanentError(str(err), reason="forbidden")
    if err.status == 400:
        return PermanentError(str(err), reason="invalid-payload")
    return PermanentError(str(err), reason=f"http-{err.status}")
