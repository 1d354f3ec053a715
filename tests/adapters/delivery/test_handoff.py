"""`hand_off`: idempotent — one ledger record and one job per delivery, whatever the number of calls."""

from __future__ import annotations

import redis

from adapters.delivery import keys
from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.delivery.rqwire import DELIVER_JOB, deliver_queue_name, tether_queue
from adapters.delivery.settings import job_id_for
from bindings.config import TetherConfig
from tests.adapters.fixtures import Drain
from tests.adapters.support import CHANNEL, make_delivery, sent


def queue_ids(client: redis.Redis) -> list[str]:
    return list(tether_queue(deliver_queue_name(CHANNEL), client).job_ids)


def test_hand_off_creates_a_pending_record_and_one_job(real_redis: redis.Redis, config: TetherConfig) -> None:
    d = make_delivery()
    assert hand_off(real_redis, d, config=config) == d.delivery_id
    assert hand_off(real_redis, d, config=config) == d.delivery_id
    assert queue_ids(real_redis) == [job_id_for(d.delivery_id)]
    job = tether_queue(deliver_queue_name(CHANNEL), real_redis).fetch_job(job_id_for(d.delivery_id))
    assert job is not None and job.func_name == DELIVER_JOB and job.args[0]["deliveryId"] == d.delivery_id
    record = Ledger(real_redis).get(d.delivery_id)
    assert record is not None and record.status == "pending" and record.job_id == job_id_for(d.delivery_id)
    assert real_redis.zscore(keys.delivery_watch(), d.delivery_id) is not None


def test_hand_off_of_a_delivered_delivery_enqueues_nothing(probe_env: redis.Redis, drain: Drain,
                                                             config: TetherConfig) -> None:
    d = make_delivery()
    hand_off(probe_env, d)
    drain()
    hand_off(probe_env, d)
    assert queue_ids(probe_env) == []
    assert len(sent(probe_env)) == 1


def test_hand_off_re_enqueues_a_pending_delivery_whose_job_vanished(real_redis: redis.Redis,
                                                                      config: TetherConfig) -> None:
    d = make_delivery()
    hand_off(real_redis, d, config=config)
    queue = tether_queue(deliver_queue_name(CHANNEL), real_redis)
    queue.empty()  # the job is lost (a crash between the record and the enqueue looks the same)
    hand_off(real_redis, d, config=config)
    assert queue_ids(real_redis) == [job_id_for(d.delivery_id)]


def test_job_ids_are_derived_from_the_delivery_id_and_always_valid() -> None:
    assert job_id_for("d-0123abcd") == "deliver-d-0123abcd"
    odd = job_id_for("weird id/with:chars")
    assert odd.startswith("deliver-h") and odd == job_id_for("weird id/with:chars")
