"""Every Discord REST endpoint tether calls, as data.

A `Route` is a method and a path template (`POST /channels/{channel}/messages`); `Route.compile(**params)` fills the
template and returns a `CompiledRoute` that also knows its *major parameter*: the top-level resource Discord counts a
rate limit against (the channel id, or the webhook id). Two compiled routes with the same template and different
major parameters share a bucket *hash* but not a bucket (see `ratelimit.py`).

A route also says whether the bot token authenticates it (`bot_auth`): webhook executions carry their own token in the
path and do not count against the bot's global limit. Paths holding a webhook token are never logged or put in an
error: log `Route.key` (the template), never `CompiledRoute.path`.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

_MAJOR_PARAMS = ("channel", "webhook")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    bot_auth: bool = True

    @property
    def key(self) -> str:
        """`METHOD /template`: identifies the route (never contains ids or tokens)."""
        return f"{self.method} {self.template}"

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(name for _, name, _, _ in string.Formatter().parse(self.template) if name)

    def compile(self, **params: str) -> CompiledRoute:
        missing = set(self.params) - set(params)
        if missing:
            raise ValueError(f"{self.key}: missing parameters {sorted(missing)}")
        for name, value in params.items():
            if not value or "/" in value or "?" in value:
                raise ValueError(f"{self.key}: parameter {name!r} is empty or not a path segment")
        major = next((params[name] for name in _MAJOR_PARAMS if name in params), "")
        return CompiledRoute(route=self, path=self.template.format(**params), major=major)


@dataclass(frozen=True)
class CompiledRoute:
    route: Route
    path: str  # may contain a webhook token: never log it
    major: str

    @property
    def key(self) -> str:
        return self.route.key

    def __repr__(self) -> str:  # keep webhook tokens out of tracebacks and debug output
        return f"CompiledRoute({self.route.key!r}, major={self.major!r})"


GET_CHANNEL = Route("GET", "/channels/{channel}")
MODIFY_CHANNEL = Route("PATCH", "/channels/{channel}")
GET_CHANNEL_MESSAGES = Route("GET", "/channels/{channel}/messages")
CREATE_MESSAGE = Route("POST", "/channels/{channel}/messages")
START_THREAD = Route("POST", "/channels/{channel}/threads")
GET_CHANNEL_WEBHOOKS = Route("GET", "/channels/{channel}/webhooks")
CREATE_WEBHOOK = Route("POST", "/channels/{channel}/webhooks")
EXECUTE_WEBHOOK = Route("POST", "/webhooks/{webhook}/{token}", bot_auth=False)

ALL_ROUTES = (
    GET_CHANNEL,
    MODIFY_CHANNEL,
    GET_CHANNEL_MESSAGES,
    CREATE_MESSAGE,
    START_THREAD,
    GET_CHANNEL_WEBHOOKS,
    CREATE_WEBHOOK,
    EXECUTE_WEBHOOK,
)
