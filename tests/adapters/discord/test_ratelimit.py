"""The shared rate limiter, step by step, with a hand-moved clock (on real Redis and on fakeredis)."""

from __future__ import annotations

import pytest
import redis

from adapters.discord import keys, routes
from adapters.discord.errors import InvalidRequestCeiling
from adapters.discord.ratelimit import RateLimiter, RateLimitSettings, Reservation, Wait
from adapters.protocol import RetryableError
from bindings.clock import ManualClock

MSG_A = routes.CREATE_MESSAGE.compile(channel="111")
MSG_B = routes.CREATE_MESSAGE.compile(channel="222")
HOOK = routes.EXECUTE_WEBHOOK.compile(webhook="9", token="t")
BUCKET = "msgbucket"


def headers(clock: ManualClock, *, limit: int = 5, remaining: int, reset_at_ms: int) -> dict[str, str]:
    return {
        "X-RateLimit-Bucket": BUCKET,
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{reset_at_ms / 1000:.3f}",
        "X-RateLimit-Reset-After": f"{(reset_at_ms - clock.now_ms()) / 1000:.3f}",
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limiter(any_redis: redis.Redis, clock: ManualClock) -> RateLimiter:
    return RateLimiter(any_redis, RateLimitSettings(max_wait_s=30), clock=clock, sleep=lambda s: clock.advance(
        max(1, round(s * 1000))))


def granted(got: Reservation | Wait) -> Reservation:
    assert isinstance(got, Reservation), got
    return got


def learn_window(limiter: RateLimiter, clock: ManualClock, route: routes.CompiledRoute = MSG_A) -> int:
    """Send the first request of a 5-per-5-s window and fold its answer in; returns the server's reset time."""
    first = granted(limiter.try_acquire("default", route))
    reset_at = clock.now_ms() + 5000
    limiter.update(first, headers(clock, remaining=4, reset_at_ms=reset_at))
    return reset_at


def test_a_route_never_answered_is_probed_one_request_at_a_time(limiter: RateLimiter) -> None:
    first = granted(limiter.try_acquire("default", MSG_A))
    assert first.placeholder and first.opener
    second = limiter.try_acquire("default", MSG_A)
    assert isinstance(second, Wait) and second.why == "opening"


def test_the_first_request_of_every_window_goes_alone(limiter: RateLimiter, clock: ManualClock) -> None:
    learn_window(limiter, clock)
    clock.advance(5001)
    opener = granted(limiter.try_acquire("default", MSG_A))
    assert opener.opener
    waiting = limiter.try_acquire("default", MSG_A)
    assert isinstance(waiting, Wait) and waiting.why == "opening"
    limiter.update(opener, headers(clock, remaining=4, reset_at_ms=clock.now_ms() + 5000))
    assert not granted(limiter.try_acquire("default", MSG_A)).opener


def test_an_answer_without_headers_or_no_answer_releases_the_window_opener(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    learn_window(limiter, clock)
    first = granted(limiter.try_acquire("default", MSG_B))  # a new channel: its first request probes alone
    assert first.opener and not first.placeholder
    assert isinstance(limiter.try_acquire("default", MSG_B), Wait)
    limiter.release(first)  # e.g. the connection dropped
    again = granted(limiter.try_acquire("default", MSG_B))
    limiter.update(again, {})  # an answer without rate-limit headers
    granted(limiter.try_acquire("default", MSG_B))


def test_the_answer_teaches_the_bucket_and_frees_the_probe(limiter: RateLimiter, clock: ManualClock) -> None:
    learn_window(limiter, clock)
    assert limiter.client.hget(keys.route_buckets("default"), MSG_A.key) == BUCKET.encode()
    # A process that looked the route up just before the answer still reserves on the placeholder: it stays shut.
    placeholder = keys.bucket("default", "unknown:" + MSG_A.key, MSG_A.major)
    assert limiter.client.hget(placeholder, "remaining") == b"0"
    for _ in range(4):
        assert not granted(limiter.try_acquire("default", MSG_A)).placeholder


def test_no_request_is_granted_while_a_bucket_is_exhausted(limiter: RateLimiter, clock: ManualClock) -> None:
    reset_at = learn_window(limiter, clock)
    for _ in range(4):
        granted(limiter.try_acquire("default", MSG_A))
    clock.advance(1000)
    waiting = limiter.try_acquire("default", MSG_A)
    assert isinstance(waiting, Wait) and waiting.why == "bucket"
    assert waiting.wait_ms == reset_at - clock.now_ms()
    # Another channel is another bucket: untouched.
    granted(limiter.try_acquire("default", MSG_B))
    clock.advance(waiting.wait_ms)
    granted(limiter.try_acquire("default", MSG_A))


def test_remaining_only_goes_down_within_a_window_whatever_order_answers_come_in(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    reset_at = learn_window(limiter, clock)  # local remaining 4
    r1 = granted(limiter.try_acquire("default", MSG_A))
    r2 = granted(limiter.try_acquire("default", MSG_A))  # local remaining 2; two requests in flight
    # The server answers r2 first (it counted r2 before r1 arrived), then r1: remaining 3, then 2.
    limiter.update(r2, headers(clock, remaining=3, reset_at_ms=reset_at))
    limiter.update(r1, headers(clock, remaining=2, reset_at_ms=reset_at))
    granted(limiter.try_acquire("default", MSG_A))
    granted(limiter.try_acquire("default", MSG_A))
    assert isinstance(limiter.try_acquire("default", MSG_A), Wait)


def test_a_late_answer_of_the_previous_window_does_not_disturb_the_new_one(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    old_reset = learn_window(limiter, clock)
    late = [granted(limiter.try_acquire("default", MSG_A)) for _ in range(4)]
    clock.advance(5001)
    opener = granted(limiter.try_acquire("default", MSG_A))  # opens the next window (provisional)
    new_reset = clock.now_ms() + 5000
    limiter.update(late[0], headers(clock, remaining=0, reset_at_ms=old_reset))  # stale: confirms nothing
    assert isinstance(limiter.try_acquire("default", MSG_A), Wait)
    limiter.update(opener, headers(clock, remaining=4, reset_at_ms=new_reset))
    for _ in range(4):
        granted(limiter.try_acquire("default", MSG_A))
    limiter.update(late[1], headers(clock, remaining=0, reset_at_ms=old_reset))  # stale: ignored
    waiting = limiter.try_acquire("default", MSG_A)
    assert isinstance(waiting, Wait)
    assert waiting.wait_ms == new_reset - clock.now_ms()


def test_a_429_exhausts_its_bucket_until_retry_after(limiter: RateLimiter, clock: ManualClock) -> None:
    learn_window(limiter, clock)
    r = granted(limiter.try_acquire("default", MSG_A))
    limiter.rate_limited(r, {}, retry_after_s=7.25, is_global=False, scope="user")
    waiting = limiter.try_acquire("default", MSG_A)
    assert isinstance(waiting, Wait) and waiting.wait_ms == 7250
    granted(limiter.try_acquire("default", MSG_B))
    assert limiter.invalid_count() == 1


def test_a_global_429_blocks_every_route_of_the_account_until_retry_after(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    r = granted(limiter.try_acquire("default", MSG_A))
    limiter.rate_limited(r, {}, retry_after_s=1.5, is_global=True, scope="global")
    for route in (MSG_A, MSG_B, HOOK):
        waiting = limiter.try_acquire("default", route)
        assert isinstance(waiting, Wait) and waiting.why == "global-429" and waiting.wait_ms == 1500
    granted(limiter.try_acquire("other-bot", MSG_B))
    clock.advance(1500)
    granted(limiter.try_acquire("default", MSG_B))


def test_the_global_limit_is_enforced_before_sending(any_redis: redis.Redis, clock: ManualClock) -> None:
    limiter = RateLimiter(any_redis, RateLimitSettings(global_per_s=10, global_margin_ms=50), clock=clock)
    for i in range(10):
        r = granted(limiter.try_acquire("default", routes.CREATE_MESSAGE.compile(channel=str(1000 + i))))
        limiter.update(r, {})
    waiting = limiter.try_acquire("default", routes.CREATE_MESSAGE.compile(channel="2000"))
    assert isinstance(waiting, Wait) and waiting.why == "global-rate" and waiting.wait_ms == 1050
    # Webhook executions carry their own token and do not count against the bot's global limit.
    granted(limiter.try_acquire("default", HOOK))
    clock.advance(1050)
    granted(limiter.try_acquire("default", routes.CREATE_MESSAGE.compile(channel="2000")))


def test_the_invalid_request_ceiling_stops_every_request(any_redis: redis.Redis, clock: ManualClock) -> None:
    limiter = RateLimiter(any_redis, RateLimitSettings(invalid_ceiling=3), clock=clock)
    for _ in range(3):
        limiter.count_invalid()
    with pytest.raises(InvalidRequestCeiling) as err:
        limiter.acquire("default", MSG_A)
    assert err.value.retry_after_s is not None and err.value.retry_after_s > 0
    # The previous 10-minute window still counts; two windows later the slate is clean.
    clock.advance(600_000)
    assert isinstance(limiter.try_acquire("default", MSG_A), Wait)
    clock.advance(600_000)
    granted(limiter.try_acquire("default", MSG_A))


def test_acquire_sleeps_through_short_waits_and_gives_up_on_long_ones(
    limiter: RateLimiter, clock: ManualClock
) -> None:
    learn_window(limiter, clock)
    for _ in range(4):
        granted(limiter.try_acquire("default", MSG_A))
    start = clock.now_ms()
    limiter.acquire("default", MSG_A)
    assert clock.now_ms() - start >= 5000
    r = granted(limiter.try_acquire("default", MSG_B))
    limiter.rate_limited(r, {}, retry_after_s=60, is_global=False, scope="user")
    with pytest.raises(RetryableError) as err:
        limiter.acquire("default", MSG_B, max_wait_s=10)
    assert err.value.retry_after_s == pytest.approx(60, abs=0.01)
