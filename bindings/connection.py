"""One way to open a Redis client for tether: bytes responses (RQ needs them), timeouts, retries on blips."""

from __future__ import annotations

import re

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from bindings.config import DEFAULT_REDIS_URL, load_config, redis_url
from bindings.errors import ConfigError

_SCHEMES = ("redis://", "rediss://", "unix://")


def resolve_url(url: str | None = None) -> str:
    """`url`, else the configured URL (TETHER_REDIS_URL, REDIS_URL, tether.toml), else localhost."""
    return url or redis_url(load_config()) or DEFAULT_REDIS_URL


def connect(url: str | None = None, *, retries: int = 8, connect_timeout_s: float = 5) -> redis.Redis:
    """Open a client (see `resolve_url`). Socket errors are retried with jittered backoff for a few seconds, so a
    Redis restart is a pause, not a crash. A server answering callers (`tether api`) retries less, so that an
    outage becomes a quick 503 rather than a hung request."""
    url = resolve_url(url)
    if not url.startswith(_SCHEMES):
        scheme = url.split(":")[0]
        raise ConfigError(f"Redis URL must start with one of {', '.join(_SCHEMES)} (got scheme {scheme!r})")
    return redis.Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=30,
        health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=2.0), retries=retries),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def describe_url(url: str) -> str:
    """The URL without its password (in the authority or as a `password=` query value), for logs and CLI output."""
    url = re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", url)
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':***@' if user else '***@'}{host}"
