"""The lease reaper: expired leases and lost jobs go back on the queue, once, found through the watch index."""

from __future__ import annotations

import redis

from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.delivery.reaper import reap_expired_leases
from adapters.delivery.rqwire import deliver_queue_name, tether_queue
from bindings.clock import ManualClock
from bindings.config import TetherConfig
from tests.adapters.support import CHANNEL, make_delivery


def test_an_expired_lease_is_requeued_once_even_with_several_reapers(real_redis: redis.Redis,
                                                                      config: TetherConfig) -> None:
    clock = ManualClock()
    d = make_delivery()
    hand_off(real_redis, d, config=config, clock=clock)
    queue = tether_queue(deliver_queue_name(CHANNEL), real_redis)
    queue.empty()
    ledger = Ledger(real_redis, clock=clock)
    lease_ms = int(config.delivery.lease_s * 1000)
    assert ledger.claim(d.delivery_id, owner="crashed", lease_ms=lease_ms, chunk_count=1).granted
    assert reap_expired_leases(real_redis, config, clock=clock) == 0  # lease still live
    clock.advance(lease_ms)
    assert reap_expired_leases(real_redis, config, clock=clock) == 1
    assert reap_expired_leases(real_redis, config, clock=clock) == 0
    assert queue.count == 1
    record = ledger.get(d.delivery_id)
    assert record is not None and record.status == "pending" and record.job_id == queue.job_ids[0]


def test_a_pending_delivery_whose_job_is_waiting_is_left_alone(real_redis: redis.Redis,
                                                                config: TetherConfig) -> None:
    clock = ManualClock()
    d = make_delivery()
    hand_off(real_redis, d, config=config, clock=clock)
    clock.advance(10 * int(config.delivery.lease_s * 1000))
    assert reap_expired_leases(real_redis, config, clock=clock) == 0
    assert tether_queue(deliver_queue_name(CHANNEL), real_redis).count == 1


def test_a_pending_delivery_whose_job_is_gone_gets_a_new_one(real_redis: redis.Redis, config: TetherConfig) -> None:
    clock = ManualClock()
    d = make_delivery()
    hand_off(real_redis, d, config=config, clock=clock)
    queue = tether_queue(deliver_queue_name(CHANNEL), real_redis)
    old = queue.job_ids[0]
    queue.empty()
    real_redis.delete(f"rq:job:{old}")
    clock.advance(int(config.delivery.lease_s * 1000))
    assert reap_expired_leases(real_redis, config, clock=clock) == 1
    assert queue.job_ids == [f"{old}-r1"]
