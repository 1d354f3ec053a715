"""The binding store on Redis (real and fake): one active binding per conversation, rebinding replaces, unbind,
events, end listeners, and reads that never return ended records or ones Redis has dropped."""

from __future__ import annotations

import pytest
import redis

from bindings import keys
from bindings.clock import ManualClock
from bindings.model import SessionBindingRecord
from bindings.service import SessionBindingService
from tests.bindings.support import OTHER_SESSION, SESSION, T0, bind, conv, service
from tests.support.waiting import wait_for


def test_bind_returns_an_active_record_that_resolves_and_lists(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    rec = svc.bind(
        target_session_key=SESSION,
        target_kind="subagent",
        conversation=conv(" thread-1 ", channel=" Discord", account_id="Main Bot"),
        metadata={"threadId": "thread-1"},
        label="research",
    )
    assert rec.status == "active"
    assert rec.conversation == conv("thread-1", account_id="main-bot")
    assert rec.bound_at == T0
    assert rec.expires_at == T0 + 24 * 3_600_000  # the configured default idle timeout
    assert (rec.metadata, rec.label) == ({"threadId": "thread-1"}, "research")
    assert svc.resolve_by_conversation(conv("thread-1", account_id="MAIN BOT")) == rec
    assert svc.list_by_session(SESSION) == [rec]
    assert svc.get(rec.binding_id) == rec
    assert svc.count_active() == 1


def test_rebinding_a_conversation_replaces_the_old_binding(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    old = bind(svc, "thread-1", SESSION)
    new = bind(svc, "thread-1", OTHER_SESSION)
    ended = svc.get(old.binding_id)
    assert ended is not None
    assert (ended.status, ended.end_reason, ended.ended_at) == ("ended", "replaced", T0)
    assert svc.resolve_by_conversation(conv("thread-1")) == new
    assert svc.list_by_session(SESSION) == []
    assert svc.list_by_session(OTHER_SESSION) == [new]
    assert svc.count_active() == 1


def test_rebinding_the_same_session_to_the_same_conversation_also_replaces(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    old = bind(svc, "thread-1")
    new = bind(svc, "thread-1")
    assert new.binding_id != old.binding_id
    assert svc.list_by_session(SESSION) == [new]
    assert svc.get(old.binding_id).end_reason == "replaced"  # type: ignore[union-attr]


def test_equal_conversations_after_normalisation_are_one_conversation(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    old = svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("T1", channel="discord"))
    svc.bind(
        target_session_key=SESSION,
        target_kind="subagent",
        conversation=conv(" T1 ", channel=" DISCORD ", account_id=" Default"),
    )
    assert svc.get(old.binding_id).end_reason == "replaced"  # type: ignore[union-attr]


def test_different_channel_account_or_case_are_different_conversations(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    refs = [conv("T1"), conv("t1"), conv("T1", account_id="ops"), conv("T1", channel="slack")]
    records = [svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=r) for r in refs]
    for ref, rec in zip(refs, records, strict=True):
        assert svc.resolve_by_conversation(ref) == rec
    assert svc.list_by_session(SESSION) == records  # a session may hold several bindings, in bind order


def test_unbind_by_id_ends_one_binding_and_returns_it(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    a = bind(svc, "thread-1")
    b = bind(svc, "thread-2")
    [ended] = svc.unbind(binding_id=a.binding_id, reason="done")
    assert (ended.binding_id, ended.status, ended.end_reason) == (a.binding_id, "ended", "done")
    assert svc.resolve_by_conversation(conv("thread-1")) is None
    assert svc.list_by_session(SESSION) == [b]
    assert svc.unbind(binding_id=a.binding_id) == []  # ends once
    assert svc.unbind(binding_id="nosuchbinding") == []


def test_unbind_by_session_ends_all_of_its_bindings(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    mine = [bind(svc, "thread-1"), bind(svc, "thread-2")]
    theirs = bind(svc, "thread-3", OTHER_SESSION)
    ended = svc.unbind(target_session_key=SESSION)
    assert [r.binding_id for r in ended] == [r.binding_id for r in mine]
    assert {r.end_reason for r in ended} == {"unbound"}
    assert svc.list_by_session(SESSION) == []
    assert svc.list_by_session(OTHER_SESSION) == [theirs]
    assert svc.unbind(target_session_key=SESSION) == []
    assert svc.count_active() == 1


def test_ended_records_are_kept_for_the_grace_period_then_dropped(real_redis: redis.Redis) -> None:
    svc = service(real_redis)
    rec = bind(svc)
    svc.unbind(binding_id=rec.binding_id)
    ttl_ms = real_redis.pttl(keys.record(rec.binding_id))
    assert 0 < ttl_ms <= svc.grace_ms


def test_reads_never_return_ended_records_and_clean_their_index_entries(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    rec = bind(svc)
    svc.unbind(binding_id=rec.binding_id)
    # simulate an index entry left behind (as if the process writing it had been older): put the id back
    ckey, cfield = keys.conversation_bucket("discord", "default", "thread-1")
    skey, sfield = keys.session_bucket(SESSION)
    any_redis.hset(ckey, cfield, rec.binding_id)
    any_redis.hset(skey, sfield, rec.binding_id)
    assert svc.resolve_by_conversation(conv()) is None
    assert svc.list_by_session(SESSION) == []
    assert any_redis.hget(ckey, cfield) is None
    assert any_redis.hget(skey, sfield) is None


def test_reads_after_redis_dropped_the_record(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    kept = bind(svc, "thread-2")
    gone = bind(svc, "thread-1")
    any_redis.delete(keys.record(gone.binding_id))
    assert svc.get(gone.binding_id) is None
    assert svc.resolve_by_conversation(conv("thread-1")) is None
    assert svc.list_by_session(SESSION) == [kept]
    ckey, cfield = keys.conversation_bucket("discord", "default", "thread-1")
    assert any_redis.hget(ckey, cfield) is None  # cleaned on the way
    assert svc.touch(gone.binding_id) is None
    assert svc.unbind(binding_id=gone.binding_id) == []
    # the conversation can be bound again
    again = bind(svc, "thread-1")
    assert svc.resolve_by_conversation(conv("thread-1")) == again


def test_a_record_dropped_by_its_redis_ttl_is_not_returned(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    rec = bind(svc)
    any_redis.pexpire(keys.record(rec.binding_id), 1)
    wait_for(lambda: not any_redis.exists(keys.record(rec.binding_id)), timeout_s=5, what="Redis to drop the key")
    assert svc.resolve_by_conversation(conv()) is None
    assert svc.list_by_session(SESSION) == []


def test_every_bind_and_unbind_is_an_event_with_its_reason(any_redis: redis.Redis) -> None:
    clock = ManualClock(T0)
    svc = service(any_redis, clock)
    first = bind(svc, "thread-1")
    clock.advance(5)
    second = bind(svc, "thread-1", OTHER_SESSION)
    clock.advance(5)
    svc.unbind(binding_id=second.binding_id, reason="operator")
    events = svc.events()
    summary = [(e["type"], e["bindingId"], e.get("reason"), e["at"]) for e in events]
    assert summary == [
        ("unbind", second.binding_id, "operator", str(T0 + 10)),
        ("bind", second.binding_id, None, str(T0 + 5)),
        ("unbind", first.binding_id, "replaced", str(T0 + 5)),
        ("bind", first.binding_id, None, str(T0)),
    ]
    assert events[0]["targetSessionKey"] == OTHER_SESSION
    assert (events[0]["channel"], events[0]["accountId"], events[0]["conversationId"]) == (
        "discord",
        "default",
        "thread-1",
    )
    assert len(svc.events(count=2)) == 2


def test_end_listeners_see_every_ending_once_and_a_failing_one_does_not_stop_the_rest(
    any_redis: redis.Redis,
) -> None:
    svc = service(any_redis)
    seen: list[tuple[str, str | None]] = []

    def broken(_: SessionBindingRecord) -> None:
        raise RuntimeError("listener bug")

    svc.add_end_listener(broken)
    svc.add_end_listener(lambda r: seen.append((r.binding_id, r.end_reason)))
    a = bind(svc, "thread-1")
    b = bind(svc, "thread-1")  # replaces a
    svc.unbind(binding_id=b.binding_id, reason="done")
    svc.unbind(binding_id=b.binding_id, reason="again")  # nothing ends: nothing heard
    assert seen == [(a.binding_id, "replaced"), (b.binding_id, "done")]


def test_from_url_connects_and_defers_provisioner_discovery(
    real_redis: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    monkeypatch.setattr("bindings.service.discover_provisioners", lambda *a: calls.append(a) or {})
    svc = SessionBindingService.from_url(redis_url)
    rec = bind(svc)
    assert calls == []  # only a child bind needs provisioners
    assert service(real_redis).get(rec.binding_id) == rec
    svc.client.close()
