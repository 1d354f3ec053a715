"""Retry policy of deliveries: a capped number of attempts with exponential backoff and jitter (a value type)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bindings.config import DeliveryConfig
from bindings.errors import InvalidInput


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_min_s: float = 2.0
    backoff_max_s: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidInput("delivery.maxAttempts", "must be at least 1")
        if self.backoff_min_s < 0:
            raise InvalidInput("delivery.backoffMinS", "must not be negative")
        if self.backoff_max_s < self.backoff_min_s:
            raise InvalidInput("delivery.backoffMaxS", "must not be less than delivery.backoffMinS")

    @classmethod
    def from_config(cls, config: DeliveryConfig) -> RetryPolicy:
        return cls(config.max_attempts, config.backoff_min_s, config.backoff_max_s)

    def exhausted(self, attempts: int) -> bool:
        """True when `attempts` claims have been made and no further one is allowed."""
        return attempts >= self.max_attempts

    def delay_s(self, attempts: int, retry_after_s: float | None = None, rng: random.Random | None = None) -> float:
        """Wait before the attempt after the `attempts`-th: doubling from backoff_min_s, capped at backoff_max_s,
        drawn from the upper half of that step (so workers that failed together do not retry together), and never
        shorter than the platform's `retry_after_s`."""
        base = min(self.backoff_max_s, self.backoff_min_s * 2.0 ** max(0, attempts - 1))
        low = max(self.backoff_min_s, base / 2)
        delay = (rng or random).uniform(low, base) if base > low else base
        if retry_after_s is not None and retry_after_s > delay:
            delay = retry_after_s
        return delay
