"""The behaviour of the local Telegram Bot API, without HTTP: methods, tokens, chats and forum topics, flood limits,
fault injection, the message log and the request log. `telegram_api.FakeTelegram` serves it over HTTP.

What the Bot API does and this copies (https://core.telegram.org/bots/api):
- Requests go to ``/bot<token>/<method>``; parameters come as a query string, a form or a JSON body. Every answer is
  ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": N, "description": "…", "parameters": {…}}``.
  A wrong token answers ``401 Unauthorized``; an unknown method ``404 Not Found``.
- ``sendMessage``: ``text`` 1-4096 UTF-16 code units after entity parsing (else ``400 Bad Request: message is too
  long`` / ``message text is empty``); ``message_thread_id`` names a forum topic: unknown (or the General topic,
  id 1, or any id in a chat that is not a forum) → ``400 Bad Request: message thread not found``; a deleted topic →
  ``400 Bad Request: TOPIC_DELETED``; a closed one → ``400 Bad Request: TOPIC_CLOSED``. Without
  ``message_thread_id`` a message in a forum lands in General.
- Chats: an unknown id → ``400 Bad Request: chat not found``; a kicked bot → ``403 Forbidden: bot was kicked from the
  group chat`` (``supergroup chat``); a bot that left → ``403 Forbidden: bot is not a member of the … chat``; a user
  who blocked the bot → ``403 Forbidden: bot was blocked by the user``; a group upgraded to a supergroup →
  ``400 Bad Request: group chat was upgraded to a supergroup chat`` with ``parameters.migrate_to_chat_id``.
- ``createForumTopic``: only in a forum supergroup (else ``400 Bad Request: the chat is not a forum``), only for an
  administrator with ``can_manage_topics`` (else ``400 Bad Request: not enough rights to create a topic``); name
  1-128 characters; returns the ``ForumTopic`` whose ``message_thread_id`` is the id of the "topic created" service
  message it posts. ``closeForumTopic`` / ``deleteForumTopic`` need the same right.
- Flood limits on ``sendMessage`` (`Limits`): about one message per second per chat with short bursts, 20 per minute
  per group, 30 per second per bot; over a limit → ``429 Too Many Requests: retry after N`` with
  ``parameters.retry_after`` (whole seconds, rounded up), and nothing is sent.

Faults reuse `tests.fakes.discord_faults.FaultRule` with the Bot API method name as ``route``; a ``rate_limit`` fault
answers Telegram's 429 with ``retry_after`` (whole seconds, at least 1, unless ``fractional_retry_after``).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs

import msgspec

from bindings.clock import SYSTEM_CLOCK, Clock
from tests.fakes.discord_faults import FaultPlan, FaultRule
from tests.fakes.telegram_model import (
    GENERAL_TOPIC_ID,
    MAX_TEXT_UTF16,
    MAX_TOPIC_NAME,
    TOPIC_COLORS,
    BotStatus,
    Chat,
    ChatType,
    Limits,
    Message,
    RequestRecord,
    Snapshot,
    Topic,
    TopicState,
    error,
    ok,
    utf16_len,
)

METHODS = ("getMe", "getChat", "sendMessage", "createForumTopic", "closeForumTopic", "deleteForumTopic")


@dataclass
class Answer:
    status: int  # 0: drop the connection without answering
    body: dict[str, Any] | None = None


class _ApiError(Exception):
    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.answer = Answer(code, error(code, description, **parameters))


class _Ids:
    def __init__(self) -> None:
        self.private = 100_000_000
        self.group = 4_000_000_000
        self.supergroup = 1_000_000_000_000

    def next(self, chat_type: ChatType) -> int:
        if chat_type == "private":
            self.private += 1
            return self.private
        if chat_type == "group":
            self.group += 1
            return -self.group
        self.supergroup += 1
        return -self.supergroup


class LocalTelegram:
    """State and behaviour of the fake Bot API. Thread-safe: every request and control call holds one lock."""

    def __init__(
        self,
        *,
        token: str = "123456:test-bot-token",
        clock: Clock | None = None,
        seed: int = 0,
        limits: Limits | None = None,
        bot_username: str = "tether_bot",
        fractional_retry_after: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock or SYSTEM_CLOCK
        self._sleep = sleep
        self._tokens = [token]
        self._faults = FaultPlan(seed)
        self.limits = limits or Limits()
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 777
        self.fractional_retry_after = fractional_retry_after
        self._clear()

    def _clear(self) -> None:
        self._ids = _Ids()
        self._chats: dict[int, Chat] = {}
        self._messages: list[Message] = []
        self._requests: list[RequestRecord] = []
        self._chat_buckets: dict[int, tuple[float, float]] = {}  # chat -> (tokens, at_ms)
        self._group_windows: dict[int, deque[int]] = {}
        self._global_window: deque[int] = deque()
        self._seq = 0

    # ------------------------------------------------------------------ control: tokens, chats, topics

    def now_ms(self) -> int:
        return self._clock.now_ms()

    @property
    def tokens(self) -> list[str]:
        return list(self._tokens)

    def set_token(self, token: str) -> None:
        """Accept only this token from now on (a token revoked through @BotFather)."""
        with self._lock:
            self._tokens = [token]

    def add_chat(self, type: ChatType = "supergroup", *, title: str = "chat", is_forum: bool = False,
                 bot_status: BotStatus = "administrator", can_manage_topics: bool = True,
                 chat_id: int | None = None) -> Chat:
        with self._lock:
            if is_forum and type != "supergroup":
                raise ValueError("only a supergroup can be a forum")
            cid = chat_id if chat_id is not None else self._ids.next(type)
            if cid in self._chats:
                raise ValueError(f"chat {cid} exists")
            chat = Chat(id=cid, type=type, title=title, is_forum=is_forum, bot_status=bot_status,
                        can_manage_topics=can_manage_topics,
                        next_message_id=GENERAL_TOPIC_ID + 1)  # message 1 opened the chat (and General)
            self._chats[cid] = chat
            return _copy(chat)

    def set_chat(self, chat_id: int, **changes: Any) -> Chat:
        """A person's action: kick the bot (`bot_status`), block it (`blocked`), turn topics on (`is_forum`), …"""
        with self._lock:
            chat = self._chat(chat_id)
            for name, value in changes.items():
                if name not in ("title", "is_forum", "bot_status", "can_manage_topics", "blocked"):
                    raise ValueError(f"cannot change {name!r}")
                setattr(chat, name, value)
            return _copy(chat)

    def add_topic(self, chat_id: int, name: str = "topic", *, state: TopicState = "open") -> Topic:
        """A topic a person made (no API call, not in the request log)."""
        with self._lock:
            chat = self._chat(chat_id)
            if not chat.is_forum:
                raise ValueError(f"chat {chat_id} is not a forum")
            topic = self._new_topic(chat, name, seq=0)
            topic.state = state
            return _copy(topic)

    def set_topic(self, chat_id: int, topic_id: int, state: TopicState) -> Topic:
        with self._lock:
            topic = self._chat(chat_id).topics.get(topic_id)
            if topic is None:
                raise LookupError(f"no topic {topic_id} in chat {chat_id}")
            topic.state = state
            return _copy(topic)

    def migrate(self, chat_id: int) -> Chat:
        """Upgrade a group to a supergroup: a new chat id; the old one answers with `migrate_to_chat_id` from now."""
        with self._lock:
            old = self._chat(chat_id)
            if old.type != "group" or old.migrated_to is not None:
                raise ValueError(f"chat {chat_id} is not a group that can be upgraded")
            new = Chat(id=self._ids.next("supergroup"), type="supergroup", title=old.title,
                       bot_status=old.bot_status, can_manage_topics=old.can_manage_topics, migrated_from=old.id)
            old.migrated_to = new.id
            self._chats[new.id] = new
            return _copy(new)

    def set_limits(self, **changes: Any) -> Limits:
        with self._lock:
            self.limits = msgspec.structs.replace(self.limits, **changes)
            self._chat_buckets.clear()
            self._group_windows.clear()
            self._global_window.clear()
            return msgspec.structs.replace(self.limits)

    def inject(self, kind: str, **options: Any) -> FaultRule:
        """Add a fault rule (`route` = a method name such as "sendMessage"); returns it with its id."""
        with self._lock:
            return msgspec.structs.replace(self._faults.add(FaultRule(kind=kind, **options)))  # type: ignore[arg-type]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def fault_rules(self) -> list[FaultRule]:
        with self._lock:
            return self._faults.rules()

    def reset(self) -> None:
        with self._lock:
            self._clear()
            self._faults.clear()

    # ------------------------------------------------------------------ reading

    def chat(self, chat_id: int) -> Chat:
        with self._lock:
            return _copy(self._chat(chat_id))

    def messages(self, chat_id: int | None = None, thread_id: int | None = None, *, general: bool = False,
                 include_service: bool = False) -> list[Message]:
        """Messages, oldest first: of one chat; of one topic (`thread_id`); or of General only (`general=True`)."""
        with self._lock:
            out = []
            for m in self._messages:
                if chat_id is not None and m.chat_id != chat_id:
                    continue
                if thread_id is not None and m.thread_id != thread_id:
                    continue
                if general and m.thread_id is not None:
                    continue
                if m.service and not include_service:
                    continue
                out.append(_copy(m))
            return out

    def requests(self, method: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [_copy(r) for r in self._requests if method is None or r.method == method]

    def snapshot(self, *, include_requests: bool = True) -> Snapshot:
        with self._lock:
            return Snapshot(chats=[_copy(c) for c in self._chats.values()], messages=[_copy(m) for m in self._messages],
                            requests=[_copy(r) for r in self._requests] if include_requests else [],
                            limits=msgspec.structs.replace(self.limits))

    # ------------------------------------------------------------------ the API

    def handle(self, token: str, method: str, query: str, content_type: str, body: bytes) -> Answer:
        """One API request; faults that add latency sleep outside the lock."""
        with self._lock:
            now = self.now_ms()
            delay_s, pre = self._faults.before("POST", method, f"/{method}")
        if delay_s:
            self._sleep(delay_s)
        with self._lock:
            now = self.now_ms()
            self._seq += 1
            record = RequestRecord(seq=self._seq, at_ms=now, method=method, token=token)
            self._requests.append(record)
            try:
                params = _params(query, content_type, body)
                record.chat_id = _opt_int(params, "chat_id")
                record.thread_id = _opt_int(params, "message_thread_id")
            except _ApiError as exc:
                return self._done(record, exc.answer)
            if pre is not None:
                record.injected = pre.kind
                return self._done(record, self._injected(pre))
            if token not in self._tokens:
                return self._done(record, Answer(401, error(401, "Unauthorized")))
            if method not in METHODS:
                return self._done(record, Answer(404, error(404, "Not Found")))
            try:
                answer = getattr(self, f"_m_{method}")(params, record, now)
            except _ApiError as exc:
                answer = exc.answer
            if answer.status == 200:
                spoil = self._faults.after("POST", method, f"/{method}")
                if spoil is not None:
                    record.injected = spoil.kind
                    answer = Answer(0) if spoil.kind == "response_lost" else _server_error(spoil.status)
            return self._done(record, answer)

    def _done(self, record: RequestRecord, answer: Answer) -> Answer:
        record.status = answer.status
        if answer.body is not None and not answer.body.get("ok", True):
            record.description = str(answer.body.get("description"))
        return answer

    def _injected(self, rule: FaultRule) -> Answer:
        if rule.kind == "disconnect":
            return Answer(0)
        if rule.kind == "rate_limit":
            retry = self._retry_after(rule.retry_after_s)
            return Answer(429, error(429, f"Too Many Requests: retry after {retry}", retry_after=retry))
        return _server_error(rule.status)

    def _retry_after(self, seconds: float) -> float | int:
        if self.fractional_retry_after:
            return round(max(0.001, seconds), 3)
        return max(1, math.ceil(seconds - 1e-9))

    # -- methods

    def _m_getMe(self, params: dict[str, Any], record: RequestRecord, now: int) -> Answer:
        return Answer(200, ok({"id": self.bot_id, "is_bot": True, "first_name": "tether",
                               "username": self.bot_username, "can_join_groups": True,
                               "can_read_all_group_messages": False, "supports_inline_queries": False}))

    def _m_getChat(self, params: dict[str, Any], record: RequestRecord, now: int) -> Answer:
        chat = self._reachable(params)
        result: dict[str, Any] = {"id": chat.id, "type": chat.type}
        if chat.type == "private":
            result["first_name"] = chat.title or "user"
        else:
            result["title"] = chat.title
        if chat.is_forum:
            result["is_forum"] = True
        if chat.migrated_from is not None:
            result["migrated_from_chat_id"] = chat.migrated_from  # not in the real ChatFullInfo; handy for tests
        return Answer(200, ok(result))

    def _m_sendMessage(self, params: dict[str, Any], record: RequestRecord, now: int) -> Answer:
        chat = self._reachable(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT_UTF16:
            raise _ApiError(400, "Bad Request: message is too long")
        thread_id = record.thread_id
        if thread_id is not None:
            topic = chat.topics.get(thread_id) if chat.is_forum and thread_id != GENERAL_TOPIC_ID else None
            if topic is None:
                raise _ApiError(400, "Bad Request: message thread not found")
            if topic.state == "deleted":
                raise _ApiError(400, "Bad Request: TOPIC_DELETED")
            if topic.state == "closed":
                raise _ApiError(400, "Bad Request: TOPIC_CLOSED")
        limited = self._flood(chat, now)
        if limited is not None:
            which, wait_ms = limited
            record.limited_by = which
            retry = self._retry_after(wait_ms / 1000)
            return Answer(429, error(429, f"Too Many Requests: retry after {retry}", retry_after=retry))
        parse_mode = params.get("parse_mode")
        preview = params.get("link_preview_options")
        if isinstance(preview, str):
            try:
                preview = json.loads(preview)
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse link preview options JSON object") from None
        disabled = bool(isinstance(preview, dict) and preview.get("is_disabled"))
        message = Message(chat_id=chat.id, message_id=chat.next_message_id, thread_id=thread_id, text=text,
                          date=now // 1000, at_ms=now, parse_mode=parse_mode if isinstance(parse_mode, str) else None,
                          link_preview_disabled=disabled, request_seq=record.seq)
        chat.next_message_id += 1
        self._messages.append(message)
        record.message_id = message.message_id
        return Answer(200, ok(self._message_json(chat, message)))

    def _m_createForumTopic(self, params: dict[str, Any], record: RequestRecord, now: int) -> Answer:
        chat = self._reachable(params)
        if not chat.is_forum:
            raise _ApiError(400, "Bad Request: the chat is not a forum")
        self._require_topic_rights(chat, "create a topic")
        name = params.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _ApiError(400, "Bad Request: TOPIC_TITLE_EMPTY")
        if len(name) > MAX_TOPIC_NAME:
            raise _ApiError(400, "Bad Request: TOPIC_TITLE_INVALID")
        topic = self._new_topic(chat, name, seq=record.seq)
        record.message_id = topic.id
        return Answer(200, ok({"message_thread_id": topic.id, "name": topic.name, "icon_color": topic.icon_color}))

    def _m_closeForumTopic(self, params: dict[str, Any], record: RequestRecord, now: int) -> Answer:
        topic = self._api_topic(params, record)
        topic.state = "closed"
        return Answer(200, ok(True))

    def _m_deleteForumTopic(self, params: dict[str, Any], record: RequestRecord, now: int) -> Answer:
        topic = self._api_topic(params, record)
        topic.state = "deleted"
        return Answer(200, ok(True))

    # -- helpers

    def _chat(self, chat_id: int) -> Chat:
        chat = self._chats.get(int(chat_id))
        if chat is None:
            raise LookupError(f"no chat {chat_id}")
        return chat

    def _reachable(self, params: dict[str, Any]) -> Chat:
        """The chat a method names, as the bot may use it; else the Bot API's error."""
        chat_id = _opt_int(params, "chat_id")
        chat = self._chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise _ApiError(400, "Bad Request: chat not found")
        if chat.migrated_to is not None:
            raise _ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                            migrate_to_chat_id=chat.migrated_to)
        kind = "supergroup chat" if chat.type == "supergroup" else "group chat"
        if chat.type == "private" and chat.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if chat.bot_status == "kicked":
            raise _ApiError(403, f"Forbidden: bot was kicked from the {kind}")
        if chat.bot_status == "left":
            raise _ApiError(403, f"Forbidden: bot is not a member of the {kind}")
        return chat

    def _require_topic_rights(self, chat: Chat, what: str) -> None:
        if chat.bot_status != "administrator" or not chat.can_manage_topics:
            raise _ApiError(400, f"Bad Request: not enough rights to {what}")

    def _api_topic(self, params: dict[str, Any], record: RequestRecord) -> Topic:
        chat = self._reachable(params)
        if not chat.is_forum:
            raise _ApiError(400, "Bad Request: the chat is not a forum")
        self._require_topic_rights(chat, "manage topics")
        topic = chat.topics.get(record.thread_id or 0)
        if topic is None or topic.state == "deleted":
            raise _ApiError(400, "Bad Request: message thread not found")
        return topic

    def _new_topic(self, chat: Chat, name: str, *, seq: int) -> Topic:
        now = self.now_ms()
        topic_id = chat.next_message_id
        chat.next_message_id += 1
        topic = Topic(id=topic_id, name=name, icon_color=TOPIC_COLORS[topic_id % len(TOPIC_COLORS)])
        chat.topics[topic_id] = topic
        self._messages.append(Message(chat_id=chat.id, message_id=topic_id, thread_id=topic_id, text=name,
                                      date=now // 1000, at_ms=now, service="forum_topic_created", request_seq=seq))
        return topic

    def _flood(self, chat: Chat, now: int) -> tuple[str, int] | None:
        """Reserve one message under every limit, or (which limit, ms until it admits one) with nothing taken."""
        lim = self.limits
        window = self._global_window
        global_ms = round(lim.global_window_s * 1000)
        while window and window[0] <= now - global_ms:
            window.popleft()
        if len(window) >= lim.global_limit:
            return "global", window[0] + global_ms - now
        tokens, at = self._chat_buckets.get(chat.id, (float(lim.per_chat_burst), float(now)))
        tokens = min(float(lim.per_chat_burst), tokens + (now - at) / 1000 * lim.per_chat_per_s)
        if tokens < 1.0:
            return "chat", math.ceil((1.0 - tokens) / lim.per_chat_per_s * 1000)
        group: deque[int] | None = None
        if chat.type != "private":
            group = self._group_windows.setdefault(chat.id, deque())
            group_ms = round(lim.per_group_window_s * 1000)
            while group and group[0] <= now - group_ms:
                group.popleft()
            if len(group) >= lim.per_group:
                return "group", group[0] + group_ms - now
        window.append(now)
        self._chat_buckets[chat.id] = (tokens - 1.0, float(now))
        if group is not None:
            group.append(now)
        return None

    def _message_json(self, chat: Chat, m: Message) -> dict[str, Any]:
        chat_json: dict[str, Any] = {"id": chat.id, "type": chat.type}
        if chat.type == "private":
            chat_json["first_name"] = chat.title or "user"
        else:
            chat_json["title"] = chat.title
        if chat.is_forum:
            chat_json["is_forum"] = True
        body: dict[str, Any] = {
            "message_id": m.message_id,
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "tether", "username": self.bot_username},
            "chat": chat_json, "date": m.date, "text": m.text,
        }
        if m.thread_id is not None:
            body["message_thread_id"] = m.thread_id
            body["is_topic_message"] = True
        return body


def _server_error(status: int) -> Answer:
    descriptions = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                    504: "Gateway Timeout"}
    return Answer(status, error(status, descriptions.get(status, "Internal Server Error")))


def _params(query: str, content_type: str, body: bytes) -> dict[str, Any]:
    """Parameters as the Bot API takes them: query string, then a form or JSON body on top."""
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query).items()}
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    if body.strip():
        if kind == "application/json":
            try:
                data = json.loads(body)
            except ValueError:
                raise _ApiError(400, "Bad Request: can't parse JSON") from None
            if not isinstance(data, dict):
                raise _ApiError(400, "Bad Request: can't parse JSON")
            params.update(data)
        elif kind == "application/x-www-form-urlencoded":
            params.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
    return params


def _opt_int(params: Mapping[str, Any], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _ApiError(400, f"Bad Request: invalid {name} specified")
    try:
        return int(value)
    except (TypeError, ValueError):
        if name == "chat_id":
            raise _ApiError(400, "Bad Request: chat not found") from None
        raise _ApiError(400, f"Bad Request: invalid {name} specified") from None


_S = TypeVar("_S", bound=msgspec.Struct)


def _copy(value: _S) -> _S:
    return msgspec.json.decode(msgspec.json.encode(value), type=type(value))
