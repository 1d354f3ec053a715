"""What one process shares among its Telegram parts (adapter, provisioner, sweeper check): settings, the Bot API
client with its token source and the shared rate limiter, the activity log, migrations and the binding service."""

from __future__ import annotations

import redis

from adapters.ratelimit import Rate, SharedLimiter
from adapters.secrets import SecretSource
from adapters.telegram import keys
from adapters.telegram.activity import ActivityLog
from adapters.telegram.client import TelegramClient
from adapters.telegram.conversations import Target
from adapters.telegram.migration import Migrations
from adapters.telegram.settings import CHANNEL, TelegramSettings
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.service import SessionBindingService


class TelegramRuntime:
    def __init__(self, config: TetherConfig, client: redis.Redis, *, settings: TelegramSettings | None = None,
                 clock: Clock = SYSTEM_CLOCK, bindings: SessionBindingService | None = None) -> None:
        self.config = config
        self.redis = client
        self.clock = clock
        self.settings = settings or TelegramSettings.from_config(config)
        self.tokens = SecretSource(config, CHANNEL)
        self.limiter = SharedLimiter(client, clock=clock)
        self.api = TelegramClient(self.tokens, self.limiter, self.settings.client)
        self.activity = ActivityLog(client, clock=clock)
        self.bindings = bindings or SessionBindingService(client, config, clock=clock)
        self.migrations = Migrations(client, self.bindings, self.activity)

    def send_limits(self, account: str, target: Target) -> list[tuple[str, Rate]]:
        """The limits one message to `target` counts against: its chat, its group (groups only), the bot."""
        rates = self.settings.rates
        limits = [(keys.chat_rate(account, target.chat_id), rates.per_chat)]
        if target.is_group:
            limits.append((keys.group_rate(account, target.chat_id), rates.per_group))
        limits.append((keys.global_rate(account), rates.per_bot))
        return limits

    def close(self) -> None:
        self.api.close()
