"""The behaviour of the local Discord API, without HTTP: routes, authentication, rate limits, validation, state,
fault injection, and the request log. `discord_api.FakeDiscord` puts a real HTTP server in front of it.

What Discord does and this copies (REST API v10):
- Bot requests carry ``Authorization: Bot <token>``; a wrong or old token gets ``401 {"message": "401:
  Unauthorized", "code": 0}``. Webhook executions authenticate with the token in the URL (10015 unknown webhook,
  50027 invalid webhook token) and do not count against the bot's global limit.
- Create message: ``content`` up to 2000 characters, counted in code points (the API is Python: "the API calculates
  length based on the number of codepoints", discord/discord-api-docs#1315) → else 50035 with an ``errors`` object;
  no content and no embeds → 50006; ``nonce`` a string of at most 25 characters or an integer; with
  ``enforce_nonce`` a nonce the same author used within the window (default 5 minutes) returns the earlier message
  instead of creating one (same channel by default; ``nonce_scope="author"`` for any channel).
- Execute webhook: ``?wait=true`` → 200 with the message, else 204; ``?thread_id=`` posts in a thread of the
  webhook's channel; ``username``/``avatar_url`` override the identity for that message.
- Threads (type 11 public): started without a message (``type`` is required in v10), posting a "thread created"
  system message (type 18) in the parent; archived after ``auto_archive_duration`` minutes without activity;
  sending to an archived thread un-archives it (or answers 50083 with ``archived_send="reject"``); a locked thread
  answers 160005; a deleted one 10003.
- Permissions a seeded channel denies give 50001 (view) or 50013 (the rest).
- 401, 403 and 429 (except 429 of scope ``shared``) count as invalid requests, as Discord counts them.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs

import msgspec

from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.errors import InvalidInput
from tests.fakes.discord_faults import FaultPlan, FaultRule
from tests.fakes.discord_limits import RateLimiter, RouteLimit, bucket_hash
from tests.fakes.discord_model import (
    AUTO_ARCHIVE_MINUTES,
    DEFAULT_MESSAGE,
    PERMISSIONS,
    PUBLIC_THREAD,
    TEXT_CHANNEL,
    THREAD_CREATED_MESSAGE,
    THREAD_PARENT_TYPES,
    THREAD_TYPES,
    ApiError,
    Channel,
    FaultRecord,
    FormErrors,
    Message,
    RequestRecord,
    Snapshot,
    Snowflakes,
    Webhook,
    bot_user_json,
    cannot_send_empty,
    channel_json,
    invalid_webhook_token,
    iso_timestamp,
    max_webhooks,
    message_json,
    method_not_allowed,
    missing_access,
    missing_permissions,
    not_found,
    thread_archived,
    thread_locked,
    unauthorized,
    unknown_channel,
    unknown_message,
    unknown_webhook,
    webhook_json,
    wrong_channel_type,
)
from tests.fakes.discord_wire import (
    MAX_NONCE_CHARS,
    MAX_WEBHOOKS_PER_CHANNEL,
    ROUTE_NAMES,
    ApiRequest,
    ApiResponse,
    Route,
    bot_token,
    find_route,
    json_bytes,
    mask_path,
    message_body,
    parse_allowed_mentions,
    parse_body,
    path_webhook_token,
    query_bool,
    query_one,
    rate_limited,
    reserved_name,
    response_header,
    status_response,
)

_S = TypeVar("_S", bound=msgspec.Struct)

ArchivedSend = Literal["unarchive", "reject"]
NonceScope = Literal["channel", "author"]

DEFAULT_LIMITS: dict[str, RouteLimit] = {
    "message_create": RouteLimit(5, 5_000),
    "webhook_execute": RouteLimit(5, 5_000),
}
DEFAULT_ROUTE_LIMIT = RouteLimit(50, 1_000)


@dataclass
class _Outcome:
    """What a handler produced, plus what the request log needs to know about it."""

    status: int
    payload: Any = None
    message_id: str | None = None
    deduped: bool = False


@dataclass
class _Ctx:
    now_ms: int
    token: str | None = None


class _ShiftedClock:
    """The injected clock plus an offset that `advance()` moves, so time can jump also in another process."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.shift_ms = 0

    def now_ms(self) -> int:
        return self.base.now_ms() + self.shift_ms


