"""sweep_once: ends due bindings with idle-expired / max-age-expired, only those, once, at O(expired) cost."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from bindings import keys
from bindings.clock import ManualClock
from bindings.model import SessionBindingRecord
from bindings.sweep import sweep_once
from tests.bindings.support import SESSION, T0, bind, conv, service


def test_sweep_ends_due_bindings_with_their_reason_and_no_others(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    idle = bind(svc, "idle", ttl_ms=1000)
    aged = bind(svc, "aged", ttl_ms=10_000, max_age_ms=1500)
    touched = bind(svc, "touched", ttl_ms=1000)
    live = bind(svc, "live", ttl_ms=10_000)
    forever = bind(svc, "forever", ttl_ms=0)
    clock.advance(900)
    svc.touch(touched.binding_id)  # now due at T0 + 1900
    clock.advance(900)  # T0 + 1800

    ended = sweep_once(svc)
    assert {(r.binding_id, r.end_reason, r.ended_at) for r in ended} == {
        (idle.binding_id, "idle-expired", T0 + 1800),
        (aged.binding_id, "max-age-expired", T0 + 1800),
    }
    assert [r.binding_id for r in svc.list_by_session(SESSION)] == [
        touched.binding_id,
        live.binding_id,
        forever.binding_id,
    ]
    assert sweep_once(svc) == []
    assert svc.count_active() == 3
    reasons = [(e["bindingId"], e.get("reason")) for e in svc.events() if e["type"] == "unbind"]
    assert sorted(reasons) == sorted([(idle.binding_id, "idle-expired"), (aged.binding_id, "max-age-expired")])


def test_sweep_respects_its_limit(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    for i in range(25):
        bind(svc, f"c{i}", ttl_ms=1000)
    clock.advance(1000)
    assert [len(sweep_once(svc, limit=10)) for _ in range(4)] == [10, 10, 5, 0]


def test_sweep_notifies_end_listeners(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    heard: list[SessionBindingRecord] = []
    svc.add_end_listener(heard.append)
    rec = bind(svc, ttl_ms=1000)
    clock.advance(1000)
    assert sweep_once(svc) == heard
    assert [r.binding_id for r in heard] == [rec.binding_id]


def test_sweep_once_takes_a_client_and_an_explicit_now(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    rec = bind(svc, ttl_ms=1000)
    assert sweep_once(any_redis, now_ms=T0 + 999) == []
    [ended] = sweep_once(any_redis, now_ms=T0 + 1000)
    assert (ended.binding_id, ended.end_reason) == (rec.binding_id, "idle-expired")


def test_sweep_visits_only_shards_with_something_due(any_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    for i in range(300):
        bind(svc, f"later-{i}", ttl_ms=100_000)
    due = [bind(svc, f"due-{i}", ttl_ms=1000) for i in range(3)]
    clock.advance(1000)
    calls: list[Any] = []
    run = svc.scripts.run
    monkeypatch.setattr(svc.scripts, "run", lambda name, *a, **k: calls.append(name) or run(name, *a, **k))
    assert {r.binding_id for r in sweep_once(svc)} == {r.binding_id for r in due}
    assert 1 <= len(calls) <= 3  # one script per due shard, whatever the number of live bindings
    calls.clear()
    assert sweep_once(svc) == []
    assert calls == []  # nothing due: the directory alone says so


def test_the_directory_stays_a_lower_bound_through_touch_rebind_and_unbind(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    recs = [bind(svc, f"c{i}", ttl_ms=1000) for i in range(40)]
    clock.advance(500)
    for rec in recs[:10]:
        svc.touch(rec.binding_id)  # due at T0 + 1500
    for rec in recs[10:20]:
        svc.unbind(binding_id=rec.binding_id)
    for i in range(20, 30):
        bind(svc, f"c{i}", ttl_ms=5000)  # replaces, due at T0 + 5500
    clock.advance(500)  # T0 + 1000
    assert {r.binding_id for r in sweep_once(svc)} == {r.binding_id for r in recs[30:]}
    clock.advance(500)
    assert {r.binding_id for r in sweep_once(svc)} == {r.binding_id for r in recs[:10]}
    clock.advance(4000)
    assert len(sweep_once(svc)) == 10
    assert svc.count_active() == 0
    assert any_redis.zcard(keys.expiry_directory()) == 0


def test_a_due_binding_whose_record_redis_dropped_is_no_longer_counted(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    rec = bind(svc, ttl_ms=1000)
    any_redis.delete(keys.record(rec.binding_id))
    clock.advance(1000)
    assert sweep_once(svc) == []  # nothing left to end or to say farewell with
    assert svc.count_active() == 0
    assert svc.resolve_by_conversation(conv()) is None
