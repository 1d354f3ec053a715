"""The wire side of the local Discord API: the route table, request and response values, body and query parsing
with Discord's validation errors, and the canned responses (rate limited, injected 5xx)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fakes.discord_model import ApiError, FormErrors, invalid_json

MAX_CONTENT_CHARS = 2000  # counted in code points, as Discord's Python API does (discord/discord-api-docs#1315)
MAX_NONCE_CHARS = 25
MAX_WEBHOOKS_PER_CHANNEL = 15
MAX_EMBEDS = 10


@dataclass(frozen=True)
class Route:
    """One endpoint: name (used for buckets and fault targeting), method, path template, how it authenticates,
    and the path parameter that keys its rate-limit bucket (Discord's "major parameter")."""

    name: str
    method: str
    template: str
    auth: Literal["bot", "webhook"]
    major: str

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.template.strip("/").split("/"))

    def match(self, segments: list[str]) -> dict[str, str] | None:
        mine = self.segments
        if len(mine) != len(segments):
            return None
        params: dict[str, str] = {}
        for want, got in zip(mine, segments, strict=True):
            if want.startswith("{"):
                if not got:
                    return None
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


ROUTES: tuple[Route, ...] = (
    Route("message_create", "POST", "/channels/{channel_id}/messages", "bot", "channel_id"),
    Route("messages_list", "GET", "/channels/{channel_id}/messages", "bot", "channel_id"),
    Route("message_get", "GET", "/channels/{channel_id}/messages/{message_id}", "bot", "channel_id"),
    Route("thread_create", "POST", "/channels/{channel_id}/threads", "bot", "channel_id"),
    Route("channel_get", "GET", "/channels/{channel_id}", "bot", "channel_id"),
    Route("channel_modify", "PATCH", "/channels/{channel_id}", "bot", "channel_id"),
    Route("channel_delete", "DELETE", "/channels/{channel_id}", "bot", "channel_id"),
    Route("webhook_create", "POST", "/channels/{channel_id}/webhooks", "bot", "channel_id"),
    Route("webhooks_list", "GET", "/channels/{channel_id}/webhooks", "bot", "channel_id"),
    Route("webhook_get", "GET", "/webhooks/{webhook_id}", "bot", "webhook_id"),
    Route("webhook_delete", "DELETE", "/webhooks/{webhook_id}", "bot", "webhook_id"),
    Route("webhook_execute", "POST", "/webhooks/{webhook_id}/{webhook_token}", "webhook", "webhook_id"),
    Route("webhook_get_with_token", "GET", "/webhooks/{webhook_id}/{webhook_token}", "webhook", "webhook_id"),
    Route(
        "webhook_message_get",
        "GET",
        "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        "webhook",
        "webhook_id",
    ),
)
ROUTE_NAMES: frozenset[str] = frozenset(r.name for r in ROUTES)


@dataclass
class ApiRequest:
    method: str
    path: str  # below the API prefix, e.g. "/channels/1/messages"
    query: str = ""
    authorization: str | None = None
    body: bytes = b""


@dataclass
class ApiResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False  # close the connection without answering


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


_STATUS_BODIES: dict[int, tuple[str, bytes]] = {
    # What clients really get: JSON from the API, HTML from Cloudflare, plain text from the proxy.
    500: ("application/json", json_bytes({"message": "500: Internal Server Error", "code": 0})),
    502: ("text/html", b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"),
    503: (
        "text/plain",
        b"upstream connect error or disconnect/reset before headers. reset reason: connection termination",
    ),
    504: ("text/html", b"<html><head><title>504 Gateway Time-out</title></head><body>504</body></html>"),
}


def find_route(method: str, segments: list[str]) -> tuple[Route | None, dict[str, str] | None]:
    """The route for a method and path; (None, params) when only the method is wrong, (None, None) if no path."""
    path_match: dict[str, str] | None = None
    for route in ROUTES:
        params = route.match(segments)
        if params is None:
            continue
        if route.method == method:
            return route, params
        path_match = params
    return None, path_match


def mask_path(path: str, route: Route | None, params: dict[str, str] | None) -> str:
    if route is None or params is None or "webhook_token" not in params:
        return path
    return path.replace(params["webhook_token"], "***", 1)


def bot_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme != "Bot" or not value:
        return None
    return value.strip()


def path_webhook_token(path: str, route: Route) -> str | None:
    params = route.match(path.strip("/").split("/"))
    return params.get("webhook_token") if params else None


def response_header(response: ApiResponse, name: str) -> str | None:
    for key, value in response.headers:
        if key.lower() == name.lower():
            return value
    return None


def rate_limited(retry_after_ms: int, *, scope: str) -> ApiResponse:
    is_global = scope == "global"
    retry_after_s = retry_after_ms / 1000
    body = {"message": "You are being rate limited.", "retry_after": retry_after_s, "global": is_global}
    headers = [
        ("Content-Type", "application/json"),
        ("Retry-After", str(max(1, -(-retry_after_ms // 1000)))),  # whole seconds, rounded up, as HTTP wants
        ("X-RateLimit-Scope", scope),
    ]
    if is_global:
        headers.append(("X-RateLimit-Global", "true"))
    return ApiResponse(429, json_bytes(body), headers)


def status_response(status: int) -> ApiResponse:
    content_type, body = _STATUS_BODIES.get(
        status, ("application/json", json_bytes({"message": f"{status}: Server Error", "code": 0}))
    )
    return ApiResponse(status, body, [("Content-Type", content_type)])


def parse_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        raise invalid_json() from None
    if not isinstance(data, dict):
        raise ApiError(
            400,
            50035,
            "Invalid Form Body",
            {"_errors": [{"code": "DICT_TYPE_CONVERT", "message": "Only dictionaries may be used in a DictType"}]},
        )
    return data


def message_body(data: dict[str, Any], form: FormErrors) -> tuple[str, list[Any]]:
    content = data.get("content")
    if content is None:
        content = ""
    elif not isinstance(content, str):
        form.add("content", "BASE_TYPE_STRING", "Could not interpret the value as string.")
        content = ""
    elif len(content) > MAX_CONTENT_CHARS:
        form.add("content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT_CHARS} or fewer in length.")
    embeds = data.get("embeds")
    if embeds is None:
        embeds = []
    elif not isinstance(embeds, list):
        form.add("embeds", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        embeds = []
    elif len(embeds) > MAX_EMBEDS:
        form.add("embeds", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length.")
    return content, embeds


def parse_allowed_mentions(data: dict[str, Any], form: FormErrors) -> dict[str, Any] | None:
    value = data.get("allowed_mentions")
    if value is None:
        return None
    if not isinstance(value, dict):
        form.add("allowed_mentions", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return None
    parse = value.get("parse", [])
    if not isinstance(parse, list) or any(p not in ("roles", "users", "everyone") for p in parse):
        form.add("allowed_mentions", "ENUM_TYPE_COERCE", "parse: values must be roles, users or everyone.")
    elif ("users" in parse and value.get("users")) or ("roles" in parse and value.get("roles")):
        form.add("allowed_mentions", "MENTION_PARSE_CONFLICT", "parse and an explicit id list are exclusive.")
    return value


def reserved_name(name: str) -> bool:
    lowered = name.lower()
    return "discord" in lowered or "clyde" in lowered


def query_one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def query_bool(query: dict[str, list[str]], name: str, form: FormErrors) -> bool:
    value = query_one(query, name)
    if value is None:
        return False
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    form.add(name, "BOOLEAN_TYPE_COERCE", f'Value "{value}" is not a valid boolean.')
    return False
