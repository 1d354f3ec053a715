"""The router's one entry into the delivery engine.

`hand_off` is idempotent: it creates the delivery's ledger record (pending) if absent and enqueues its job on
`deliver.<channel>` under a job id derived from the delivery id. Called again for the same delivery it enqueues
nothing new when the record is in flight, delivered or dead, and re-enqueues only a pending delivery whose job has
vanished. Between creating the record and enqueueing there is a crash window; the record is in the watch index from
the start, so the lease reaper enqueues it after one lease if the job never appeared.
"""

from __future__ import annotations

import logging

import redis

from adapters.delivery.enqueue import enqueue_delivery
from adapters.delivery.settings import job_id_for, lease_ms, process_config, retention_s
from adapters.ledger import Ledger
from adapters.payloads import Delivery
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig

log = logging.getLogger("tether.delivery")


def hand_off(client: redis.Redis, delivery: Delivery, *, config: TetherConfig | None = None,
             clock: Clock = SYSTEM_CLOCK) -> str:
    """Make sure `delivery` will be delivered (once); returns its delivery id."""
    config = config or process_config()
    ledger = Ledger(client, clock=clock, retention_s=retention_s(config))
    now = clock.now_ms()
    opened = ledger.open(delivery, job_id=job_id_for(delivery.delivery_id),
                         watch_at_ms=now + lease_ms(config.delivery), now_ms=now)
    channel = delivery.destination.channel
    if opened.outcome in ("created", "revived") or opened.status == "pending":
        # `unique`: a job still waiting under that id is left alone, so a repeated hand-off adds no duplicate.
        enqueued = enqueue_delivery(client, channel, delivery, job_id=opened.job_id)
        log.debug("handed off", extra={"deliveryId": delivery.delivery_id, "eventId": delivery.event_id,
                                       "channel": channel, "outcome": opened.outcome, "enqueued": enqueued})
    return delivery.delivery_id
