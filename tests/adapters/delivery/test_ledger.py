"""The ledger's Lua scripts: claims with leases and fencing tokens, chunk progress, completion, retry, death,
reaping and revival. Runs against the real redis-server and fakeredis."""

from __future__ import annotations

import pytest
import redis

from adapters.delivery import keys
from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue
from adapters.delivery.ledger import Ledger
from bindings.clock import ManualClock
from tests.adapters.support import SECRET_ERROR, make_delivery

LEASE_MS = 30_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ledger(any_redis: redis.Redis, clock: ManualClock) -> Ledger:
    return Ledger(any_redis, clock=clock, retention_s=3600)


def opened(ledger: Ledger, text: str = "a|b|c") -> str:
    d = make_delivery(text=text)
    ledger.open(d, job_id="deliver-x", watch_at_ms=ledger.now_ms() + LEASE_MS)
    return d.delivery_id


def letter_for(delivery_id: str, reason: str = "permanent", error: str = "boom") -> DeadLetter:
    d = make_delivery(text="a|b|c")
    return DeadLetter(id=delivery_id, event_id=d.event_id, delivery_id=delivery_id, reason=reason, attempts=1,
                      last_error=error, destination=d.destination, dead_at=0, source="delivery", delivery=d)


def test_open_creates_a_pending_record_once(ledger: Ledger) -> None:
    d = make_delivery()
    first = ledger.open(d, job_id="deliver-x", watch_at_ms=1)
    second = ledger.open(d, job_id="deliver-y", watch_at_ms=1)
    assert (first.outcome, first.status, first.job_id) == ("created", "pending", "deliver-x")
    assert (second.outcome, second.status, second.job_id) == ("exists", "pending", "deliver-x")
    record = ledger.get(d.delivery_id)
    assert record is not None and record.status == "pending" and record.attempts == 0 and record.delivery == d


def test_get_of_an_unknown_delivery_is_none(ledger: Ledger) -> None:
    assert ledger.get("d-nothing") is None


def test_claim_grants_one_lease_at_a_time_and_draws_a_new_token_each_time(ledger: Ledger, clock: ManualClock) -> None:
    did = opened(ledger)
    first = ledger.claim(did, owner="w1", lease_ms=LEASE_MS, chunk_count=3)
    assert first.granted and first.fence == 1 and first.attempts == 1 and first.chunks == 3
    busy = ledger.claim(did, owner="w2", lease_ms=LEASE_MS, chunk_count=3)
    assert busy.outcome == "busy" and busy.until_ms == clock.t + LEASE_MS
    clock.advance(LEASE_MS + 1)
    second = ledger.claim(did, owner="w2", lease_ms=LEASE_MS, chunk_count=3)
    assert second.granted and second.fence == 2 and second.attempts == 2


def test_a_stale_token_can_neither_record_a_chunk_nor_complete_nor_fail(ledger: Ledger, clock: ManualClock) -> None:
    did = opened(ledger, "a")
    stale = ledger.claim(did, owner="w1", lease_ms=LEASE_MS, chunk_count=1)
    clock.advance(LEASE_MS + 1)
    fresh = ledger.claim(did, owner="w2", lease_ms=LEASE_MS, chunk_count=1)
    assert not ledger.renew(did, stale.fence, lease_ms=LEASE_MS, sending_chunk=0)
    assert not ledger.record_chunk(did, stale.fence, 0, "m-stale", lease_ms=LEASE_MS)
    assert ledger.complete(did, stale.fence) is None
    assert not ledger.retry(did, stale.fence, next_attempt_at_ms=clock.t, error="x", job_id="j", watch_at_ms=clock.t)
    assert not ledger.die(did, stale.fence, letter_for(did))
    assert DeadLetterQueue(ledger.client).count() == 0
    assert ledger.record_chunk(did, fresh.fence, 0, "m-fresh", lease_ms=LEASE_MS)
    assert ledger.complete(did, fresh.fence) == ["m-fresh"]
    record = ledger.get(did)
    assert record is not None and record.status == "delivered" and record.message_ids == ["m-fresh"]


def test_chunks_are_recorded_in_order_only(ledger: Ledger) -> None:
    did = opened(ledger)
    claim = ledger.claim(did, owner="w1", lease_ms=LEASE_MS, chunk_count=3)
    assert not ledger.record_chunk(did, claim.fence, 1, "m1", lease_ms=LEASE_MS)
    assert ledger.record_chunk(did, claim.fence, 0, "m0", lease_ms=LEASE_MS)
    assert not ledger.record_chunk(did, claim.fence, 0, "m0-again", lease_ms=LEASE_MS)
    assert ledger.complete(did, claim.fence) is None  # chunks missing
    record = ledger.get(did)
    assert record is not None and record.chunks_done == 1 and record.message_ids == ["m0"]


