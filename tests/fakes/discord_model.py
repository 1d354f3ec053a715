"""Records the local Discord API keeps, the JSON error catalogue, and how records look on the wire.

Records are msgspec Structs so that the in-process API (`FakeDiscord`) and the remote one (`FakeDiscordControl`, over
`GET /_fake/state`) hand tests the same types. Only the `*_json` functions below produce Discord's own JSON shapes;
the records carry a few fields Discord does not show (the `avatar_url` a webhook message was sent with, the raw
`allowed_mentions` received, the token a request used) because tests need to assert on them.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

DISCORD_EPOCH_MS = 1_420_070_400_000

TEXT_CHANNEL = 0
ANNOUNCEMENT_CHANNEL = 5
ANNOUNCEMENT_THREAD = 10
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREAD_TYPES = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})
THREAD_PARENT_TYPES = frozenset({TEXT_CHANNEL, ANNOUNCEMENT_CHANNEL})

DEFAULT_MESSAGE = 0
THREAD_CREATED_MESSAGE = 18  # system message Discord posts in the parent when a thread starts without a message

AUTO_ARCHIVE_MINUTES = frozenset({60, 1440, 4320, 10080})

# Permission names a seeded channel may deny to the bot; each maps to one Discord permission check.
Permission = Literal["view", "send", "manage_webhooks", "create_threads", "manage_threads", "manage_channels"]
PERMISSIONS: frozenset[str] = frozenset(
    {"view", "send", "manage_webhooks", "create_threads", "manage_threads", "manage_channels"}
)


class Channel(msgspec.Struct, kw_only=True):
    """A guild text channel (type 0/5) or a thread (type 10/11/12, with `parent_id`)."""

    id: str
    type: int
    name: str
    guild_id: str
    parent_id: str | None = None
    owner_id: str | None = None
    deny: list[str] = msgspec.field(default_factory=list)
    deleted: bool = False
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 4320
    archive_timestamp: str | None = None
    last_message_id: str | None = None
    message_count: int = 0
    created_at_ms: int = 0
    last_activity_ms: int = 0

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES


class Webhook(msgspec.Struct, kw_only=True):
    id: str
    channel_id: str
    guild_id: str
    name: str
    token: str
    application_id: str
    deleted: bool = False
    created_at_ms: int = 0


class Message(msgspec.Struct, kw_only=True):
    """One stored message. `channel_id` is the thread for thread messages; `parent_id` its parent channel."""

    id: str
    channel_id: str
    parent_id: str | None
    type: int
    content: str
    author_id: str
    author_username: str
    author_kind: Literal["bot", "webhook", "system"]
    webhook_id: str | None = None
    avatar_url: str | None = None
    nonce: str | int | None = None
    enforce_nonce: bool = False
    allowed_mentions: dict[str, Any] | None = None
    embeds: list[Any] = msgspec.field(default_factory=list)
    at_ms: int = 0
    timestamp: str = ""
    request_seq: int | None = None


class RequestRecord(msgspec.Struct, kw_only=True):
    """One API request as the fake saw it. Webhook tokens in `path` are masked; `token` keeps what was used."""

    seq: int
    at_ms: int
    method: str
    path: str
    route: str | None
    bucket: str | None
    major: str | None
    status: int
    code: int | None = None
    auth: Literal["bot", "webhook", "none"] = "none"
    token: str | None = None
    scope: str | None = None
    global_limit: bool = False
    injected: str | None = None
    fault_id: int | None = None
    deduped: bool = False
    message_id: str | None = None
    query: str = ""  # the raw query string (`wait=true&thread_id=…`); no secret travels in it


class FaultRecord(msgspec.Struct, kw_only=True):
    """One fault the fake injected, so a test can tell an injected failure from a real one."""

    request_seq: int
    rule_id: int
    kind: str
    at_ms: int
    method: str
    path: str
    route: str | None
    status: int | None = None
    message_id: str | None = None


class Snapshot(msgspec.Struct, kw_only=True):
    """Everything the fake knows; `GET /_fake/state` returns it as JSON."""

    bot_user_id: str
    guild_id: str
    channels: list[Channel]
    webhooks: list[Webhook]
    messages: list[Message]
    requests: list[RequestRecord]
    faults: list[FaultRecord]
    invalid_requests: int
    status_counts: dict[str, int]
    config: dict[str, Any]


class ApiError(Exception):
    """A Discord JSON error: HTTP status, JSON `code`, `message`, and for 50035 the `errors` object."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            out["errors"] = self.errors
        return out


def unauthorized() -> ApiError:
    return ApiError(401, 0, "401: Unauthorized")


def not_found() -> ApiError:
    return ApiError(404, 0, "404: Not Found")


