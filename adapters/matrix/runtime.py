"""The parts every Matrix component of a process shares: settings, access tokens, the shared rate limiter, the
HTTP client, the activity log, the watched-thread index and the bot's own user ids."""

from __future__ import annotations

import redis

from adapters.activity import ActivityLog
from adapters.matrix.client import MatrixClient, q
from adapters.matrix.settings import CHANNEL, MatrixSettings
from adapters.matrix.threads import ThreadIndex
from adapters.protocol import RetryableError
from adapters.ratelimit import SharedLimiter
from adapters.secrets import SecretSource
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig


class MatrixRuntime:
    def __init__(self, config: TetherConfig, client: redis.Redis, *, settings: MatrixSettings | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.redis = client
        self.clock = clock
        self.settings = settings or MatrixSettings.from_config(config)
        self.tokens = SecretSource(config, CHANNEL, field="access_token")
        self.limiter = SharedLimiter(client, clock=clock)
        self.api = MatrixClient(self.settings, self.tokens, self.limiter)
        self.activity = ActivityLog(client, CHANNEL, clock=clock)
        self.threads = ThreadIndex(client, clock=clock)
        section = config.channels.get(CHANNEL)
        self._user_ids = {k.strip().lower(): a.user_id for k, a in (section.accounts if section else {}).items()
                          if a.user_id}

    def user_id(self, account: str) -> str:
        """The bot's user id: configured (`userId`), else asked once of the homeserver."""
        known = self._user_ids.get(account)
        if known:
            return known
        body = self.api.request(account, "GET", "GET /account/whoami", "/_matrix/client/v3/account/whoami")
        user_id = body.get("user_id") if isinstance(body, dict) else None
        if not isinstance(user_id, str):
            raise RetryableError("matrix: whoami answered without a user_id", reason="bad-answer")
        self._user_ids[account] = user_id
        return user_id

    def state_path(self, room_id: str, event_type: str, state_key: str = "") -> str:
        return f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}"

    def close(self) -> None:
        self.api.close()
