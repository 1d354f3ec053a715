"""tether's configuration: a TOML file (`TETHER_CONFIG`, else `./tether.toml` when present) plus the environment.

It lives in `bindings` because `SessionBindingService.from_url` must read it and every other package sits above
`bindings`. Key names follow the ones users already know (`session.threadBindings.*`, `channels.<name>.*`).
An unknown key or a wrong type is a `ConfigError` naming the key and the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, TypeVar

import msgspec

from bindings.errors import ConfigError
from bindings.secret_specs import parse_secret_spec

HOUR_MS = 3_600_000


class _Section(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


_S = TypeVar("_S", bound=_Section)


class ThreadBindings(_Section, frozen=True):
    """`threadBindings` of the session defaults, a channel or an account; None means "inherit"."""

    enabled: bool | None = None
    idle_hours: float | None = None
    max_age_hours: float | None = None
    spawn_subagent_sessions: bool | None = None


class AccountConfig(_Section, frozen=True):
    """`channels.<name>.accounts.<id>`. Every secret is "env:NAME" or "file:PATH", read at use, never logged."""

    token: str | None = None  # bot token (Discord, Slack, Telegram)
    access_token: str | None = None  # Matrix
    user_id: str | None = None  # Matrix: the bot's own user id (@bot:server)
    url: str | None = None  # webhook: the receiver's endpoint
    secret: str | None = None  # webhook: the signing secret (whsec_ + base64)
    previous_secrets: list[str] = msgspec.field(default_factory=list)  # webhook: still signed with while rotating
    headers: dict[str, str] = msgspec.field(default_factory=dict)  # webhook: extra request headers
    allow_insecure: bool = False  # webhook: plain http:// to a non-loopback host
    thread_bindings: ThreadBindings = ThreadBindings()


class RateLimitConfig(_Section, frozen=True):
    """`channels.<name>.rateLimit`: overrides of the platform adapter's rate-limit defaults; None = the default."""

    global_per_second: float | None = None  # per bot / account, every conversation together
    invalid_request_ceiling: int | None = None  # per 10 minutes (Discord)
    max_wait_seconds: float | None = None  # longer waits end the attempt as retryable
    per_conversation_per_second: float | None = None  # sustained rate into one channel / chat / room
    per_conversation_burst: int | None = None  # how many may go at once before the sustained rate applies
    per_group_per_minute: int | None = None  # Telegram: messages per minute into one group
    history_per_minute: float | None = None  # Slack: conversations.replies/history (Tier 3, or 1 for some apps)


UnknownSend = Literal["resend", "dead-letter"]


class ChannelConfig(_Section, frozen=True):
    api_base: str | None = None
    homeserver: str | None = None  # Matrix: the homeserver's base URL
    thread_bindings: ThreadBindings = ThreadBindings()
    rate_limit: RateLimitConfig = RateLimitConfig()
    accounts: dict[str, AccountConfig] = msgspec.field(default_factory=dict)
    # A send whose answer was lost, on a platform with neither an idempotency key nor a way to find the message:
    # "resend" (at-least-once, a duplicate is possible) or "dead-letter" (at-most-once, reason `unknown-send`).
    unknown_send: UnknownSend = "resend"
    max_chunk_chars: int | None = None  # None: the adapter's default; 0: never split (webhook)
    thread_root_text: str | None = None  # Slack, Matrix: the root message of a child thread ("{label}")
    topic_name: str | None = None  # Telegram: the name of a child forum topic ("{label}")
    identity_prefix: bool = False  # Telegram: prefix "<username>: " to the first chunk
    message_type: str | None = None  # Matrix: "m.text" (default) or "m.notice"


class SessionConfig(_Section, frozen=True):
    thread_bindings: ThreadBindings = ThreadBindings()


class RedisConfig(_Section, frozen=True):
    url: str | None = None


class RouterConfig(_Section, frozen=True):
    dedupe_window_hours: float = 24 * 7
    max_event_bytes: int = 64 * 1024


class DeliveryConfig(_Section, frozen=True):
    max_attempts: int = 8
    backoff_min_s: float = 2.0
    backoff_max_s: float = 600.0
    # A SIGKILLed send is picked up within leaseS + reaperIntervalS + one send (default 10 + 2 + ~1 s ≤ 15 s); a live
    # worker renews its lease every leaseS / 5, so a send may outlast the lease (see adapters/delivery/leases.py).
    lease_s: float = 10.0
    reaper_interval_s: float = 2.0


class BindingsConfig(_Section, frozen=True):
    grace_s: int = 3600  # records outlive expiresAt this long, so the sweeper can still read and end them


class MetricsConfig(_Section, frozen=True):
    port: int | None = None


class ApiConfig(_Section, frozen=True):
    """`tether api`: where it listens and who may call it."""

    host: str = "127.0.0.1"
    port: int = 8787
    tokens: list[str] = msgspec.field(default_factory=list)  # bearer tokens, each "env:NAME" or "file:PATH"
    max_request_bytes: int = 1024 * 1024
    idempotency_hours: float = 24.0


