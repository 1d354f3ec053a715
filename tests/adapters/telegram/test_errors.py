"""One classifier sorts every Bot API error into retryable / permanent / destination gone."""

from __future__ import annotations

import pytest

from adapters.protocol import DestinationGone, PermanentError, RetryableError
from adapters.telegram.errors import TelegramApiError, classify


def err(code: int, description: str, **parameters: object) -> TelegramApiError:
    body: dict[str, object] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return TelegramApiError.from_body("sendMessage", code, body)


@pytest.mark.parametrize(("error", "kind", "reason"), [
    (err(400, "Bad Request: message thread not found"), DestinationGone, "thread-delete"),
    (err(400, "Bad Request: TOPIC_DELETED"), DestinationGone, "thread-delete"),
    (err(400, "Bad Request: TOPIC_CLOSED"), PermanentError, "topic-closed"),
    (err(400, "Bad Request: chat not found"), DestinationGone, "chat-gone"),
    (err(403, "Forbidden: bot was kicked from the supergroup chat"), DestinationGone, "chat-gone"),
    (err(403, "Forbidden: bot was blocked by the user"), DestinationGone, "chat-gone"),
    (err(403, "Forbidden: bot is not a member of the channel chat"), DestinationGone, "chat-gone"),
    (err(401, "Unauthorized"), PermanentError, "unauthorized"),
    (err(403, "Forbidden: not enough rights to send text messages to the chat"), PermanentError, "forbidden"),
    (err(400, "Bad Request: message is too long"), PermanentError, "message-too-long"),
    (err(400, "Bad Request: can't parse entities"), PermanentError, "invalid-payload"),
    (err(404, "Not Found"), PermanentError, "not-found"),
    (TelegramApiError.from_body("sendMessage", 404, None), PermanentError, "not-found"),  # a proxy's HTML page
    (err(429, "Too Many Requests: retry after 7", retry_after=7), RetryableError, "rate-limited"),
    (err(502, "Bad Gateway"), RetryableError, "server-error"),
])
def test_classify(error: TelegramApiError, kind: type[Exception], reason: str) -> None:
    got = classify(error)
    assert type(got) is kind
    assert (got.end_reason if isinstance(got, DestinationGone) else got.reason) == reason


def test_parameters_are_read() -> None:
    rate = err(429, "Too Many Requests: retry after 7", retry_after=7)
    assert rate.retry_after_s == 7.0 and classify(rate).retry_after_s == 7.0  # type: ignore[attr-defined]
    moved = err(400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1001234)
    assert moved.migrate_to_chat_id == "-1001234"
    assert classify(moved).reason == "chat-migrated"


def test_a_refused_429_sent_nothing() -> None:
    got = classify(err(429, "Too Many Requests: retry after 1", retry_after=1))
    assert isinstance(got, RetryableError) and got.unsent
