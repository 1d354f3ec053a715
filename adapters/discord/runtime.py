"""The Discord adapter's settings from the configuration, and the parts every Discord component shares.

Configuration (TOML, `channels.discord`):

    apiBase                         REST base URL (default https://discord.com/api/v10; tests point it at a fake)
    accounts.<id>.token             `env:NAME` or `file:PATH`, read at every request
    rateLimit.globalPerSecond       the bot's global limit (default 50)
    rateLimit.invalidRequestCeiling 401/403/429 answers per 10 minutes before tether stops calling (default 5000)
    rateLimit.maxWaitSeconds        longest in-process wait for a rate limit before the attempt is retried later
                                    (default 10)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import redis

from adapters.discord.activity import ActivityLog
from adapters.discord.client import DEFAULT_API_BASE, ClientSettings, DiscordClient
from adapters.discord.ratelimit import RateLimiter, RateLimitSettings
from adapters.discord.threads import ThreadIndex
from adapters.discord.tokens import CHANNEL, TokenSource
from adapters.discord.webhooks import WebhookStore
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.errors import ConfigError


@dataclass(frozen=True)
class DiscordSettings:
    client: ClientSettings
    rate_limit: RateLimitSettings

    @classmethod
    def from_config(cls, config: TetherConfig) -> DiscordSettings:
        channel = config.channels.get(CHANNEL)
        api_base = (channel.api_base if channel else None) or DEFAULT_API_BASE
        if not api_base.startswith(("http://", "https://")):
            raise ConfigError(f"key `channels.{CHANNEL}.apiBase`: must be an http(s) URL")
        rl = RateLimitSettings()
        if channel is not None:
            c = channel.rate_limit
            rl = replace(
                rl,
                global_per_s=rl.global_per_s if c.global_per_second is None else int(c.global_per_second),
                invalid_ceiling=rl.invalid_ceiling if c.invalid_request_ceiling is None else c.invalid_request_ceiling,
                max_wait_s=rl.max_wait_s if c.max_wait_seconds is None else c.max_wait_seconds,
            )
        return cls(client=ClientSettings(api_base=api_base), rate_limit=rl)


class DiscordRuntime:
    """Tokens, the shared rate limiter, the HTTP client, the webhook store, activity and the bound-thread index."""

    def __init__(
        self,
        config: TetherConfig,
        client: redis.Redis,
        *,
        settings: DiscordSettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.redis = client
        self.clock = clock
        self.settings = settings or DiscordSettings.from_config(config)
        self.tokens = TokenSource(config)
        self.limiter = RateLimiter(client, self.settings.rate_limit, clock=clock)
        self.api = DiscordClient(self.tokens, self.limiter, self.settings.client)
        self.webhooks = WebhookStore(client, self.api)
        self.activity = ActivityLog(client, clock=clock)
        self.threads = ThreadIndex(client, clock=clock)

    def close(self) -> None:
        self.api.close()
