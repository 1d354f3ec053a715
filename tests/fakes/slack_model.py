"""The records of the local Slack Web API: what it stores and what its readers (tests, chaos runs) get back.

All are msgspec Structs so a test reads them the same way from the in-process fake and, as JSON over `/_fake`, from a
fake running in another process.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Channel(msgspec.Struct, kw_only=True):
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    is_member: bool = True  # the bot is in the channel
    deleted: bool = False


class Message(msgspec.Struct, kw_only=True):
    channel: str
    ts: str
    text: str
    thread_ts: str | None = None  # the root's ts for a reply; None for a message in the channel root
    user: str = ""
    bot_id: str = ""
    username: str | None = None
    icon_url: str | None = None
    metadata: dict[str, Any] | None = None  # {"event_type", "event_payload"}
    reply_broadcast: bool = False
    unfurl_links: bool | None = None
    unfurl_media: bool | None = None
    deleted: bool = False

    @property
    def in_thread(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


class FaultRule(msgspec.Struct, kw_only=True):
    """One injected fault. Matches requests by API method (None: any) and channel (None: any).

    kinds:
    - "5xx": answer `status` (default 500) with an HTML body; with `stored`, the request took effect first;
    - "timeout": hold the request `delay_s` and then close the connection without answering; nothing stored;
    - "lose-answer": the request takes effect, then the connection is closed without an answer;
    - "429": answer 429 `ratelimited` with `Retry-After: retry_after_s`;
    - "error": answer HTTP 200 `{"ok": false, "error": error}` (e.g. internal_error, fatal_error).
    `count` requests are affected (-1: every one), each with `probability` (seeded).
    """

    id: int = 0
    kind: str
    method: str | None = None
    channel: str | None = None
    count: int = 1
    probability: float = 1.0
    status: int = 500
    stored: bool = False
    delay_s: float = 2.0
    retry_after_s: float = 1.0
    error: str = "internal_error"
    fired: int = 0


class RequestLog(msgspec.Struct, kw_only=True):
    at: float  # monotonic seconds of the fake
    method: str
    channel: str | None
    status: int
    error: str | None = None
    fault: str | None = None


class Snapshot(msgspec.Struct, kw_only=True):
    channels: list[Channel]
    messages: list[Message]
    requests: list[RequestLog] = msgspec.field(default_factory=list)
