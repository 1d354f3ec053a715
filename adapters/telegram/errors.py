"""The Bot API's answers, sorted into the three kinds of delivery failure (`adapters.protocol`) by one function.

An error answer is `{"ok": false, "error_code": N, "description": "...", "parameters": {...}}`. `TelegramApiError`
carries the method *name* (never the URL: it holds the bot token), the code, the description and the two
parameters tether acts on: `retry_after` (429) and `migrate_to_chat_id` (a group upgraded to a supergroup; the
adapter moves the bindings and sends there before anything is classified).
"""

from __future__ import annotations

from typing import Any

from adapters.protocol import DeliveryError, DestinationGone, PermanentError, RetryableError
from adapters.redact import redact
from bindings.errors import TetherError

THREAD_GONE = ("message thread not found", "topic_deleted")
TOPIC_CLOSED = "topic_closed"
CHAT_GONE = ("chat not found", "bot was kicked", "bot was blocked by the user", "bot is not a member",
             "user is deactivated", "group chat was deactivated", "chat was deleted")
NOT_A_FORUM = ("not a forum", "chat_not_forum", "forum_disabled")
NO_TOPIC_RIGHTS = ("not enough rights",)
TOO_LONG = "message is too long"

END_THREAD = "thread-delete"
END_CHAT = "chat-gone"


class TelegramApiError(TetherError):
    """An error answer of the Bot API to `method`."""

    def __init__(self, method: str, code: int, description: str, *, retry_after_s: float | None = None,
                 migrate_to_chat_id: str | None = None) -> None:
        super().__init__(f"telegram {method} → {code}: {description}")
        self.method = method
        self.code = code
        self.description = description
        self.retry_after_s = retry_after_s
        self.migrate_to_chat_id = migrate_to_chat_id

    @classmethod
    def from_body(cls, method: str, status: int, body: Any) -> TelegramApiError:
        code, description = status, f"HTTP {status}"
        retry_after_s: float | None = None
        migrate_to: str | None = None
        if isinstance(body, dict):
            if isinstance(body.get("error_code"), int):
                code = body["error_code"]
            if isinstance(body.get("description"), str) and body["description"]:
                description = redact(body["description"][:300])
            params = body.get("parameters")
            if isinstance(params, dict):
                retry = params.get("retry_after")
                if isinstance(retry, int | float) and not isinstance(retry, bool) and retry >= 0:
                    retry_after_s = float(retry)
                migrate = params.get("migrate_to_chat_id")
                if isinstance(migrate, int) and not isinstance(migrate, bool):
                    migrate_to = str(migrate)
        return cls(method, code, description, retry_after_s=retry_after_s, migrate_to_chat_id=migrate_to)

    def says(self, *phrases: str) -> bool:
        text = self.description.lower()
        return any(phrase in text for phrase in phrases)


class OutcomeUnknown(RetryableError):
    """A request that is not safe to repeat got no answer (timeout, dropped connection, 5xx): it may have taken
    effect. For `sendMessage` the engine then follows `channels.telegram.unknownSend`."""

    reason = "outcome-unknown"


def classify(err: TelegramApiError) -> DeliveryError:
    """The one place that decides what a Bot API error means for a delivery."""
    if err.code == 429:
        return RetryableError(str(err), retry_after_s=err.retry_after_s, reason="rate-limited", unsent=True)
    if err.code >= 500:
        return RetryableError(str(err), reason="server-error")
    if err.says(*THREAD_GONE):
        return DestinationGone(str(err), end_reason=END_THREAD)
    if err.says(TOPIC_CLOSED):
        return PermanentError(str(err), reason="topic-closed")
    if err.says(*CHAT_GONE):
        return DestinationGone(str(err), end_reason=END_CHAT)
    if err.migrate_to_chat_id is not None:
        return PermanentError(str(err), reason="chat-migrated")  # only when moving to the new chat failed too
    if err.code == 401:
        return PermanentError(str(err), reason="unauthorized")
    if err.code == 403:
        return PermanentError(str(err), reason="forbidden")
    if err.says(TOO_LONG):
        return PermanentError(str(err), reason="message-too-long")
    if err.code == 404:
        return PermanentError(str(err), reason="not-found")  # an unknown method: a wrong apiBase?
    if err.code == 400:
        return PermanentError(str(err), reason="invalid-payload")
    return PermanentError(str(err), reason=f"http-{err.code}")