def test_a_retry_resumes_after_the_recorded_chunks_and_reports_the_chunk_in_flight(ledger: Ledger,
                                                                                     clock: ManualClock) -> None:
    did = opened(ledger)
    claim = ledger.claim(did, owner="w1", lease_ms=LEASE_MS, chunk_count=3)
    assert ledger.renew(did, claim.fence, lease_ms=LEASE_MS, sending_chunk=0)
    assert ledger.record_chunk(did, claim.fence, 0, "m0", lease_ms=LEASE_MS)
    assert ledger.renew(did, claim.fence, lease_ms=LEASE_MS, sending_chunk=1)
    assert ledger.retry(did, claim.fence, next_attempt_at_ms=clock.t + 5000, error="503", job_id="deliver-x-a1",
                        watch_at_ms=clock.t + 5000 + LEASE_MS)
    early = ledger.claim(did, owner="w2", lease_ms=LEASE_MS, chunk_count=3)
    assert early.outcome == "early" and early.until_ms == clock.t + 5000
    clock.advance(5000)
    again = ledger.claim(did, owner="w2", lease_ms=LEASE_MS, chunk_count=3)
    assert again.granted and again.chunks_done == 1 and again.inflight_chunk == 1 and again.attempts == 2
    record = ledger.get(did)
    assert record is not None and record.last_error == "503" and record.job_id == "deliver-x-a1"


def test_a_retry_of_a_chunk_certainly_not_sent_forgets_its_in_flight_mark(ledger: Ledger,
                                                                          clock: ManualClock) -> None:
    did = opened(ledger)
    claim = ledger.claim(did, owner="w1", lease_ms=LEASE_MS, chunk_count=3, mark_next=True)
    assert ledger.retry(did, claim.fence, next_attempt_at_ms=clock.t, error="429", job_id="deliver-x-a1",
                        watch_at_ms=clock.t + LEASE_MS, unsent=True)
    again = ledger.claim(did, owner="w2", lease_ms=LEASE_MS, chunk_count=3)
    assert again.granted and again.chunks_done == 0 and again.inflight_chunk is None


def test_delivered_and_dead_records_are_never_claimed_again(ledger: Ledger, clock: ManualClock) -> None:
    delivered = opened(ledger, "a")
    c = ledger.claim(delivered, owner="w", lease_ms=LEASE_MS, chunk_count=1)
    ledger.record_chunk(delivered, c.fence, 0, "m0", lease_ms=LEASE_MS)
    assert ledger.complete(delivered, c.fence) == ["m0"]
    clock.advance(10 * LEASE_MS)
    assert ledger.claim(delivered, owner="w", lease_ms=LEASE_MS, chunk_count=1).outcome == "delivered"

    other = make_delivery(event_id="ev-2", text="a")
    ledger.open(other, job_id="deliver-y", watch_at_ms=0)
    c2 = ledger.claim(other.delivery_id, owner="w", lease_ms=LEASE_MS, chunk_count=1)
    assert ledger.die(other.delivery_id, c2.fence, letter_for(other.delivery_id))
    assert ledger.claim(other.delivery_id, owner="w", lease_ms=LEASE_MS, chunk_count=1).outcome == "dead"


def test_delivered_records_expire_after_the_retention_dead_ones_do_not(ledger: Ledger) -> None:
    did = opened(ledger, "a")
    c = ledger.claim(did, owner="w", lease_ms=LEASE_MS, chunk_count=1)
    ledger.record_chunk(did, c.fence, 0, "m0", lease_ms=LEASE_MS)
    ledger.complete(did, c.fence)
    assert 0 < ledger.client.ttl(keys.delivery(did)) <= 3600
    assert ledger.client.zscore(keys.delivery_watch(), did) is None

    dead = make_delivery("ev-dead", text="a")
    ledger.open(dead, job_id="deliver-d", watch_at_ms=0)
    c = ledger.claim(dead.delivery_id, owner="w", lease_ms=LEASE_MS, chunk_count=1)
    assert ledger.die(dead.delivery_id, c.fence, letter_for(dead.delivery_id))
    # No TTL on the dead record nor on its letter: both stay until the letter is replayed or purged.
    assert ledger.client.ttl(keys.delivery(dead.delivery_id)) == -1
    assert ledger.client.ttl(keys.dead_letter(dead.delivery_id)) == -1
    assert ledger.client.zscore(keys.delivery_watch(), dead.delivery_id) is None
    assert ledger.status(dead.delivery_id) == "dead"


