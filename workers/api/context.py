"""What every handler may use: one Redis client (thread-safe pool), the configuration, the binding service."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from bindings.config import TetherConfig
from bindings.service import SessionBindingService
from workers.api.auth import BearerAuth
from workers.api.idempotency import IdempotencyStore


@dataclass
class ApiContext:
    client: redis.Redis
    config: TetherConfig
    redis_label: str  # the Redis URL without its password (status)
    auth: BearerAuth
    bindings: SessionBindingService = field(init=False)
    idempotency: IdempotencyStore = field(init=False)

    def __post_init__(self) -> None:
        self.bindings = SessionBindingService(self.client, self.config)
        self.idempotency = IdempotencyStore(self.client, ttl_ms=int(self.config.api.idempotency_hours * 3_600_000))

    @property
    def max_request_bytes(self) -> int:
        return self.config.api.max_request_bytes

    @property
    def max_event_bytes(self) -> int:
        return self.config.router.max_event_bytes
