"""Retry policy: capped attempts, exponential backoff with jitter between the configured bounds."""

from __future__ import annotations

import random

import pytest

from adapters.delivery.retry import RetryPolicy
from bindings.config import DeliveryConfig
from bindings.errors import InvalidInput


def test_defaults_follow_the_configuration() -> None:
    policy = RetryPolicy.from_config(DeliveryConfig())
    assert (policy.max_attempts, policy.backoff_min_s, policy.backoff_max_s) == (8, 2.0, 600.0)


def test_backoff_doubles_from_the_minimum_and_stays_under_the_cap() -> None:
    policy = RetryPolicy()
    rng = random.Random(7)
    for attempts in range(1, 30):
        base = min(600.0, 2.0 * 2 ** (attempts - 1))
        delays = [policy.delay_s(attempts, rng=rng) for _ in range(50)]
        assert all(max(2.0, base / 2) <= d <= base for d in delays), attempts
    assert policy.delay_s(1, rng=rng) == 2.0
    assert len({round(policy.delay_s(5, rng=rng), 6) for _ in range(20)}) > 1  # jittered


def test_retry_after_is_honoured_even_beyond_the_backoff() -> None:
    policy = RetryPolicy()
    assert policy.delay_s(1, retry_after_s=42.5) == 42.5
    assert policy.delay_s(1, retry_after_s=0.1) == 2.0


def test_attempts_are_capped() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert not policy.exhausted(2)
    assert policy.exhausted(3)


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"backoff_min_s": -1.0}, {"backoff_min_s": 5.0,
                                                                                    "backoff_max_s": 1.0}])
def test_bad_policies_are_refused_naming_the_key(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInput, match=r"delivery\."):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
