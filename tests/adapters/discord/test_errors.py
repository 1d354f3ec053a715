"""One function decides what each Discord error means for a delivery."""

from __future__ import annotations

import pytest

from adapters.discord.errors import DiscordApiError, classify
from adapters.protocol import DestinationGone, PermanentError, RetryableError

ROUTE = "POST /channels/{channel}/messages"


@pytest.mark.parametrize(
    ("status", "code", "kind", "reason"),
    [
        (401, 0, PermanentError, "unauthorized"),
        (403, 50001, PermanentError, "missing-access"),
        (403, 50013, PermanentError, "missing-permissions"),
        (400, 50035, PermanentError, "invalid-payload"),
        (400, 50006, PermanentError, "invalid-payload"),
        (403, 160005, PermanentError, "thread-locked"),
        (403, 50083, PermanentError, "thread-archived"),
        (404, 10003, DestinationGone, "destination-gone"),
        (404, 10015, PermanentError, "webhook-gone"),
        (401, 50027, PermanentError, "webhook-gone"),
        (404, 0, PermanentError, "not-found"),
        (400, 50024, PermanentError, "wrong-channel-type"),
        (429, 0, RetryableError, "rate-limited"),
        (500, 0, RetryableError, "server-error"),
        (502, 0, RetryableError, "server-error"),
        (418, 0, PermanentError, "http-418"),
    ],
)
def test_classification_table(status: int, code: int, kind: type, reason: str) -> None:
    error = classify(DiscordApiError(status, code, "message", ROUTE))
    assert type(error) is kind
    assert error.reason == reason


def test_an_error_carries_status_code_message_and_the_route_template() -> None:
    err = DiscordApiError.from_body(403, {"code": 50013, "message": "Missing Permissions"}, ROUTE)
    assert (err.status, err.code, err.message, err.route) == (403, 50013, "Missing Permissions", ROUTE)
    html = DiscordApiError.from_body(502, None, ROUTE)
    assert (html.code, html.message) == (0, "HTTP 502")