def test_die_files_the_dead_letter_in_the_same_step_with_secrets_redacted(ledger: Ledger) -> None:
    did = opened(ledger)
    c = ledger.claim(did, owner="w", lease_ms=LEASE_MS, chunk_count=3)
    assert ledger.die(did, c.fence, letter_for(did, reason="forbidden", error=SECRET_ERROR))
    record = ledger.get(did)
    letter = DeadLetterQueue(ledger.client).get(did)
    assert record is not None and record.status == "dead" and record.dead_reason == "forbidden"
    assert letter is not None and letter.reason == "forbidden"
    assert "MTIzNDU2" not in (letter.last_error or "") and "[redacted]" in (letter.last_error or "")
    assert ledger.client.ttl(keys.delivery(did)) == -1
    assert ledger.client.zscore(keys.delivery_watch(), did) is None


def test_reap_puts_an_expired_lease_back_to_work_once(ledger: Ledger, clock: ManualClock) -> None:
    did = opened(ledger)
    ledger.claim(did, owner="dead-worker", lease_ms=LEASE_MS, chunk_count=3)
    assert ledger.due(clock.t) == []
    clock.advance(LEASE_MS)
    assert ledger.due(clock.t) == [did]
    first = ledger.reap(did, lease_ms=LEASE_MS, job_prefix="deliver-x")
    second = ledger.reap(did, lease_ms=LEASE_MS, job_prefix="deliver-x")
    assert first.outcome == "expired" and first.job_id == "deliver-x-r1" and first.channel == "probe"
    assert second.outcome == "skip"  # another reaper already moved its deadline on
    record = ledger.get(did)
    assert record is not None and record.status == "pending" and "dead-worker" in (record.last_error or "")
    assert ledger.claim(did, owner="w2", lease_ms=LEASE_MS, chunk_count=3).granted


def test_reap_leaves_a_live_lease_alone_and_drops_finished_records(ledger: Ledger, clock: ManualClock) -> None:
    did = opened(ledger, "a")
    c = ledger.claim(did, owner="w", lease_ms=LEASE_MS, chunk_count=1)
    clock.advance(LEASE_MS - 10)
    assert ledger.renew(did, c.fence, lease_ms=LEASE_MS)
    ledger.client.zadd(keys.delivery_watch(), {did: 0})  # as if seen before the renewal
    assert ledger.reap(did, lease_ms=LEASE_MS, job_prefix="deliver-x").outcome == "live"
    ledger.record_chunk(did, c.fence, 0, "m0", lease_ms=LEASE_MS)
    ledger.complete(did, c.fence)
    ledger.client.zadd(keys.delivery_watch(), {did: 0})
    assert ledger.reap(did, lease_ms=LEASE_MS, job_prefix="deliver-x").outcome == "finished"
    assert ledger.due(clock.t) == []


def test_reap_asks_to_check_a_pending_record_whose_job_is_overdue(ledger: Ledger, clock: ManualClock) -> None:
    did = opened(ledger)
    clock.advance(LEASE_MS)
    reaped = ledger.reap(did, lease_ms=LEASE_MS, job_prefix="deliver-x")
    assert reaped.outcome == "check" and reaped.job_id == "deliver-x" and reaped.new_job_id == "deliver-x-r1"
    assert ledger.due(clock.t) == []


def test_revive_replays_a_dead_record_once_and_removes_its_letter(ledger: Ledger, clock: ManualClock) -> None:
    did = opened(ledger)
    c = ledger.claim(did, owner="w", lease_ms=LEASE_MS, chunk_count=3)
    ledger.record_chunk(did, c.fence, 0, "m0", lease_ms=LEASE_MS)
    ledger.die(did, c.fence, letter_for(did))
    revived = ledger.revive(did, did, job_prefix="deliver-x", watch_at_ms=clock.t + LEASE_MS)
    assert revived.outcome == "revived" and revived.job_id == "deliver-x-p1"
    assert DeadLetterQueue(ledger.client).get(did) is None
    again = ledger.revive(did, did, job_prefix="deliver-x", watch_at_ms=clock.t + LEASE_MS)
    assert again.outcome == "pending"
    record = ledger.get(did)
    assert record is not None and record.status == "pending" and record.attempts == 0 and record.chunks_done == 1