def method_not_allowed() -> ApiError:
    return ApiError(405, 0, "405: Method Not Allowed")


def unknown_channel() -> ApiError:
    return ApiError(404, 10003, "Unknown Channel")


def unknown_message() -> ApiError:
    return ApiError(404, 10008, "Unknown Message")


def unknown_webhook() -> ApiError:
    return ApiError(404, 10015, "Unknown Webhook")


def max_webhooks() -> ApiError:
    return ApiError(400, 30007, "Maximum number of webhooks reached (15)")


def missing_access() -> ApiError:
    return ApiError(403, 50001, "Missing Access")


def cannot_send_empty() -> ApiError:
    return ApiError(400, 50006, "Cannot send an empty message")


def missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


def wrong_channel_type() -> ApiError:
    return ApiError(400, 50024, "Cannot execute action on this channel type")


def invalid_webhook_token() -> ApiError:
    return ApiError(401, 50027, "Invalid Webhook Token")


def invalid_json() -> ApiError:
    return ApiError(400, 50109, "The request body contains invalid JSON.")


# Discord answers 403 for 50083 (seen as "403 Forbidden (error code: 50083): Thread is archived",
# discord/discord-api-docs#7707), and the same for a locked thread.
def thread_archived() -> ApiError:
    return ApiError(403, 50083, "Thread is archived")


def thread_locked() -> ApiError:
    return ApiError(403, 160005, "Thread is locked")


class FormErrors:
    """Collects 50035 field errors in Discord's nested shape: {"field": {"_errors": [{"code", "message"}]}}."""

    def __init__(self) -> None:
        self.errors: dict[str, Any] = {}

    def add(self, field: str, code: str, message: str) -> None:
        node = self.errors.setdefault(field, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def raise_if_any(self) -> None:
        if self.errors:
            raise ApiError(400, 50035, "Invalid Form Body", self.errors)


class Snowflakes:
    """Increasing snowflake-shaped ids (ms since the Discord epoch << 22 | counter), unique within one fake."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self, at_ms: int) -> str:
        with self._lock:
            candidate = max(0, at_ms - DISCORD_EPOCH_MS) << 22
            self._last = max(self._last + 1, candidate)
            return str(self._last)


def iso_timestamp(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat(timespec="microseconds")


def avatar_hash(avatar_url: str | None) -> str | None:
    if not avatar_url:
        return None
    return hashlib.blake2s(avatar_url.encode(), digest_size=16).hexdigest()


def bot_user_json(bot_user_id: str, username: str) -> dict[str, Any]:
    return {
        "id": bot_user_id,
        "username": username,
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": True,
    }


def channel_json(ch: Channel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": ch.id,
        "type": ch.type,
        "guild_id": ch.guild_id,
        "name": ch.name,
        "last_message_id": ch.last_message_id,
        "rate_limit_per_user": 0,
        "flags": 0,
    }
    if ch.is_thread:
        out.update(
            {
                "parent_id": ch.parent_id,
                "owner_id": ch.owner_id,
                "message_count": ch.message_count,
                "total_message_sent": ch.message_count,
                "member_count": 1,
                "thread_metadata": {
                    "archived": ch.archived,
                    "auto_archive_duration": ch.auto_archive_duration,
                    "archive_timestamp": ch.archive_timestamp,
                    "locked": ch.locked,
                    "create_timestamp": iso_timestamp(ch.created_at_ms),
                },
            }
        )
    else:
        out.update({"position": 0, "parent_id": None, "nsfw": False, "topic": None})
    return out


def webhook_json(wh: Webhook, bot_user: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": wh.id,
        "type": 1,
        "guild_id": wh.guild_id,
        "channel_id": wh.channel_id,
        "name": wh.name,
        "avatar": None,
        "token": wh.token,
        "application_id": wh.application_id,
    }
    if bot_user is not None:
        out["user"] = bot_user
    return out


def message_json(msg: Message, *, with_nonce: bool) -> dict[str, Any]:
    author: dict[str, Any] = {
        "id": msg.author_id,
        "username": msg.author_username,
        "avatar": avatar_hash(msg.avatar_url),
        "discriminator": "0000" if msg.author_kind == "webhook" else "0",
        "global_name": None,
        "bot": True,
    }
    out: dict[str, Any] = {
        "id": msg.id,
        "type": msg.type,
        "channel_id": msg.channel_id,
        "author": author,
        "content": msg.content,
        "timestamp": msg.timestamp,
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": msg.embeds,
        "pinned": False,
        "flags": 0,
        "components": [],
    }
    if msg.webhook_id is not None:
        out["webhook_id"] = msg.webhook_id
    # Discord echoes the nonce only in the response to the create request, never when listing.
    if with_nonce and msg.nonce is not None:
        out["nonce"] = msg.nonce
    return out
