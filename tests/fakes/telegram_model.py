"""Records of the local Telegram Bot API: chats, forum topics, messages, the request log, and its snapshot.

msgspec Structs, so the same types travel over the `/_fake` control API of a fake in another process.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

ChatType = Literal["private", "group", "supergroup"]
BotStatus = Literal["member", "administrator", "kicked", "left"]
TopicState = Literal["open", "closed", "deleted"]

MAX_TEXT_UTF16 = 4096
MAX_TOPIC_NAME = 128
GENERAL_TOPIC_ID = 1  # the General topic of a forum; sendMessage refuses it as message_thread_id
TOPIC_COLORS = (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)


class Topic(msgspec.Struct, kw_only=True):
    id: int  # message_thread_id: the id of the topic's "forum topic created" service message
    name: str
    state: TopicState = "open"
    icon_color: int = TOPIC_COLORS[0]


class Chat(msgspec.Struct, kw_only=True):
    id: int
    type: ChatType
    title: str = ""
    is_forum: bool = False
    bot_status: BotStatus = "administrator"
    can_manage_topics: bool = True
    blocked: bool = False  # a private chat whose user blocked the bot
    migrated_to: int | None = None  # a group upgraded to a supergroup: its new id
    migrated_from: int | None = None
    topics: dict[int, Topic] = msgspec.field(default_factory=dict)
    next_message_id: int = 1


class Message(msgspec.Struct, kw_only=True):
    chat_id: int
    message_id: int
    thread_id: int | None  # the forum topic; None for the chat itself / the General topic
    text: str
    date: int  # epoch seconds, as Telegram
    at_ms: int
    service: str | None = None  # "forum_topic_created" for a topic's first message
    parse_mode: str | None = None
    link_preview_disabled: bool = False
    request_seq: int = 0


class RequestRecord(msgspec.Struct, kw_only=True):
    seq: int
    at_ms: int
    method: str
    token: str
    chat_id: int | None = None
    thread_id: int | None = None
    status: int = 0  # 0: no answer (dropped connection)
    description: str | None = None
    limited_by: str | None = None  # 429 from the fake's own limits: "chat", "group" or "global"
    injected: str | None = None  # the fault kind that answered (or spoiled) it
    message_id: int | None = None  # a message it stored, also when the answer was lost


class Limits(msgspec.Struct, kw_only=True):
    """Telegram's flood limits as the fake enforces them on sendMessage (one message consumes one of each)."""

    per_chat_per_s: float = 1.0  # token bucket per chat: sustained rate ...
    per_chat_burst: int = 3  # ... with short bursts tolerated
    per_group: int = 20  # groups and supergroups: at most this many ...
    per_group_window_s: float = 60.0  # ... in any window this long
    global_limit: int = 30  # per bot: at most this many ...
    global_window_s: float = 1.0  # ... in any window this long


class Snapshot(msgspec.Struct, kw_only=True):
    chats: list[Chat]
    messages: list[Message]
    requests: list[RequestRecord]
    limits: Limits


def ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def error(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
