"""Expiry with an injected clock: the idle timeout moves with `touch`, the max age never does, `expiresAt` is the
earlier deadline, the Redis key TTL follows it plus the grace period, and reads treat a record past `expiresAt` as
expired before any sweeper or Redis has acted."""

from __future__ import annotations

import pytest
import redis

from bindings import keys
from bindings.clock import ManualClock
from bindings.config import parse_config
from tests.bindings.support import SESSION, T0, bind, conv, service


def test_a_binding_expires_when_idle_for_its_idle_timeout(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    rec = bind(svc, ttl_ms=1000)
    assert rec.expires_at == T0 + 1000
    clock.advance(999)
    assert svc.resolve_by_conversation(conv()) == rec
    clock.advance(1)  # expiresAt itself is already expired
    assert svc.resolve_by_conversation(conv()) is None
    assert svc.list_by_session(SESSION) == []
    still_there = svc.get(rec.binding_id)
    assert still_there is not None and still_there.status == "active"  # no sweeper yet: status untouched...
    assert not still_there.is_active(clock.now_ms())  # ...but not active


def test_touch_extends_the_idle_deadline_from_the_activity(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    rec = bind(svc, ttl_ms=1000)
    clock.advance(800)
    touched = svc.touch(rec.binding_id)
    assert touched is not None
    assert (touched.last_activity_at, touched.expires_at) == (T0 + 800, T0 + 1800)
    clock.advance(900)  # T0 + 1700: past the first deadline, before the new one
    assert svc.resolve_by_conversation(conv()) == touched
    clock.advance(100)
    assert svc.resolve_by_conversation(conv()) is None


def test_touch_at_an_earlier_time_never_moves_the_deadline_back(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    rec = bind(svc, ttl_ms=1000)
    clock.advance(500)
    svc.touch(rec.binding_id)
    late_report = svc.touch(rec.binding_id, at=T0 + 100)
    assert late_report is not None and late_report.expires_at == T0 + 1500


def test_touch_does_not_revive_an_expired_or_ended_binding(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    expired = bind(svc, "thread-1", ttl_ms=1000)
    ended = bind(svc, "thread-2")
    svc.unbind(binding_id=ended.binding_id)
    clock.advance(1000)
    assert svc.touch(expired.binding_id) is None
    assert svc.touch(ended.binding_id) is None
    assert svc.touch("nosuchbinding") is None
    assert svc.resolve_by_conversation(conv("thread-1")) is None


def test_max_age_is_not_extended_by_touch(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    rec = bind(svc, ttl_ms=1000, max_age_ms=1500)
    assert rec.expires_at == T0 + 1000  # the earlier deadline
    clock.advance(800)
    assert svc.touch(rec.binding_id).expires_at == T0 + 1500  # type: ignore[union-attr]  # idle would be 1800
    clock.advance(600)
    assert svc.touch(rec.binding_id).expires_at == T0 + 1500  # type: ignore[union-attr]
    clock.advance(100)  # T0 + 1500
    assert svc.resolve_by_conversation(conv()) is None
    assert svc.touch(rec.binding_id) is None


def test_zero_means_no_expiry_of_that_kind(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    forever = bind(svc, "thread-1", ttl_ms=0, max_age_ms=0)
    aged = bind(svc, "thread-2", ttl_ms=0, max_age_ms=5000)
    assert forever.expires_at is None
    assert (aged.expires_at, aged.idle_timeout_ms, aged.max_age_ms) == (T0 + 5000, None, 5000)
    clock.advance(10 * 365 * 24 * 3_600_000)
    assert svc.resolve_by_conversation(conv("thread-1")) == forever
    assert svc.resolve_by_conversation(conv("thread-2")) is None


def test_timeouts_default_to_the_configuration_of_the_channel_and_account(any_redis: redis.Redis) -> None:
    config = parse_config(
        """
        [session.threadBindings]
        idleHours = 2
        [channels.discord.accounts.ops.threadBindings]
        idleHours = 1
        maxAgeHours = 0.5
        """
    )
    svc = service(any_redis, config=config)
    default = svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("a"))
    ops = svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("b", account_id="Ops"))
    overridden = svc.bind(
        target_session_key=SESSION, target_kind="subagent", conversation=conv("c"), ttl_ms=60_000, max_age_ms=0
    )
    assert (default.idle_timeout_ms, default.max_age_ms) == (2 * 3_600_000, None)
    assert (ops.idle_timeout_ms, ops.max_age_ms, ops.expires_at) == (3_600_000, 1_800_000, T0 + 1_800_000)
    assert (overridden.idle_timeout_ms, overridden.max_age_ms) == (60_000, None)


def test_the_redis_key_ttl_follows_expires_at_plus_grace(real_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(real_redis, clock)
    rec = bind(svc, ttl_ms=60_000)
    key = keys.record(rec.binding_id)
    assert 60_000 + svc.grace_ms - 1000 < real_redis.pttl(key) <= 60_000 + svc.grace_ms
    clock.advance(30_000)
    svc.touch(rec.binding_id)  # deadline now 60 s after the touch, as seen by the clock
    assert 60_000 + svc.grace_ms - 1000 < real_redis.pttl(key) <= 60_000 + svc.grace_ms
    forever = bind(svc, "thread-2", ttl_ms=0)
    assert real_redis.pttl(keys.record(forever.binding_id)) == -1  # never expires: no TTL


@pytest.mark.parametrize("reason_when_rebound", ["idle", "max-age"])
def test_rebinding_a_conversation_whose_binding_expired_ends_it_with_its_expiry_reason(
    any_redis: redis.Redis, reason_when_rebound: str
) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    old = bind(svc, ttl_ms=1000) if reason_when_rebound == "idle" else bind(svc, ttl_ms=5000, max_age_ms=1000)
    clock.advance(1000)
    bind(svc)
    assert svc.get(old.binding_id).end_reason == f"{reason_when_rebound}-expired"  # type: ignore[union-attr]
