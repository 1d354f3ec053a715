"""`[channels.webhook]` settings beyond the endpoints: chunk size and rate limits."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.ratelimit import Rate
from bindings.config import TetherConfig
from bindings.errors import ConfigError

DEFAULT_MAX_CHUNK_CHARS = 4000
DEFAULT_MAX_WAIT_S = 10.0
DEFAULT_TIMEOUT_S = 10.0
# Without `rateLimit.globalPerSecond` the endpoint's limit only carries the blocks of its 429 answers.
UNLIMITED = Rate(per_s=1_000_000.0, burst=1_000_000)
MIN_CHUNK_CHARS = 16


@dataclass(frozen=True)
class WebhookSettings:
    max_chunk_chars: int  # 0: never split
    rate: Rate
    max_wait_s: float
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_config(cls, config: TetherConfig, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> WebhookSettings:
        from adapters.webhook.endpoints import CHANNEL

        channel = config.channels.get(CHANNEL)
        max_chunk = DEFAULT_MAX_CHUNK_CHARS
        rate, max_wait = UNLIMITED, DEFAULT_MAX_WAIT_S
        if channel is not None:
            if channel.max_chunk_chars is not None:
                max_chunk = channel.max_chunk_chars
                if max_chunk != 0 and max_chunk < MIN_CHUNK_CHARS:
                    raise ConfigError(f"key `channels.{CHANNEL}.maxChunkChars`: must be 0 (never split) or at least "
                                      f"{MIN_CHUNK_CHARS}, got {max_chunk}")
            per_s = channel.rate_limit.global_per_second
            if per_s is not None:
                if not per_s > 0:
                    raise ConfigError(f"key `channels.{CHANNEL}.rateLimit.globalPerSecond`: must be positive")
                rate = Rate(per_s=per_s, burst=max(1, int(per_s)))
            if channel.rate_limit.max_wait_seconds is not None:
                max_wait = max(0.0, channel.rate_limit.max_wait_seconds)
        return cls(max_chunk_chars=max_chunk, rate=rate, max_wait_s=max_wait, timeout_s=timeout_s)
