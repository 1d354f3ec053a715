"""The shared limiter: GCRA over Redis, all-or-nothing across limits, 429 blocks, shared by every process."""

from __future__ import annotations

import multiprocessing

import pytest
import redis

from adapters.ratelimit import Rate, RateLimited, SharedLimiter
from bindings.clock import ManualClock


def _limiter(client: redis.Redis, clock: ManualClock) -> SharedLimiter:
    return SharedLimiter(client, clock=clock, sleep=lambda s: clock.advance(round(s * 1000)))


def test_a_burst_goes_at_once_then_the_sustained_rate_applies(any_redis: redis.Redis) -> None:
    clock = ManualClock()
    lim = _limiter(any_redis, clock)
    rate = Rate(per_s=1.0, burst=3)
    assert [lim.try_acquire([("c1", rate)]) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert lim.try_acquire([("c1", rate)]) == pytest.approx(1.0)
    clock.advance(1000)
    assert lim.try_acquire([("c1", rate)]) == 0.0
    assert lim.try_acquire([("c1", rate)]) == pytest.approx(1.0)


def test_limits_are_per_key(any_redis: redis.Redis) -> None:
    lim = _limiter(any_redis, ManualClock())
    rate = Rate(per_s=1.0)
    assert lim.try_acquire([("a", rate)]) == 0.0
    assert lim.try_acquire([("b", rate)]) == 0.0
    assert lim.try_acquire([("a", rate)]) > 0


def test_a_send_held_back_by_one_limit_spends_nothing_of_the_others(any_redis: redis.Redis) -> None:
    clock = ManualClock()
    lim = _limiter(any_redis, clock)
    chat, bot = Rate(per_s=1.0), Rate(per_s=100.0, burst=2)
    assert lim.try_acquire([("chat", chat), ("bot", bot)]) == 0.0
    assert lim.try_acquire([("chat", chat), ("bot", bot)]) == pytest.approx(1.0)  # held back by the chat limit
    # The bot-wide limit still has its second burst slot: the refused send did not take it.
    assert lim.try_acquire([("other-chat", chat), ("bot", bot)]) == 0.0


def test_acquire_waits_for_the_slot_and_reports_the_wait(any_redis: redis.Redis) -> None:
    clock = ManualClock()
    lim = _limiter(any_redis, clock)
    rate = Rate(per_s=2.0)
    assert lim.acquire([("k", rate)], max_wait_s=5) == 0.0
    assert lim.acquire([("k", rate)], max_wait_s=5) == pytest.approx(0.5)


def test_a_wait_longer_than_allowed_is_a_retryable_error_carrying_the_wait(any_redis: redis.Redis) -> None:
    lim = _limiter(any_redis, ManualClock())
    rate = Rate.per_minute(20)
    lim.acquire([("group", rate)], max_wait_s=1)
    with pytest.raises(RateLimited) as err:
        lim.acquire([("group", rate)], max_wait_s=1)
    assert err.value.retry_after_s == pytest.approx(3.0)
    assert err.value.reason == "rate-limited"


def test_a_429_blocks_the_key_for_its_retry_after_and_a_shorter_late_one_does_not_shorten_it(
        any_redis: redis.Redis) -> None:
    clock = ManualClock()
    lim = _limiter(any_redis, clock)
    rate = Rate(per_s=1000.0, burst=10)
    lim.block("c", 2.0)
    lim.block("c", 0.5)
    assert lim.try_acquire([("c", rate)]) == pytest.approx(2.0)
    clock.advance(2000)
    assert lim.try_acquire([("c", rate)]) == 0.0


def test_state_expires_once_it_no_longer_limits_anything(real_redis: redis.Redis) -> None:
    lim = SharedLimiter(real_redis)
    lim.try_acquire([("k", Rate(per_s=10.0, burst=2))])
    assert 0 < real_redis.pttl("k") <= 1300


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="per_s"):
        Rate(per_s=0)
    with pytest.raises(ValueError, match="burst"):
        Rate(per_s=1, burst=0)


def _grab(url: str, n: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    lim = SharedLimiter(redis.Redis.from_url(url), clock=ManualClock(), sleep=lambda s: None)
    out.put(sum(1 for _ in range(n) if lim.try_acquire([("shared", Rate(per_s=1.0, burst=5))]) == 0.0))


def test_several_processes_together_never_get_more_than_the_burst_at_one_instant(
        redis_url: str, real_redis: redis.Redis) -> None:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_grab, args=(redis_url, 20, out)) for _ in range(4)]
    for p in procs:
        p.start()
    granted = sum(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    # Every process uses the same frozen instant, so exactly the burst is admitted, whoever asks.
    assert granted == 5
