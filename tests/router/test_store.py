"""Dedupe and the sticky decision (route.lua), replays (requeue.lua): on real Redis and on fakeredis."""

from __future__ import annotations

import msgspec
import redis

from router import keys
from router.store import Claim, DecisionRecord, RouterStore, without_secrets
from tests.router.factories import NOW_MS, binding, conv

WINDOW_MS = 3_600_000


def _decision(reason: str = "requester-match", conversation_id: str = "t1") -> DecisionRecord:
    return DecisionRecord(event_id="e1", mode="bound", reason=reason, decided_at=NOW_MS, binding_id="b1",
                          destination=conv(conversation_id, parent="111"), delivery_ids=[f"d-{conversation_id}"])


def _claim(store: RouterStore, job_id: str, proposal: DecisionRecord | None = None) -> Claim:
    return store.claim(event_id="e1", job_id=job_id, raw_event=b'{"eventId":"e1"}',
                       proposal=proposal or _decision(), now_ms=NOW_MS)


def test_the_first_job_stores_its_decision_with_the_event(any_redis: redis.Redis) -> None:
    store = RouterStore(any_redis, dedupe_window_ms=WINDOW_MS)
    claim = store.claim(event_id="e1", job_id="j1", raw_event=b'{"eventId":"e1"}', proposal=_decision(),
                        now_ms=NOW_MS)
    assert (claim.status, claim.decision) == ("new", _decision())
    assert store.load_event("e1") == b'{"eventId":"e1"}'
    assert store.load_decision("e1") == _decision()
    assert 0 < any_redis.pttl(keys.event("e1")) <= WINDOW_MS
    assert store.counters() == {"decision:bound:requester-match": 1}
    [entry] = store.recent_decisions()
    assert {k: entry[k] for k in ("eventId", "mode", "reason", "bindingId", "destination", "jobId")} == {
        "eventId": "e1", "mode": "bound", "reason": "requester-match", "bindingId": "b1",
        "destination": "discord/default/t1", "jobId": "j1"}


def test_the_same_job_again_reuses_the_first_decision(any_redis: redis.Redis) -> None:
    store = RouterStore(any_redis, dedupe_window_ms=WINDOW_MS)
    _claim(store, "j1")
    again = store.claim(event_id="e1", job_id="j1", raw_event=b"{}", proposal=_decision("no-requester-match", "x"),
                        now_ms=NOW_MS + 5)
    assert (again.status, again.decision) == ("sticky", _decision())
    assert store.counters() == {"decision:bound:requester-match": 1}
    assert len(store.recent_decisions()) == 1


def test_another_job_with_the_same_event_is_a_duplicate_and_changes_nothing(any_redis: redis.Redis) -> None:
    store = RouterStore(any_redis, dedupe_window_ms=WINDOW_MS)
    _claim(store, "j1")
    dup = _claim(store, "j2", _decision("other", "t2"))
    assert dup == Claim(status="duplicate", owner_job_id="j1")
    state = store.state("e1")
    assert state is not None
    assert (state.job_id, state.duplicates, state.decision) == ("j1", 1, _decision())
    assert store.counters()["outcome:duplicate"] == 1


def test_a_replay_takes_the_event_over_and_keeps_the_decision(any_redis: redis.Redis) -> None:
    store = RouterStore(any_redis, dedupe_window_ms=WINDOW_MS)
    _claim(store, "j1")
    script_keys, args = store.requeue_args(event_id="e1", job_id="j9", reroute=False, raw_event=b"{}", now_ms=NOW_MS)
    assert store.requeue(script_keys, args) is None
    assert _claim(store, "j1").status == "duplicate"  # the old job lost the event
    replay = _claim(store, "j9", _decision("other", "t2"))
    assert (replay.status, replay.decision) == ("sticky", _decision())


def test_a_reroute_moves_the_decision_to_the_history_and_decides_again(any_redis: redis.Redis) -> None:
    store = RouterStore(any_redis, dedupe_window_ms=WINDOW_MS)
    _claim(store, "j1")
    script_keys, args = store.requeue_args(event_id="e1", job_id="j9", reroute=True, raw_event=b"{}", now_ms=NOW_MS)
    moved = store.requeue(script_keys, args)
    assert msgspec.json.decode(moved, type=DecisionRecord) == _decision()
    rerouted = _claim(store, "j9", _decision("single-active-binding-fallback", "t2"))
    assert rerouted.status == "new"
    state = store.state("e1")
    assert state is not None
    assert state.history == [_decision()]
    assert state.decision == _decision("single-active-binding-fallback", "t2")
    assert 0 < any_redis.pttl(keys.decision_history("e1")) <= WINDOW_MS


def test_a_replay_of_an_event_past_the_window_creates_it_for_the_new_job(any_redis: redis.Redis) -> None:
    store = RouterStore(any_redis, dedupe_window_ms=WINDOW_MS)
    script_keys, args = store.requeue_args(event_id="e1", job_id="j9", reroute=True, raw_event=b'{"eventId":"e1"}',
                                           now_ms=NOW_MS)
    store.requeue(script_keys, args)
    assert store.load_event("e1") == b'{"eventId":"e1"}'
    assert _claim(store, "j9").status == "new"


def test_binding_snapshots_drop_metadata_that_looks_secret() -> None:
    rec = msgspec.structs.replace(binding(conv("t1")), metadata={"threadId": "t1", "webhookToken": "s3cret",
                                                                 "webhookId": "w1"})
    assert without_secrets(rec).metadata == {"threadId": "t1", "webhookId": "w1"}