class TetherConfig(_Section, frozen=True):
    session: SessionConfig = SessionConfig()
    channels: dict[str, ChannelConfig] = msgspec.field(default_factory=dict)
    redis: RedisConfig = RedisConfig()
    router: RouterConfig = RouterConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    bindings: BindingsConfig = BindingsConfig()
    metrics: MetricsConfig = MetricsConfig()
    api: ApiConfig = ApiConfig()

    def thread_bindings(self, channel: str, account_id: str = "default") -> ResolvedThreadBindings:
        """Account overrides channel overrides session defaults overrides built-in defaults."""
        layers = [self.session.thread_bindings]
        ch = self.channels.get(channel)
        if ch is not None:
            layers.append(ch.thread_bindings)
            acct = ch.accounts.get(account_id)
            if acct is not None:
                layers.append(acct.thread_bindings)
        enabled, idle, max_age, spawn = True, 24.0, 0.0, False
        for layer in layers:
            enabled = enabled if layer.enabled is None else layer.enabled
            idle = idle if layer.idle_hours is None else layer.idle_hours
            max_age = max_age if layer.max_age_hours is None else layer.max_age_hours
            spawn = spawn if layer.spawn_subagent_sessions is None else layer.spawn_subagent_sessions
        return ResolvedThreadBindings(
            enabled=enabled,
            idle_timeout_ms=int(idle * HOUR_MS) if idle > 0 else None,
            max_age_ms=int(max_age * HOUR_MS) if max_age > 0 else None,
            spawn_subagent_sessions=spawn,
        )


class ResolvedThreadBindings(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool
    idle_timeout_ms: int | None  # None: no idle expiry
    max_age_ms: int | None  # None: no max age
    spawn_subagent_sessions: bool


DEFAULT_REDIS_URL = "redis://localhost:6379/0"


def config_path(env: dict[str, str] | None = None) -> Path | None:
    env = dict(os.environ) if env is None else env
    explicit = env.get("TETHER_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"TETHER_CONFIG names {path}, which is not a file")
        return path
    default = Path("tether.toml")
    return default if default.is_file() else None


def parse_config(text: str | bytes, source: str = "<string>") -> TetherConfig:
    try:
        raw = msgspec.toml.decode(text)
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    # Channels and accounts are checked one by one first: msgspec reports a key inside a dict value as `[...]`,
    # and the user needs to read `channels.discord.accounts.main.token`.
    channels = raw.get("channels") if isinstance(raw, dict) else None
    if isinstance(channels, dict):
        for name, channel in channels.items():
            accounts = channel.get("accounts") if isinstance(channel, dict) else None
            if isinstance(accounts, dict):
                for acct, body in accounts.items():
                    _convert(body, AccountConfig, f"channels.{name}.accounts.{acct}", source)
            rest = {k: v for k, v in channel.items() if k != "accounts"} if isinstance(channel, dict) else channel
            _convert(rest, ChannelConfig, f"channels.{name}", source)
    config = _convert(raw, TetherConfig, "", source)
    try:
        check_secret_specs(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return config


def _convert(raw: object, typ: type[_S], prefix: str, source: str) -> _S:
    try:
        return msgspec.convert(raw, type=typ)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(str(exc), prefix)}") from None


def load_config(path: Path | None = None, env: dict[str, str] | None = None) -> TetherConfig:
    path = path if path is not None else config_path(env)
    if path is None:
        return TetherConfig()
    return parse_config(path.read_bytes(), str(path))


def redis_url(config: TetherConfig | None = None, env: dict[str, str] | None = None) -> str | None:
    """TETHER_REDIS_URL, else REDIS_URL, else `redis.url` of the file; None when nothing is configured."""
    env = dict(os.environ) if env is None else env
    return env.get("TETHER_REDIS_URL") or env.get("REDIS_URL") or (config.redis.url if config else None)


def _describe(message: str, prefix: str) -> str:
    """Turn msgspec's "Expected `int`, got `str` - at `$.a.b`" into "key `p.a.b`: expected `int`, got `str`"."""
    what, _, where = message.partition(" - at `$")
    path = where.rstrip("`").lstrip(".")
    unknown = re.match(r"Object contains unknown field `(.+)`", what)
    if unknown:
        path = ".".join(p for p in (path, unknown.group(1)) if p)
        what = "unknown key"
    full = ".".join(p for p in (prefix, path) if p) or "(top level)"
    return f"key `{full}`: {what[:1].lower()}{what[1:]}"


def secret_specs(config: TetherConfig) -> Iterator[tuple[str, str]]:
    """Every secret of the configuration as (key, spec): account tokens, access tokens, signing secrets (current
    and previous), the API's bearer tokens."""
    for channel, section in config.channels.items():
        for account_id, account in section.accounts.items():
            prefix = f"channels.{channel}.accounts.{account_id}"
            for name, spec in (("token", account.token), ("accessToken", account.access_token),
                               ("secret", account.secret)):
                if spec is not None:
                    yield f"{prefix}.{name}", spec
            for i, spec in enumerate(account.previous_secrets):
                yield f"{prefix}.previousSecrets[{i}]", spec
    for i, spec in enumerate(config.api.tokens):
        yield f"api.tokens[{i}]", spec


def check_secret_specs(config: TetherConfig) -> None:
    """Raise ConfigError naming the first secret configured as a literal."""
    for field, spec in secret_specs(config):
        parse_secret_spec(spec, field=field)
