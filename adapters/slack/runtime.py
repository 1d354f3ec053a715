"""The parts every Slack component of a process shares: settings, token source, shared limiter, client, activity."""

from __future__ import annotations

import redis

from adapters.ratelimit import SharedLimiter
from adapters.secrets import SecretSource
from adapters.slack.activity import ActivityLog
from adapters.slack.client import SlackClient
from adapters.slack.settings import CHANNEL, SlackSettings
from adapters.slack.threads import ThreadIndex
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig


class SlackRuntime:
    def __init__(self, config: TetherConfig, client: redis.Redis, *, settings: SlackSettings | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.redis = client
        self.clock = clock
        self.settings = settings or SlackSettings.from_config(config)
        self.tokens = SecretSource(config, CHANNEL, field="token")
        self.limiter = SharedLimiter(client, clock=clock)
        self.api = SlackClient(self.tokens, self.limiter, self.settings)
        self.activity = ActivityLog(client, clock=clock)
        self.threads = ThreadIndex(client, clock=clock)

    def close(self) -> None:
        self.api.close()
