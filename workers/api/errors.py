"""Every error answer is one JSON object: `{"error": code, "message": text, "field": wire path or null}`.

Internal failures answer 500 with a fixed message (the details go to the log, never to the caller); an unreachable
Redis answers 503 with `Retry-After`.
"""

from __future__ import annotations

import re

import msgspec


class ApiError(msgspec.Struct, frozen=True, kw_only=True):
    error: str  # a stable code: invalid-input, unauthorized, not-found, too-large, conflict, unavailable, …
    message: str
    field: str | None = None  # the wire path of the offending field, query parameter or header


class ApiProblem(Exception):
    """Raised by a handler to answer with an error."""

    def __init__(self, status: int, error: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = ApiError(error=error, message=message, field=field)
        self.headers = headers or {}


def invalid(field: str, message: str) -> ApiProblem:
    return ApiProblem(422, "invalid-input", message, field=field)


def not_found(message: str) -> ApiProblem:
    return ApiProblem(404, "not-found", message)


def unavailable(message: str, retry_after_s: float = 1) -> ApiProblem:
    return ApiProblem(503, "unavailable", message, headers={"Retry-After": str(max(1, round(retry_after_s)))})


_SNAKE = re.compile(r"_([a-z0-9])")


def wire_path(field: str) -> str:
    """The services name fields in Python (`conversation.parent_conversation_id`); callers know the wire name
    (`conversation.parentConversationId`)."""
    return _SNAKE.sub(lambda m: m.group(1).upper(), field)
