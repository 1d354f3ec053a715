"""The state and the answers of the local Slack Web API (no HTTP here; `slack_api.py` serves it).

It answers as Slack does: HTTP 200 with `{"ok": false, "error": ...}` for every API error (`not_authed`,
`invalid_auth`, `token_revoked`, `channel_not_found`, `thread_not_found`, `is_archived`, `not_in_channel`,
`missing_scope` with `needed`/`provided`, `no_text`, `invalid_metadata_format`), HTTP 429 with `Retry-After` (whole
seconds unless `fractional_retry_after`) and `{"ok": false, "error": "ratelimited"}`, and HTML for a 5xx.

Methods: `auth.test`, `chat.postMessage`, `conversations.replies`, `conversations.history`, `conversations.info`.
Arguments come from the query string, a form body or a JSON body (as Slack accepts them); the token from
`Authorization: Bearer` or a `token` argument. Message `metadata` is stored and returned only with
`include_all_metadata`. Rate limits: `chat.postMessage` per channel (token bucket, default 1/s with a burst of 4),
optionally per workspace, and every method by its tier (`method_limits`).
"""

from __future__ import annotations

import base64
import json
import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import msgspec

from tests.fakes.slack_model import Channel, FaultRule, Message, RequestLog, Snapshot

ALL_SCOPES = frozenset({"chat:write", "chat:write.customize", "channels:history", "groups:history",
                        "channels:read", "groups:read"})
TEAM_ID = "T0FAKE0001"
BOT_USER_ID = "U0FAKEBOT1"
BOT_ID = "B0FAKEBOT1"
MAX_TEXT = 40_000

# Slack's tiers, per method per workspace: (requests per second, burst).
TIER_2 = (20 / 60, 5)
TIER_3 = (50 / 60, 10)
TIER_4 = (100 / 60, 20)
DEFAULT_METHOD_LIMITS: dict[str, tuple[float, int]] = {
    "auth.test": TIER_4,
    "conversations.replies": TIER_3,
    "conversations.history": TIER_3,
    "conversations.info": TIER_3,
}
METHODS = ("auth.test", "chat.postMessage", "conversations.replies", "conversations.history", "conversations.info")


@dataclass
class Answer:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False  # close the connection without answering
    delay_s: float = 0.0