class LocalDiscord:
    """State and behaviour of the fake Discord. Thread-safe: every request and control call holds one lock."""

    def __init__(
        self,
        *,
        token: str = "test-bot-token",
        clock: Clock | None = None,
        seed: int = 0,
        archived_send: ArchivedSend = "unarchive",
        nonce_window_s: float = 300.0,
        nonce_scope: NonceScope = "channel",
        global_limit: int = 50,
        global_window_s: float = 1.0,
        limits: Mapping[str, tuple[int, float]] | None = None,
        thread_created_message: bool = True,
        bot_username: str = "tether-bot",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = _ShiftedClock(clock or SYSTEM_CLOCK)
        self._sleep = sleep
        self._ids = Snowflakes()
        now = self._clock.now_ms()
        self.guild_id = self._ids.next(now)
        self.bot_user_id = self._ids.next(now)
        self.application_id = self.bot_user_id
        self.bot_username = bot_username
        self._tokens: list[str] = [token]
        self._seed = seed
        self._faults = FaultPlan(seed)
        route_limits = dict(DEFAULT_LIMITS)
        for name, (limit, window_s) in (limits or {}).items():
            route_limits[_check_route(name)] = RouteLimit(limit, round(window_s * 1000))
        self._limiter = RateLimiter(
            route_limits, DEFAULT_ROUTE_LIMIT, RouteLimit(global_limit, round(global_window_s * 1000))
        )
        self.archived_send: ArchivedSend = archived_send
        self.nonce_window_s = nonce_window_s
        self.nonce_scope: NonceScope = nonce_scope
        self.thread_created_message = thread_created_message
        self._clear_state()

    def _clear_state(self) -> None:
        self._channels: dict[str, Channel] = {}
        self._webhooks: dict[str, Webhook] = {}
        self._messages: dict[str, Message] = {}
        self._channel_messages: dict[str, list[str]] = {}
        self._nonces: dict[tuple[str, str, str], str] = {}
        self._requests: list[RequestRecord] = []
        self._fault_records: list[FaultRecord] = []
        self._invalid_requests = 0
        self._status_counts: dict[str, int] = {}
        self._seq = 0

    # ------------------------------------------------------------------ time

    def now_ms(self) -> int:
        return self._clock.now_ms()

    def advance(self, seconds: float) -> int:
        """Move the fake's clock forward (rate-limit windows, nonce window, auto-archive); returns the new now."""
        if seconds < 0:
            raise InvalidInput("seconds", "cannot move time backwards")
        with self._lock:
            self._clock.shift_ms += round(seconds * 1000)
            return self._clock.now_ms()

    # ------------------------------------------------------------------ seeding and control

    def add_channel(
        self,
        name: str = "general",
        *,
        type: int = TEXT_CHANNEL,  # Discord's field name
        channel_id: str | None = None,
        deny: Iterable[str] = (),
    ) -> Channel:
        """Seed a guild text (0) or announcement (5) channel; `deny` lists permissions the bot lacks there."""
        if type not in THREAD_PARENT_TYPES:
            raise InvalidInput("type", f"add_channel makes text (0) or announcement (5) channels, got {type}")
        with self._lock:
            now = self.now_ms()
            ch = Channel(
                id=channel_id or self._ids.next(now),
                type=type,
                name=name,
                guild_id=self.guild_id,
                deny=_check_permissions(deny),
                created_at_ms=now,
                last_activity_ms=now,
            )
            self._put_channel(ch)
            return _copy(ch)

    def add_thread(
        self,
        parent_id: str,
        name: str = "thread",
        *,
        type: int = PUBLIC_THREAD,  # Discord's field name
        channel_id: str | None = None,
        archived: bool = False,
        locked: bool = False,
        auto_archive_duration: int = 4320,
        deny: Iterable[str] = (),
    ) -> Channel:
        """Seed a thread under an existing channel (no system message, no request logged)."""
        if type not in THREAD_TYPES:
            raise InvalidInput("type", f"threads are 10, 11 or 12, got {type}")
        with self._lock:
            parent = self._channels.get(parent_id)
            if parent is None or parent.deleted or parent.is_thread:
                raise InvalidInput("parent_id", f"no text channel {parent_id}")
            now = self.now_ms()
            ch = Channel(
                id=channel_id or self._ids.next(now),
                type=type,
                name=name,
                guild_id=self.guild_id,
                parent_id=parent_id,
                owner_id=self.bot_user_id,
                deny=_check_permissions(deny),
                archived=archived,
                locked=locked,
                auto_archive_duration=auto_archive_duration,
                archive_timestamp=iso_timestamp(now),
                created_at_ms=now,
                last_activity_ms=now,
            )
            self._put_channel(ch)
            return _copy(ch)

    def add_webhook(self, channel_id: str, name: str = "tether") -> Webhook:
        with self._lock:
            ch = self._channels.get(channel_id)
            if ch is None or ch.deleted or ch.is_thread:
                raise InvalidInput("channel_id", f"no text channel {channel_id}")
            return _copy(self._new_webhook(ch, name))

    def set_channel(
        self,
        channel_id: str,
        *,
        archived: bool | None = None,
        locked: bool | None = None,
        deny: Iterable[str] | None = None,
        name: str | None = None,
    ) -> Channel:
        """Change a channel behind the adapter's back (a moderator archiving or locking a thread, a role change)."""
        with self._lock:
            ch = self._existing(channel_id)
            now = self.now_ms()
            if archived is not None:
                self._set_archived(ch, archived, now)
            if locked is not None:
                ch.locked = locked
            if deny is not None:
                ch.deny = _check_permissions(deny)
            if name is not None:
                ch.name = name
            return _copy(ch)

    def delete_channel(self, channel_id: str) -> None:
        """Delete a channel or thread as a person would; later API calls on it answer 10003."""
        with self._lock:
            self._delete_channel(self._existing(channel_id))

    def delete_webhook(self, webhook_id: str) -> None:
        with self._lock:
            wh = self._webhooks.get(webhook_id)
            if wh is None or wh.deleted:
                raise InvalidInput("webhook_id", f"no webhook {webhook_id}")
            wh.deleted = True

    def set_token(self, token: str) -> None:
        """Rotate the bot token: from now on only `token` is accepted; the old one gets 401 code 0."""
        if not token:
            raise InvalidInput("token", "must not be empty")
        with self._lock:
            self._tokens = [token]

    def add_token(self, token: str) -> None:
        """Accept one more bot token (several accounts, or an overlap period during rotation)."""
        if not token:
            raise InvalidInput("token", "must not be empty")
        with self._lock:
            if token not in self._tokens:
                self._tokens.append(token)

    @property
    def tokens(self) -> list[str]:
        with self._lock:
            return list(self._tokens)

    def inject(self, kind: str, **options: Any) -> FaultRule:
        """Add a fault rule (see `tests.fakes.discord_faults`); returns it with its id."""
        rule = msgspec.convert({"kind": kind, **options}, FaultRule)
        if rule.route is not None:
            _check_route(rule.route)
        with self._lock:
            return _copy(self._faults.add(rule))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def fault_rules(self) -> list[FaultRule]:
        with self._lock:
            return self._faults.rules()

    def set_limit(self, route: str, limit: int, window_s: float) -> None:
        """Set one route's bucket size (per major parameter: channel or webhook)."""
        with self._lock:
            self._limiter.set_limit(_check_route(route), RouteLimit(limit, round(window_s * 1000)))

    def configure(
        self,
        *,
        archived_send: ArchivedSend | None = None,
        nonce_window_s: float | None = None,
        nonce_scope: NonceScope | None = None,
        global_limit: int | None = None,
        global_window_s: float | None = None,
        thread_created_message: bool | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            if archived_send is not None:
                if archived_send not in ("unarchive", "reject"):
                    raise InvalidInput("archived_send", f"'unarchive' or 'reject', got {archived_send!r}")
                self.archived_send = archived_send
            if nonce_window_s is not None:
                self.nonce_window_s = nonce_window_s
            if nonce_scope is not None:
                if nonce_scope not in ("channel", "author"):
                    raise InvalidInput("nonce_scope", f"'channel' or 'author', got {nonce_scope!r}")
                self.nonce_scope = nonce_scope
            if global_limit is not None or global_window_s is not None:
                current = self._limiter.global_limit
                self._limiter.set_global_limit(
                    RouteLimit(
                        global_limit if global_limit is not None else current.limit,
                        round(global_window_s * 1000) if global_window_s is not None else current.window_ms,
                    )
                )
            if thread_created_message is not None:
                self.thread_created_message = thread_created_message
            if seed is not None:
                self._seed = seed
                self._faults.reseed(seed)
            return self.config()

    def config(self) -> dict[str, Any]:
        with self._lock:
            g = self._limiter.global_limit
            return {
                "archived_send": self.archived_send,
                "nonce_window_s": self.nonce_window_s,
                "nonce_scope": self.nonce_scope,
                "global_limit": g.limit,
                "global_window_s": g.window_ms / 1000,
                "limits": {
                    name: {"limit": lim.limit, "window_s": lim.window_ms / 1000}
                    for name, lim in self._limiter.limits().items()
                },
                "default_limit": {
                    "limit": DEFAULT_ROUTE_LIMIT.limit,
                    "window_s": DEFAULT_ROUTE_LIMIT.window_ms / 1000,
                },
                "thread_created_message": self.thread_created_message,
                "seed": self._seed,
                "fault_rules": msgspec.to_builtins(self._faults.rules()),
            }

    def reset(self) -> None:
        """Forget channels, webhooks, messages, logs, faults and rate-limit windows; keep config and tokens."""
        with self._lock:
            self._clear_state()
            self._faults.clear()
            self._limiter.reset()

    # ------------------------------------------------------------------ reading state

    @property
    def channels(self) -> dict[str, Channel]:
        """Live (not deleted) channels and threads by id."""
        with self._lock:
            now = self.now_ms()
            out: dict[str, Channel] = {}
            for ch in self._channels.values():
                if not ch.deleted:
                    self._refresh(ch, now)
                    out[ch.id] = _copy(ch)
            return out

    def channel(self, channel_id: str) -> Channel | None:
        """A channel or thread by id, deleted ones included (`deleted=True`); None if it never existed."""
        with self._lock:
            ch = self._channels.get(channel_id)
            if ch is None:
                return None
            self._refresh(ch, self.now_ms())
            return _copy(ch)

    def messages(self, channel_id: str | None = None, *, include_system: bool = False) -> list[Message]:
        """Stored messages, oldest first; of one channel or thread, or all. System messages (a thread's "thread
        created" notice in its parent) only with `include_system`. Messages of deleted channels stay here."""
        with self._lock:
            if channel_id is None:
                ids: Iterable[str] = sorted(self._messages, key=int)
            else:
                ids = self._channel_messages.get(channel_id, [])
            msgs = [self._messages[i] for i in ids]
            return [_copy(m) for m in msgs if include_system or m.type == DEFAULT_MESSAGE]

    def webhooks(self, channel_id: str | None = None, *, include_deleted: bool = False) -> list[Webhook]:
        with self._lock:
            return [
                _copy(w)
                for w in self._webhooks.values()
                if (channel_id is None or w.channel_id == channel_id) and (include_deleted or not w.deleted)
            ]

    def requests(self, route: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [_copy(r) for r in self._requests if route is None or r.route == route]

    def fault_records(self) -> list[FaultRecord]:
        with self._lock:
            return [_copy(f) for f in self._fault_records]

    @property
    def invalid_requests(self) -> int:
        """401, 403 and 429 responses (not 429 of scope shared): what Discord counts towards its ban threshold."""
        with self._lock:
            return self._invalid_requests

    def snapshot(self, *, include_requests: bool = True) -> Snapshot:
        with self._lock:
            now = self.now_ms()
            for ch in self._channels.values():
                self._refresh(ch, now)
            return Snapshot(
                bot_user_id=self.bot_user_id,
                guild_id=self.guild_id,
                channels=[_copy(c) for c in self._channels.values()],
                webhooks=[_copy(w) for w in self._webhooks.values()],
                messages=[_copy(self._messages[i]) for i in sorted(self._messages, key=int)],
                requests=[_copy(r) for r in self._requests] if include_requests else [],
                faults=[_copy(f) for f in self._fault_records],
                invalid_requests=self._invalid_requests,
                status_counts=dict(self._status_counts),
                config=self.config(),
            )

    # ------------------------------------------------------------------ the request pipeline

    def handle(self, req: ApiRequest) -> ApiResponse:
        segments = req.path.strip("/").split("/")
        route, params = find_route(req.method, segments)
        masked = mask_path(req.path, route, params)
        if route is None:
            error = method_not_allowed() if params is not None else not_found()
            with self._lock:
                return self._finish(req, masked, None, None, self._error_response(error), _Ctx(self.now_ms()))
        assert params is not None
        with self._lock:
            delay_s, fault = self._faults.before(req.method, route.name, req.path)
        if delay_s > 0:
            self._sleep(delay_s)
        with self._lock:
            ctx = _Ctx(self.now_ms())
            major = params[route.major]
            if fault is not None:
                return self._injected_before(req, masked, route, major, fault, ctx)
            response, outcome = self._process(req, route, params, major, ctx)
            injected: FaultRule | None = None
            if 200 <= response.status < 300:
                injected = self._faults.after(req.method, route.name, req.path)
                if injected is not None:
                    response = self._spoil(response, injected)
            return self._finish(req, masked, route, major, response, ctx, outcome, injected)

    def _process(
        self, req: ApiRequest, route: Route, params: dict[str, str], major: str, ctx: _Ctx
    ) -> tuple[ApiResponse, _Outcome | None]:
        if route.auth == "bot":
            ctx.token = bot_token(req.authorization)
            if ctx.token is None or ctx.token not in self._tokens:
                return self._error_response(unauthorized()), None
            wait_ms = self._limiter.acquire_global(ctx.now_ms)
            if wait_ms > 0:
                return rate_limited(wait_ms, scope="global"), None
        else:
            ctx.token = params.get("webhook_token")
        verdict = self._limiter.acquire(route.name, major, ctx.now_ms)
        if not verdict.allowed:
            response = rate_limited(verdict.retry_after_ms, scope="user")
            response.headers.extend(verdict.headers(ctx.now_ms, 0))
            return response, None
        outcome: _Outcome | None = None
        try:
            outcome = self._dispatch(route, params, req, ctx)
        except ApiError as error:
            response = self._error_response(error)
        else:
            if outcome.status == 204:
                response = ApiResponse(204)
            else:
                response = ApiResponse(
                    outcome.status, json_bytes(outcome.payload), [("Content-Type", "application/json")]
                )
        response.headers.extend(verdict.headers(ctx.now_ms, 0))
        return response, outcome

    def _injected_before(
        self, req: ApiRequest, masked: str, route: Route, major: str, fault: FaultRule, ctx: _Ctx
    ) -> ApiResponse:
        if fault.kind == "disconnect":
            response = ApiResponse(0, drop=True)
        elif fault.kind == "status":
            response = status_response(fault.status)
        else:  # rate_limit
            retry_ms = max(1, round(fault.retry_after_s * 1000))
            if fault.scope == "global":
                self._limiter.block_global(ctx.now_ms + retry_ms)
                response = rate_limited(retry_ms, scope="global")
            else:
                self._limiter.block(route.name, major, ctx.now_ms + retry_ms)
                response = rate_limited(retry_ms, scope=fault.scope)
                verdict = self._limiter.acquire(route.name, major, ctx.now_ms)
                response.headers.extend(verdict.headers(ctx.now_ms, 0))
        ctx.token = bot_token(req.authorization) if route.auth == "bot" else path_webhook_token(req.path, route)
        return self._finish(req, masked, route, major, response, ctx, None, fault)

    def _spoil(self, response: ApiResponse, rule: FaultRule) -> ApiResponse:
        if rule.kind == "response_lost":
            return ApiResponse(0, drop=True)
        return status_response(rule.status)

    def _finish(
        self,
        req: ApiRequest,
        masked: str,
        route: Route | None,
        major: str | None,
        response: ApiResponse,
        ctx: _Ctx,
        outcome: _Outcome | None = None,
        fault: FaultRule | None = None,
    ) -> ApiResponse:
        self._seq += 1
        scope = response_header(response, "X-RateLimit-Scope")
        code: int | None = None
        if response.status >= 400 and response.body.startswith(b"{"):
            try:
                code = json.loads(response.body).get("code")
            except ValueError:
                code = None
        auth: Literal["bot", "webhook", "none"] = "none"
        if route is not None:
            auth = route.auth if ctx.token is not None else "none"
        record = RequestRecord(
            seq=self._seq,
            at_ms=ctx.now_ms,
            method=req.method,
            path=masked,
            route=route.name if route else None,
            bucket=bucket_hash(route.name) if route else None,
            major=major,
            status=response.status,
            code=code,
            auth=auth,
            token=ctx.token,
            scope=scope,
            global_limit=response_header(response, "X-RateLimit-Global") == "true",
            injected=fault.kind if fault else None,
            fault_id=fault.id if fault else None,
            deduped=bool(outcome and outcome.deduped),
            message_id=outcome.message_id if outcome else None,
            query=req.query,
        )
        self._requests.append(record)
        key = "dropped" if response.drop else str(response.status)
        self._status_counts[key] = self._status_counts.get(key, 0) + 1
        if response.status in (401, 403) or (response.status == 429 and scope != "shared"):
            self._invalid_requests += 1
        if fault is not None:
            self._fault_records.append(
                FaultRecord(
                    request_seq=self._seq,
                    rule_id=fault.id,
                    kind=fault.kind,
                    at_ms=ctx.now_ms,
                    method=req.method,
                    path=masked,
                    route=record.route,
                    status=None if response.drop else response.status,
                    message_id=record.message_id,
                )
            )
        return response

    def _error_response(self, error: ApiError) -> ApiResponse:
        return ApiResponse(error.status, json_bytes(error.body()), [("Content-Type", "application/json")])

    # ------------------------------------------------------------------ endpoints

    def _dispatch(self, route: Route, params: dict[str, str], req: ApiRequest, ctx: _Ctx) -> _Outcome:
        query = parse_qs(req.query, keep_blank_values=True)
        name = route.name
        if name == "message_create":
            return self._message_create(params["channel_id"], parse_body(req.body), ctx)
        if name == "messages_list":
            return self._messages_list(params["channel_id"], query, ctx)
        if name == "message_get":
            return self._message_get(params["channel_id"], params["message_id"], ctx)
        if name == "thread_create":
            return self._thread_create(params["channel_id"], parse_body(req.body), ctx)
        if name == "channel_get":
            return _Outcome(200, channel_json(self._bot_channel(params["channel_id"], ctx)))
        if name == "channel_modify":
            return self._channel_modify(params["channel_id"], parse_body(req.body), ctx)
        if name == "channel_delete":
            return self._channel_delete(params["channel_id"], ctx)
        if name == "webhook_create":
            return self._webhook_create(params["channel_id"], parse_body(req.body), ctx)
        if name == "webhooks_list":
            return self._webhooks_list(params["channel_id"], ctx)
        if name == "webhook_get":
            wh = self._bot_webhook(params["webhook_id"], ctx)
            return _Outcome(200, webhook_json(wh, self._bot_user()))
        if name == "webhook_delete":
            self._bot_webhook(params["webhook_id"], ctx).deleted = True
            return _Outcome(204)
        if name == "webhook_execute":
            wh = self._token_webhook(params["webhook_id"], params["webhook_token"])
            return self._webhook_execute(wh, query, parse_body(req.body), ctx)
        if name == "webhook_get_with_token":
            wh = self._token_webhook(params["webhook_id"], params["webhook_token"])
            return _Outcome(200, webhook_json(wh, None))
        if name == "webhook_message_get":
            wh = self._token_webhook(params["webhook_id"], params["webhook_token"])
            return self._webhook_message_get(wh, params["message_id"], query, ctx)
        raise not_found()

    def _message_create(self, channel_id: str, data: dict[str, Any], ctx: _Ctx) -> _Outcome:
        ch = self._bot_channel(channel_id, ctx)
        self._require(ch, "send")
        form = FormErrors()
        content, embeds = message_body(data, form)
        nonce = data.get("nonce")
        if nonce is not None:
            if isinstance(nonce, bool) or not isinstance(nonce, str | int):
                form.add("nonce", "NONCE_TYPE_INVALID", "Nonce must be a string or an integer.")
            elif isinstance(nonce, str) and len(nonce) > MAX_NONCE_CHARS:
                form.add("nonce", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_NONCE_CHARS} or fewer in length.")
        enforce = data.get("enforce_nonce", False)
        if not isinstance(enforce, bool):
            form.add("enforce_nonce", "BASE_TYPE_BOOLEAN", "Must be either true or false.")
        allowed_mentions = parse_allowed_mentions(data, form)
        form.raise_if_any()
        if not content and not embeds:
            raise cannot_send_empty()
        self._admit_send(ch, ctx.now_ms)
        if nonce is not None and enforce:
            earlier = self._nonces.get(self._nonce_key(ch.id, nonce))
            if earlier is not None:
                msg = self._messages[earlier]
                if ctx.now_ms - msg.at_ms <= self.nonce_window_s * 1000:
                    return _Outcome(200, message_json(msg, with_nonce=True), msg.id, deduped=True)
        msg = self._store_message(
            ch,
            ctx.now_ms,
            content=content,
            embeds=embeds,
            author_id=self.bot_user_id,
            author_username=self.bot_username,
            author_kind="bot",
            nonce=nonce,
            enforce_nonce=enforce,
            allowed_mentions=allowed_mentions,
        )
        if nonce is not None:
            self._nonces[self._nonce_key(ch.id, nonce)] = msg.id
        return _Outcome(200, message_json(msg, with_nonce=True), msg.id)

    def _webhook_execute(self, wh: Webhook, query: dict[str, list[str]], data: dict[str, Any], ctx: _Ctx) -> _Outcome:
        form = FormErrors()
        wait = query_bool(query, "wait", form)
        thread_id = query_one(query, "thread_id")
        content, embeds = message_body(data, form)
        username = data.get("username")
        if username is not None:
            if not isinstance(username, str) or not 1 <= len(username) <= 80:
                form.add("username", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")
            elif reserved_name(username):
                form.add("username", "USERNAME_INVALID_CONTAINS", 'Username cannot contain "discord" or "clyde"')
        avatar_url = data.get("avatar_url")
        if avatar_url is not None and not isinstance(avatar_url, str):
            form.add("avatar_url", "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        allowed_mentions = parse_allowed_mentions(data, form)
        if thread_id is not None and not thread_id.isdigit():
            form.add("thread_id", "NUMBER_TYPE_COERCE", f'Value "{thread_id}" is not snowflake.')
        form.raise_if_any()
        if not content and not embeds:
            raise cannot_send_empty()
        if thread_id is not None:
            target = self._channels.get(thread_id)
            if target is None or target.deleted or not target.is_thread or target.parent_id != wh.channel_id:
                raise unknown_channel()
        else:
            target = self._channels[wh.channel_id]
        self._admit_send(target, ctx.now_ms)
        msg = self._store_message(
            target,
            ctx.now_ms,
            content=content,
            embeds=embeds,
            author_id=wh.id,
            author_username=username or wh.name,
            author_kind="webhook",
            webhook_id=wh.id,
            avatar_url=avatar_url or None,
            allowed_mentions=allowed_mentions,
        )
        if not wait:
            return _Outcome(204, None, msg.id)
        return _Outcome(200, message_json(msg, with_nonce=False), msg.id)

    def _webhook_message_get(self, wh: Webhook, message_id: str, query: dict[str, list[str]], ctx: _Ctx) -> _Outcome:
        thread_id = query_one(query, "thread_id")
        where = wh.channel_id
        if thread_id is not None:
            thread = self._channels.get(thread_id)
            if thread is None or thread.deleted:
                raise unknown_channel()
            where = thread_id
        msg = self._messages.get(message_id)
        if msg is None or msg.webhook_id != wh.id or msg.channel_id != where:
            raise unknown_message()
        return _Outcome(200, message_json(msg, with_nonce=False), msg.id)

    def _messages_list(self, channel_id: str, query: dict[str, list[str]], ctx: _Ctx) -> _Outcome:
        ch = self._bot_channel(channel_id, ctx)
        form = FormErrors()
        limit = 50
        raw_limit = query_one(query, "limit")
        if raw_limit is not None:
            if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
                form.add("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
            else:
                limit = int(raw_limit)
        anchors: dict[str, int] = {}
        for name in ("before", "after", "around"):
            value = query_one(query, name)
            if value is not None:
                if value.isdigit():
                    anchors[name] = int(value)
                else:
                    form.add(name, "NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')
        form.raise_if_any()
        ids = [int(i) for i in self._channel_messages.get(ch.id, [])]
        if "around" in anchors:
            pivot = anchors["around"]
            older = [i for i in ids if i <= pivot][-((limit + 1) // 2) :]
            newer = [i for i in ids if i > pivot][: limit - len(older)]
            picked = older + newer
        elif "after" in anchors:
            picked = [i for i in ids if i > anchors["after"]][:limit]
        elif "before" in anchors:
            picked = [i for i in ids if i < anchors["before"]][-limit:]
        else:
            picked = ids[-limit:]
        # Discord lists newest first, whichever anchor was given.
        payload = [message_json(self._messages[str(i)], with_nonce=False) for i in reversed(picked)]
        return _Outcome(200, payload)

    def _message_get(self, channel_id: str, message_id: str, ctx: _Ctx) -> _Outcome:
        ch = self._bot_channel(channel_id, ctx)
        msg = self._messages.get(message_id)
        if msg is None or msg.channel_id != ch.id:
            raise unknown_message()
        return _Outcome(200, message_json(msg, with_nonce=False), msg.id)

    def _thread_create(self, channel_id: str, data: dict[str, Any], ctx: _Ctx) -> _Outcome:
        parent = self._bot_channel(channel_id, ctx)
        if parent.is_thread or parent.type not in THREAD_PARENT_TYPES:
            raise wrong_channel_type()
        self._require(parent, "create_threads")
        form = FormErrors()
        name = data.get("name")
        if name is None:
            form.add("name", "BASE_TYPE_REQUIRED", "This field is required")
        elif not isinstance(name, str) or not 1 <= len(name) <= 100:
            form.add("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        kind = data.get("type")
        if kind is None:
            form.add("type", "BASE_TYPE_REQUIRED", "This field is required")  # required since v10
        elif kind not in THREAD_TYPES or isinstance(kind, bool):
            form.add("type", "BASE_TYPE_CHOICES", "Value must be one of {10, 11, 12}.")
        duration = data.get("auto_archive_duration", 4320)
        if duration not in AUTO_ARCHIVE_MINUTES or isinstance(duration, bool):
            form.add("auto_archive_duration", "BASE_TYPE_CHOICES", "Value must be one of {60, 1440, 4320, 10080}.")
        form.raise_if_any()
        assert isinstance(name, str) and isinstance(kind, int) and isinstance(duration, int)
        thread = Channel(
            id=self._ids.next(ctx.now_ms),
            type=kind,
            name=name,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=self.bot_user_id,
            auto_archive_duration=duration,
            archive_timestamp=iso_timestamp(ctx.now_ms),
            created_at_ms=ctx.now_ms,
            last_activity_ms=ctx.now_ms,
        )
        self._put_channel(thread)
        if self.thread_created_message and kind == PUBLIC_THREAD:
            self._store_message(
                parent,
                ctx.now_ms,
                content=name,
                embeds=[],
                author_id=self.bot_user_id,
                author_username=self.bot_username,
                author_kind="system",
                type=THREAD_CREATED_MESSAGE,
            )
        return _Outcome(201, channel_json(thread))

    def _channel_modify(self, channel_id: str, data: dict[str, Any], ctx: _Ctx) -> _Outcome:
        ch = self._bot_channel(channel_id, ctx)
        form = FormErrors()
        name = data.get("name")
        if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= 100):
            form.add("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if not ch.is_thread:
            form.raise_if_any()
            self._require(ch, "manage_channels")
            if isinstance(name, str):
                ch.name = name
            return _Outcome(200, channel_json(ch))
        for flag in ("archived", "locked"):
            if flag in data and not isinstance(data[flag], bool):
                form.add(flag, "BASE_TYPE_BOOLEAN", "Must be either true or false.")
        duration = data.get("auto_archive_duration")
        if duration is not None and (duration not in AUTO_ARCHIVE_MINUTES or isinstance(duration, bool)):
            form.add("auto_archive_duration", "BASE_TYPE_CHOICES", "Value must be one of {60, 1440, 4320, 10080}.")
        form.raise_if_any()
        if "locked" in data or ch.locked:
            # Only members with MANAGE_THREADS may lock, unlock, or touch a locked thread.
            self._require(ch, "manage_threads")
        if "archived" in data:
            self._set_archived(ch, data["archived"], ctx.now_ms)
        if "locked" in data:
            ch.locked = data["locked"]
        if isinstance(name, str):
            ch.name = name
        if isinstance(duration, int):
            ch.auto_archive_duration = duration
        return _Outcome(200, channel_json(ch))

    def _channel_delete(self, channel_id: str, ctx: _Ctx) -> _Outcome:
        ch = self._bot_channel(channel_id, ctx)
        self._require(ch, "manage_threads" if ch.is_thread else "manage_channels")
        self._delete_channel(ch)
        return _Outcome(200, channel_json(ch))

    def _webhook_create(self, channel_id: str, data: dict[str, Any], ctx: _Ctx) -> _Outcome:
        ch = self._bot_channel(channel_id, ctx)
        if ch.is_thread:
            raise wrong_channel_type()
        self._require(ch, "manage_webhooks")
        form = FormErrors()
        name = data.get("name")
        if name is None:
            form.add("name", "BASE_TYPE_REQUIRED", "This field is required")
        elif not isinstance(name, str) or not 1 <= len(name) <= 80:
            form.add("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")
        elif reserved_name(name):
            form.add("name", "USERNAME_INVALID_CONTAINS", 'Username cannot contain "discord" or "clyde"')
        form.raise_if_any()
        assert isinstance(name, str)
        if sum(1 for w in self._webhooks.values() if w.channel_id == ch.id and not w.deleted) >= (
            MAX_WEBHOOKS_PER_CHANNEL
        ):
            raise max_webhooks()
        wh = self._new_webhook(ch, name)
        return _Outcome(200, webhook_json(wh, self._bot_user()))

    def _webhooks_list(self, channel_id: str, ctx: _Ctx) -> _Outcome:
        ch = self._bot_channel(channel_id, ctx)
        if ch.is_thread:
            raise wrong_channel_type()
        self._require(ch, "manage_webhooks")
        hooks = [w for w in self._webhooks.values() if w.channel_id == ch.id and not w.deleted]
        return _Outcome(200, [webhook_json(w, self._bot_user()) for w in hooks])

    # ------------------------------------------------------------------ helpers over state (lock held)

    def _bot_user(self) -> dict[str, Any]:
        return bot_user_json(self.bot_user_id, self.bot_username)

    def _put_channel(self, ch: Channel) -> None:
        if ch.id in self._channels:
            raise InvalidInput("channel_id", f"{ch.id} exists")
        self._channels[ch.id] = ch
        self._channel_messages.setdefault(ch.id, [])

    def _existing(self, channel_id: str) -> Channel:
        ch = self._channels.get(channel_id)
        if ch is None or ch.deleted:
            raise InvalidInput("channel_id", f"no channel {channel_id}")
        return ch

    def _bot_channel(self, channel_id: str, ctx: _Ctx) -> Channel:
        ch = self._channels.get(channel_id)
        if ch is None or ch.deleted:
            raise unknown_channel()
        self._refresh(ch, ctx.now_ms)
        if "view" in self._denied(ch):
            raise missing_access()
        return ch

    def _denied(self, ch: Channel) -> set[str]:
        denied = set(ch.deny)
        if ch.parent_id is not None and ch.parent_id in self._channels:
            denied |= set(self._channels[ch.parent_id].deny)
        return denied

    def _require(self, ch: Channel, permission: str) -> None:
        if permission in self._denied(ch):
            raise missing_permissions()

    def _bot_webhook(self, webhook_id: str, ctx: _Ctx) -> Webhook:
        wh = self._webhooks.get(webhook_id)
        if wh is None or wh.deleted:
            raise unknown_webhook()
        ch = self._bot_channel(wh.channel_id, ctx)
        self._require(ch, "manage_webhooks")
        return wh

    def _token_webhook(self, webhook_id: str, token: str) -> Webhook:
        wh = self._webhooks.get(webhook_id)
        if wh is None or wh.deleted:
            raise unknown_webhook()
        if not secrets.compare_digest(wh.token, token):
            raise invalid_webhook_token()
        return wh

    def _new_webhook(self, ch: Channel, name: str) -> Webhook:
        now = self.now_ms()
        wh = Webhook(
            id=self._ids.next(now),
            channel_id=ch.id,
            guild_id=ch.guild_id,
            name=name,
            token=secrets.token_urlsafe(51),
            application_id=self.application_id,
            created_at_ms=now,
        )
        self._webhooks[wh.id] = wh
        return wh

    def _refresh(self, ch: Channel, now_ms: int) -> None:
        """Auto-archive a thread idle for its `auto_archive_duration`, as Discord does."""
        if ch.is_thread and not ch.archived and not ch.deleted:
            idle_ms = now_ms - ch.last_activity_ms
            if idle_ms >= ch.auto_archive_duration * 60_000:
                self._set_archived(ch, True, ch.last_activity_ms + ch.auto_archive_duration * 60_000)

    def _set_archived(self, ch: Channel, archived: bool, at_ms: int) -> None:
        if not ch.is_thread:
            raise InvalidInput("archived", f"channel {ch.id} is not a thread")
        if ch.archived != archived:
            ch.archived = archived
            ch.archive_timestamp = iso_timestamp(at_ms)
        if not archived:
            ch.last_activity_ms = max(ch.last_activity_ms, at_ms)

    def _admit_send(self, ch: Channel, now_ms: int) -> None:
        if not ch.is_thread:
            return
        self._refresh(ch, now_ms)
        if ch.locked:
            raise thread_locked()
        if ch.archived:
            if self.archived_send == "reject":
                raise thread_archived()
            self._set_archived(ch, False, now_ms)

    def _delete_channel(self, ch: Channel) -> None:
        ch.deleted = True
        if not ch.is_thread:
            for other in self._channels.values():
                if other.parent_id == ch.id:
                    other.deleted = True
            for wh in self._webhooks.values():
                if wh.channel_id == ch.id:
                    wh.deleted = True

    def _nonce_key(self, channel_id: str, nonce: str | int) -> tuple[str, str, str]:
        where = channel_id if self.nonce_scope == "channel" else "*"
        return (where, self.bot_user_id, str(nonce))

    def _store_message(
        self,
        ch: Channel,
        now_ms: int,
        *,
        content: str,
        embeds: list[Any],
        author_id: str,
        author_username: str,
        author_kind: Literal["bot", "webhook", "system"],
        webhook_id: str | None = None,
        avatar_url: str | None = None,
        nonce: str | int | None = None,
        enforce_nonce: bool = False,
        allowed_mentions: dict[str, Any] | None = None,
        type: int = DEFAULT_MESSAGE,  # Discord's field name
    ) -> Message:
        msg = Message(
            id=self._ids.next(now_ms),
            channel_id=ch.id,
            parent_id=ch.parent_id,
            type=type,
            content=content,
            author_id=author_id,
            author_username=author_username,
            author_kind=author_kind,
            webhook_id=webhook_id,
            avatar_url=avatar_url,
            nonce=nonce,
            enforce_nonce=enforce_nonce,
            allowed_mentions=allowed_mentions,
            embeds=embeds,
            at_ms=now_ms,
            timestamp=iso_timestamp(now_ms),
            request_seq=self._seq + 1,
        )
        self._messages[msg.id] = msg
        self._channel_messages.setdefault(ch.id, []).append(msg.id)
        ch.last_message_id = msg.id
        ch.last_activity_ms = now_ms
        if ch.is_thread:
            ch.message_count += 1
        return msg


# ---------------------------------------------------------------------- pure helpers


def _copy(obj: _S) -> _S:
    return msgspec.structs.replace(obj)


def _check_route(name: str) -> str:
    if name not in ROUTE_NAMES:
        raise InvalidInput("route", f"unknown route {name!r}; known: {sorted(ROUTE_NAMES)}")
    return name


def _check_permissions(deny: Iterable[str]) -> list[str]:
    out = list(deny)
    unknown = sorted(set(out) - PERMISSIONS)
    if unknown:
        raise InvalidInput("deny", f"unknown permissions {unknown}; known: {sorted(PERMISSIONS)}")
    return out
