"""The lease renewer: one thread per process keeps every held lease alive until it is released or refused."""

from __future__ import annotations

import threading

import redis

from adapters.delivery.leases import LeaseRenewer
from adapters.delivery.ledger import Ledger
from tests.adapters.support import make_delivery
from tests.support.waiting import wait_for

LEASE_MS = 300  # renewed every 60 ms


def claimed(ledger: Ledger, event_id: str = "ev-1") -> tuple[str, int]:
    d = make_delivery(event_id, text="a")
    ledger.open(d, job_id="deliver-x", watch_at_ms=0)
    claim = ledger.claim(d.delivery_id, owner="w1", lease_ms=LEASE_MS, chunk_count=1)
    assert claim.granted
    return d.delivery_id, claim.fence


def lease_until(ledger: Ledger, delivery_id: str) -> int:
    record = ledger.get(delivery_id)
    assert record is not None and record.lease_until is not None
    return record.lease_until


def test_a_held_lease_is_renewed_until_released(real_redis: redis.Redis) -> None:
    ledger, renewer = Ledger(real_redis), LeaseRenewer()
    did, fence = claimed(ledger)
    first = lease_until(ledger, did)
    with renewer.hold(ledger, did, fence, LEASE_MS) as held:
        wait_for(lambda: lease_until(ledger, did) > first + LEASE_MS, timeout_s=5,
                 what="the lease to be renewed past its first deadline")
        assert not held.lost.is_set()
    assert renewer.holding() == 0
    released_at = lease_until(ledger, did)
    # Nothing renews it any more: once it has expired, another worker can claim the delivery.
    wait_for(lambda: ledger.claim(did, owner="w2", lease_ms=LEASE_MS, chunk_count=1).granted, timeout_s=5,
             what="the released lease to expire")
    assert lease_until(ledger, did) > released_at


def test_a_refused_renewal_marks_the_lease_lost_and_stops_renewing_it(real_redis: redis.Redis) -> None:
    ledger, renewer = Ledger(real_redis), LeaseRenewer()
    did, fence = claimed(ledger)
    with renewer.hold(ledger, did, fence + 1, LEASE_MS) as held:  # a token some newer claim drew
        wait_for(held.lost.is_set, timeout_s=5, what="the renewal to be refused")
        wait_for(lambda: renewer.holding() == 0, timeout_s=5, what="the lost lease to be dropped")


def test_one_thread_renews_every_lease_of_the_process(real_redis: redis.Redis) -> None:
    ledger, renewer = Ledger(real_redis), LeaseRenewer()
    before = threading.active_count()
    leases = [claimed(ledger, f"ev-{i}") for i in range(5)]
    firsts = [lease_until(ledger, did) for did, _ in leases]
    holds = [renewer.hold(ledger, did, fence, LEASE_MS) for did, fence in leases]
    assert threading.active_count() == before + 1
    wait_for(lambda: all(lease_until(ledger, did) > f + LEASE_MS for (did, _), f in zip(leases, firsts, strict=True)),
             timeout_s=5, what="every lease to be renewed")
    for h in holds:
        h.__exit__()
    assert renewer.holding() == 0