def test_revive_of_a_delivered_record_changes_nothing_but_drops_the_stale_letter(ledger: Ledger) -> None:
    did = opened(ledger, "a")
    c = ledger.claim(did, owner="w", lease_ms=LEASE_MS, chunk_count=1)
    ledger.record_chunk(did, c.fence, 0, "m0", lease_ms=LEASE_MS)
    ledger.complete(did, c.fence)
    DeadLetterQueue(ledger.client).put(letter_for(did))
    assert ledger.revive(did, did, job_prefix="deliver-x", watch_at_ms=0).outcome == "delivered"
    assert DeadLetterQueue(ledger.client).count() == 0
    record = ledger.get(did)
    assert record is not None and record.status == "delivered"


def test_a_rearmed_dead_record_is_revived_by_the_next_hand_off_only(ledger: Ledger) -> None:
    d = make_delivery(text="a")
    ledger.open(d, job_id="deliver-x", watch_at_ms=0)
    c = ledger.claim(d.delivery_id, owner="w", lease_ms=LEASE_MS, chunk_count=1)
    ledger.die(d.delivery_id, c.fence, letter_for(d.delivery_id))
    assert ledger.open(d, job_id="deliver-x", watch_at_ms=0).outcome == "exists"  # dead stays dead
    assert ledger.revive(d.delivery_id, d.delivery_id, job_prefix="deliver-x", watch_at_ms=0,
                         rearm=True).outcome == "rearmed"
    assert DeadLetterQueue(ledger.client).count() == 0
    first = ledger.open(d, job_id="deliver-x", watch_at_ms=0)
    second = ledger.open(d, job_id="deliver-x", watch_at_ms=0)
    assert (first.outcome, first.job_id) == ("revived", "deliver-x-p1")
    assert (second.outcome, second.status) == ("exists", "pending")


def test_a_claim_can_mark_the_next_chunk_in_flight_and_still_reports_the_one_it_found(ledger: Ledger,
                                                                                    clock: ManualClock) -> None:
    did = opened(ledger)
    first = ledger.claim(did, owner="w1", lease_ms=LEASE_MS, chunk_count=3, mark_next=True)
    assert first.granted and first.inflight_chunk is None
    record = ledger.get(did)
    assert record is not None and record.inflight_chunk == 0  # the send that follows has an unknown outcome
    assert ledger.record_chunk(did, first.fence, 0, "m0", lease_ms=LEASE_MS)
    clock.advance(LEASE_MS + 1)  # the worker died before its next chunk
    second = ledger.claim(did, owner="w2", lease_ms=LEASE_MS, chunk_count=3, mark_next=True)
    assert second.granted and second.chunks_done == 1 and second.inflight_chunk is None
    clock.advance(LEASE_MS + 1)  # died again, this time mid-send of chunk 1
    third = ledger.claim(did, owner="w3", lease_ms=LEASE_MS, chunk_count=3, mark_next=True)
    assert third.granted and third.inflight_chunk == 1


def test_recording_the_last_chunk_completes_the_delivery_in_the_same_step(ledger: Ledger) -> None:
    did = opened(ledger, "a|b")
    claim = ledger.claim(did, owner="w1", lease_ms=LEASE_MS, chunk_count=2, mark_next=True)
    assert ledger.record_last_chunk(did, claim.fence, 1, "m1", lease_ms=LEASE_MS) is None  # not the next chunk
    assert ledger.record_chunk(did, claim.fence, 0, "m0", lease_ms=LEASE_MS)
    assert ledger.record_last_chunk(did, claim.fence, 1, "m1", lease_ms=LEASE_MS) == ["m0", "m1"]
    record = ledger.get(did)
    assert record is not None and record.status == "delivered" and record.inflight_chunk is None
    assert ledger.client.zscore(keys.delivery_watch(), did) is None
    assert 0 < ledger.client.ttl(keys.delivery(did)) <= 3600


def test_a_stale_token_cannot_record_the_last_chunk(ledger: Ledger, clock: ManualClock) -> None:
    did = opened(ledger, "a")
    stale = ledger.claim(did, owner="w1", lease_ms=LEASE_MS, chunk_count=1, mark_next=True)
    clock.advance(LEASE_MS + 1)
    ledger.claim(did, owner="w2", lease_ms=LEASE_MS, chunk_count=1, mark_next=True)
    assert ledger.record_last_chunk(did, stale.fence, 0, "m-stale", lease_ms=LEASE_MS) is None
    record = ledger.get(did)
    assert record is not None and record.status == "sending" and record.chunks_done == 0