class _Bucket:
    def __init__(self, per_s: float, burst: int, now: float) -> None:
        self.per_s, self.burst, self.tokens, self.at = per_s, burst, float(burst), now

    def take(self, now: float) -> float:
        """0.0 if a token was taken, else the seconds until one is there."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_s)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.per_s


def _json(status: int, payload: dict[str, Any], headers: list[tuple[str, str]] | None = None) -> Answer:
    return Answer(status, json.dumps(payload).encode(),
                  [("Content-Type", "application/json; charset=utf-8"), *(headers or [])])


def _error(error: str, **extra: Any) -> Answer:
    return _json(200, {"ok": False, "error": error, **extra})


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true"))


class LocalSlack:
    def __init__(
        self,
        *,
        token: str = "xoxb-test-token",
        seed: int = 0,
        post_per_channel: tuple[float, int] = (1.0, 4),
        post_workspace: tuple[float, int] | None = None,
        method_limits: dict[str, tuple[float, int]] | None = None,
        fractional_retry_after: bool = False,
        refuse_customize: bool = False,
    ) -> None:
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self.tokens: dict[str, frozenset[str]] = {token: ALL_SCOPES}
        self.revoked: set[str] = set()
        self.post_per_channel = post_per_channel
        self.post_workspace = post_workspace
        self.method_limits = dict(DEFAULT_METHOD_LIMITS if method_limits is None else method_limits)
        self.fractional_retry_after = fractional_retry_after
        self.refuse_customize = refuse_customize
        self.reset()

    # -- state ------------------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.channels: dict[str, Channel] = {}
            self._messages: list[Message] = []
            self._by_ts: dict[tuple[str, str], Message] = {}
            self.requests: list[RequestLog] = []
            self.faults: list[FaultRule] = []
            self._buckets: dict[str, _Bucket] = {}
            self._blocked: dict[str, float] = {}  # limit key -> monotonic time until which it answers 429
            self._last_ts_us = 0
            self._next_id = 1

    def add_channel(self, name: str = "general", *, channel_id: str | None = None, is_private: bool = False,
                    is_member: bool = True, is_archived: bool = False) -> Channel:
        with self._lock:
            cid = channel_id or f"C{self._next_id:08d}"
            self._next_id += 1
            channel = Channel(id=cid, name=name, is_private=is_private, is_member=is_member,
                              is_archived=is_archived)
            self.channels[cid] = channel
            return channel

    def set_channel(self, channel_id: str, **changes: Any) -> Channel:
        with self._lock:
            channel = self.channels[channel_id]
            for name, value in changes.items():
                if name not in ("is_archived", "is_member", "deleted", "name", "is_private"):
                    raise ValueError(f"unknown channel field {name!r}")
                setattr(channel, name, value)
            return channel

    def post(self, channel_id: str, text: str, *, thread_ts: str | None = None, user: str = "U0PERSON01") -> Message:
        """A message posted by a person (a thread root to bind to, a reply)."""
        with self._lock:
            return self._store(Message(channel=channel_id, ts=self._new_ts(), text=text, thread_ts=thread_ts,
                                       user=user))

    def delete_message(self, channel_id: str, ts: str) -> None:
        with self._lock:
            self._by_ts[(channel_id, ts)].deleted = True

    def set_token(self, token: str, scopes: list[str] | None = None) -> None:
        """Accept only this token from now on (rotation); the others answer `invalid_auth`."""
        with self._lock:
            self.tokens = {token: frozenset(scopes) if scopes is not None else ALL_SCOPES}

    def add_token(self, token: str, scopes: list[str] | None = None) -> None:
        with self._lock:
            self.tokens[token] = frozenset(scopes) if scopes is not None else ALL_SCOPES

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self.revoked.add(token)

    def inject(self, kind: str, **options: Any) -> FaultRule:
        with self._lock:
            rule = msgspec.convert({"kind": kind, **options, "id": self._next_id}, FaultRule)
            self._next_id += 1
            if rule.kind not in ("5xx", "timeout", "lose-answer", "429", "error"):
                raise ValueError(f"unknown fault kind {rule.kind!r}")
            self.faults.append(rule)
            return rule

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = []

    def configure(self, **options: Any) -> dict[str, Any]:
        with self._lock:
            for name, value in options.items():
                if name in ("post_per_channel", "post_workspace"):
                    setattr(self, name, None if value is None else (float(value[0]), int(value[1])))
                elif name == "method_limits":
                    self.method_limits = {k: (float(v[0]), int(v[1])) for k, v in value.items()}
                elif name in ("fractional_retry_after", "refuse_customize"):
                    setattr(self, name, bool(value))
                else:
                    raise ValueError(f"unknown option {name!r}")
            self._buckets = {}
            return {"post_per_channel": self.post_per_channel, "post_workspace": self.post_workspace,
                    "method_limits": self.method_limits, "fractional_retry_after": self.fractional_retry_after,
                    "refuse_customize": self.refuse_customize}

    # -- reading (tests) --------------------------------------------------------------------------------------

    def messages(self, channel_id: str | None = None, *, thread_ts: str | None = None) -> list[Message]:
        """Messages oldest first; with `thread_ts`, the replies in that thread (not its root)."""
        with self._lock:
            return [msgspec.structs.replace(m) for m in self._messages
                    if (channel_id is None or m.channel == channel_id)
                    and (thread_ts is None or (m.thread_ts == thread_ts and m.ts != thread_ts))]

    def root_messages(self, channel_id: str) -> list[Message]:
        """What landed in the channel itself (not in a thread), broadcast replies included."""
        with self._lock:
            return [msgspec.structs.replace(m) for m in self._messages
                    if m.channel == channel_id and (not m.in_thread or m.reply_broadcast)]

    def bot_messages(self, channel_id: str | None = None) -> list[Message]:
        return [m for m in self.messages(channel_id) if m.bot_id]

    def count_requests(self, method: str | None = None, *, status: int | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests
                       if (method is None or r.method == method) and (status is None or r.status == status))

    def snapshot(self, *, include_requests: bool = True) -> Snapshot:
        with self._lock:
            return Snapshot(channels=[msgspec.structs.replace(c) for c in self.channels.values()],
                            messages=self.messages(),
                            requests=list(self.requests) if include_requests else [])

    # -- the API ----------------------------------------------------------------------------------------------

    def handle(self, method: str, *, query: str, body: bytes, content_type: str,
               authorization: str | None) -> Answer:
        args, bad_json = _arguments(query, body, content_type)
        token = None
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        elif isinstance(args.get("token"), str):
            token = args["token"]
        channel = args.get("channel") if isinstance(args.get("channel"), str) else None
        with self._lock:
            answer, fault = self._handle(method, args, token, channel, bad_json)
            error = None
            if answer.status == 200 and not answer.drop:
                decoded = json.loads(answer.body)
                error = None if decoded.get("ok") else decoded.get("error")
            self.requests.append(RequestLog(at=time.monotonic(), method=method, channel=channel,
                                            status=0 if answer.drop else answer.status, error=error, fault=fault))
            return answer

    def _handle(self, method: str, args: dict[str, Any], token: str | None, channel: str | None,
                bad_json: bool) -> tuple[Answer, str | None]:
        if method not in METHODS:
            return _error("unknown_method"), None
        if bad_json:
            return _error("invalid_json"), None
        if not token:
            return _error("not_authed"), None
        if token in self.revoked:
            return _error("token_revoked"), None
        if token not in self.tokens:
            return _error("invalid_auth"), None
        rule = self._fault(method, channel)
        if rule is not None:
            label = f"{rule.kind}-stored" if rule.kind == "5xx" and rule.stored else rule.kind
            if rule.kind == "429":
                # As Slack does, the limit then holds for Retry-After: a request sent into it meets another 429.
                self._blocked[self._limit_key(method, channel)] = time.monotonic() + rule.retry_after_s
                return self._ratelimited(rule.retry_after_s), label
            if rule.kind == "error":
                return _error(rule.error), label
            if rule.kind == "timeout":
                return Answer(0, b"", drop=True, delay_s=rule.delay_s), label
            if rule.kind == "5xx" and not rule.stored:
                return _server_error(rule.status), label
        wait = self._limit(method, channel)
        if wait > 0:
            return self._ratelimited(wait), None
        answer = getattr(self, "_m_" + method.replace(".", "_"))(args, self.tokens[token])
        if rule is not None and rule.kind == "lose-answer":
            return Answer(0, b"", drop=True), label
        if rule is not None and rule.kind == "5xx":
            return _server_error(rule.status), label
        return answer, None

    def _fault(self, method: str, channel: str | None) -> FaultRule | None:
        for rule in self.faults:
            if rule.count == 0 or (rule.method and rule.method != method):
                continue
            if rule.channel and rule.channel != channel:
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            if rule.count > 0:
                rule.count -= 1
            rule.fired += 1
            return rule
        return None

    def _ratelimited(self, wait_s: float) -> Answer:
        retry_after = f"{wait_s:.3f}" if self.fractional_retry_after else str(max(1, math.ceil(wait_s)))
        return _json(429, {"ok": False, "error": "ratelimited"}, [("Retry-After", retry_after)])

    @staticmethod
    def _limit_key(method: str, channel: str | None) -> str:
        return f"post:{channel}" if method == "chat.postMessage" and channel else method

    def _limit(self, method: str, channel: str | None) -> float:
        now = time.monotonic()
        blocked = self._blocked.get(self._limit_key(method, channel), 0.0) - now
        if blocked > 0:
            return blocked
        checks: list[tuple[str, tuple[float, int]]] = []
        if method in self.method_limits:
            checks.append((method, self.method_limits[method]))
        if method == "chat.postMessage":
            if self.post_workspace is not None:
                checks.append(("post-workspace", self.post_workspace))
            if channel is not None and channel in self.channels:
                checks.append((f"post:{channel}", self.post_per_channel))
        buckets = []
        for key, (per_s, burst) in checks:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(per_s, burst, now)
            buckets.append(bucket)
        # Look at every limit first: a request refused by one of them takes nothing from the others.
        waits = []
        for bucket in buckets:
            bucket.tokens = min(bucket.burst, bucket.tokens + (now - bucket.at) * bucket.per_s)
            bucket.at = now
            waits.append(0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) / bucket.per_s)
        if any(waits):
            return max(waits)
        for bucket in buckets:
            bucket.tokens -= 1.0
        return 0.0

    # -- the methods ------------------------------------------------------------------------------------------

    def _m_auth_test(self, args: dict[str, Any], scopes: frozenset[str]) -> Answer:
        return _json(200, {"ok": True, "url": "https://fake.slack.test/", "team": "Fake", "user": "tether",
                           "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                           "is_enterprise_install": False})

    def _channel(self, args: dict[str, Any], scopes: frozenset[str], need: str) -> Channel | Answer:
        cid = args.get("channel")
        channel = self.channels.get(cid) if isinstance(cid, str) else None
        if channel is None or channel.deleted:
            return _error("channel_not_found")
        needed = need.replace("channels:", "groups:") if channel.is_private else need
        if needed not in scopes:
            return _error("missing_scope", needed=needed, provided=",".join(sorted(scopes)))
        if channel.is_private and not channel.is_member:
            return _error("channel_not_found")  # a private channel the bot is not in does not exist for it
        return channel

    def _m_chat_postMessage(self, args: dict[str, Any], scopes: frozenset[str]) -> Answer:
        if "chat:write" not in scopes:
            return _error("missing_scope", needed="chat:write", provided=",".join(sorted(scopes)))
        channel = self._channel(args, {*scopes, "channels:history", "groups:history"}, "channels:history")
        if isinstance(channel, Answer):
            return channel
        if channel.is_archived:
            return _error("is_archived")
        if not channel.is_member:
            return _error("not_in_channel")
        text = args.get("text")
        if not isinstance(text, str) or not text:
            return _error("no_text")
        customized = bool(args.get("username") or args.get("icon_url"))
        if customized and (self.refuse_customize or "chat:write.customize" not in scopes):
            return _error("missing_scope", needed="chat:write.customize", provided=",".join(sorted(scopes)))
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return _error("invalid_metadata_format")
        if metadata is not None and (not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str)
                                     or not isinstance(metadata.get("event_payload"), dict)):
            return _error("invalid_metadata_format")
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None:
            root = self._by_ts.get((channel.id, str(thread_ts)))
            if root is None or root.deleted:
                return _error("thread_not_found")
            thread_ts = root.thread_ts if root.in_thread else root.ts  # a reply's ts means its thread
        message = self._store(Message(
            channel=channel.id, ts=self._new_ts(), text=text[:MAX_TEXT], thread_ts=thread_ts, user=BOT_USER_ID,
            bot_id=BOT_ID, username=args.get("username") or None, icon_url=args.get("icon_url") or None,
            metadata=metadata, reply_broadcast=_truthy(args.get("reply_broadcast")),
            unfurl_links=None if "unfurl_links" not in args else _truthy(args["unfurl_links"]),
            unfurl_media=None if "unfurl_media" not in args else _truthy(args["unfurl_media"])))
        return _json(200, {"ok": True, "channel": channel.id, "ts": message.ts,
                           "message": self._render(message, with_metadata=True)})

    def _m_conversations_replies(self, args: dict[str, Any], scopes: frozenset[str]) -> Answer:
        channel = self._channel(args, scopes, "channels:history")
        if isinstance(channel, Answer):
            return channel
        root = self._by_ts.get((channel.id, str(args.get("ts"))))
        if root is None or root.deleted:
            return _error("thread_not_found")
        if root.in_thread:
            root = self._by_ts[(channel.id, str(root.thread_ts))]
        replies = [m for m in self._messages if m.channel == channel.id and m.thread_ts == root.ts
                   and m.ts != root.ts and not m.deleted]
        replies = _window(replies, args)
        page, more, cursor = _page(replies, args, default_limit=1000)
        if not args.get("cursor"):
            page = [root, *page]
        return self._listing(page, more, cursor, args)

    def _m_conversations_history(self, args: dict[str, Any], scopes: frozenset[str]) -> Answer:
        channel = self._channel(args, scopes, "channels:history")
        if isinstance(channel, Answer):
            return channel
        found = [m for m in self._messages if m.channel == channel.id and not m.deleted
                 and (not m.in_thread or m.reply_broadcast)]
        found = list(reversed(_window(found, args)))  # newest first, as Slack lists a channel
        page, more, cursor = _page(found, args, default_limit=100)
        return self._listing(page, more, cursor, args)

    def _m_conversations_info(self, args: dict[str, Any], scopes: frozenset[str]) -> Answer:
        channel = self._channel(args, {*scopes, "channels:history", "groups:history"}, "channels:read")
        if isinstance(channel, Answer):
            return channel
        return _json(200, {"ok": True, "channel": {
            "id": channel.id, "name": channel.name, "is_channel": not channel.is_private,
            "is_group": channel.is_private, "is_private": channel.is_private, "is_archived": channel.is_archived,
            "is_member": channel.is_member, "created": 1_700_000_000}})

    # -- internals --------------------------------------------------------------------------------------------

    def _listing(self, page: list[Message], more: bool, cursor: str, args: dict[str, Any]) -> Answer:
        with_metadata = _truthy(args.get("include_all_metadata"))
        return _json(200, {"ok": True, "messages": [self._render(m, with_metadata=with_metadata) for m in page],
                           "has_more": more, "response_metadata": {"next_cursor": cursor}})

    def _render(self, m: Message, *, with_metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text, "user": m.user, "team": TEAM_ID}
        if m.bot_id:
            out["bot_id"] = m.bot_id
            out["app_id"] = "A0FAKEAPP1"
        if m.username:
            out["username"] = m.username
            out["subtype"] = "bot_message"
        if m.icon_url:
            out["icons"] = {"image_48": m.icon_url}
        if m.thread_ts:
            out["thread_ts"] = m.thread_ts
        if not m.in_thread:
            replies = [r for r in self._messages if r.channel == m.channel and r.thread_ts == m.ts
                       and r.ts != m.ts and not r.deleted]
            if replies:
                out["thread_ts"] = m.ts
                out["reply_count"] = len(replies)
                out["latest_reply"] = replies[-1].ts
        if with_metadata and m.metadata is not None:
            out["metadata"] = m.metadata
        return out

    def _new_ts(self) -> str:
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _store(self, message: Message) -> Message:
        self._messages.append(message)
        self._by_ts[(message.channel, message.ts)] = message
        return message


def _server_error(status: int) -> Answer:
    return Answer(status, b"<html><body><h1>Server Error</h1></body></html>",
                  [("Content-Type", "text/html; charset=utf-8")])


def _arguments(query: str, body: bytes, content_type: str) -> tuple[dict[str, Any], bool]:
    args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query).items()}
    if not body.strip():
        return args, False
    if content_type.startswith("application/json"):
        try:
            decoded = json.loads(body)
        except ValueError:
            return args, True
        if not isinstance(decoded, dict):
            return args, True
        args.update(decoded)
        return args, False
    args.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
    return args, False


def _ts_us(ts: Any) -> int | None:
    try:
        return round(float(ts) * 1_000_000)
    except (TypeError, ValueError):
        return None


def _window(messages: list[Message], args: dict[str, Any]) -> list[Message]:
    oldest, latest = _ts_us(args.get("oldest")), _ts_us(args.get("latest"))
    inclusive = _truthy(args.get("inclusive"))
    out = []
    for m in messages:
        at = _ts_us(m.ts) or 0
        if oldest is not None and (at < oldest or (at == oldest and not inclusive)):
            continue
        if latest is not None and (at > latest or (at == latest and not inclusive)):
            continue
        out.append(m)
    return out


def _page(items: list[Message], args: dict[str, Any], *, default_limit: int) -> tuple[list[Message], bool, str]:
    try:
        limit = max(1, min(1000, int(args.get("limit") or default_limit)))
    except ValueError:
        limit = default_limit
    start = 0
    if args.get("cursor"):
        start = int(base64.b64decode(str(args["cursor"])).decode().removeprefix("offset:"))
    page = items[start:start + limit]
    more = start + limit < len(items)
    cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
    return page, more, cursor
