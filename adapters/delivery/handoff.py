"""The router's one entry into the delivery engine.

`hand_off` is idempotent: it creates the delivery's ledger record (pending) if absent and enqueues its job on
`deliver.<channel>` under a job id derived from the delivery id — both in one script (`ledger_open`), one round trip,
so no crash can leave a new record without its job. Called again for the same delivery it enqueues nothing new when
the record is in flight, delivered or dead, or its job is still there, and re-enqueues only a pending delivery whose
job has vanished. A revived record (replay `--reroute`) gets a new job id, enqueued here by RQ's own unique enqueue;
should that be lost, the record is in the watch index, so the lease reaper enqueues it after one lease.

`prepare_hand_off` + `finish_hand_off` are the same hand-off run inside a script of the caller's that embeds the
`ledger_open` Lua function (`adapters.delivery.ledger.OPEN_FUNCTION_FILE`): the router stores a new routing decision
and hands its delivery off in one script, atomically, in one round trip. Calling `hand_off` afterwards is always
harmless.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import msgspec
import redis

from adapters.delivery.enqueue import delivery_job, enqueue_delivery
from adapters.delivery.ledger import Ledger, OpenResult, open_result
from adapters.delivery.settings import job_id_for, lease_ms, retention_s
from adapters.payloads import Delivery
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.process_config import process_config

__all__ = ["HandOffCall", "finish_hand_off", "hand_off", "prepare_hand_off"]

log = logging.getLogger("tether.delivery")

_ENCODER = msgspec.json.Encoder()


class HandOffCall(NamedTuple):
    """A hand-off to run as `ledger_open(KEYS, k, ARGV, a)` in a script of the caller's, `keys` at KEYS offset k and
    `args` at ARGV offset a; `finish_hand_off` then reads what the function returned."""

    delivery: Delivery
    keys: list[str]
    args: list[str | int | bytes]


def hand_off(client: redis.Redis, delivery: Delivery, *, config: TetherConfig | None = None,
             clock: Clock = SYSTEM_CLOCK) -> str:
    """Make sure `delivery` will be delivered (once); returns its delivery id."""
    call = prepare_hand_off(client, delivery, config=config, clock=clock)
    _finish(client, delivery, Ledger(client, clock=clock).run_open(call.keys, call.args))
    return delivery.delivery_id


def prepare_hand_off(client: redis.Redis, delivery: Delivery, *, config: TetherConfig | None = None,
                     clock: Clock = SYSTEM_CLOCK) -> HandOffCall:
    """`hand_off(client, delivery)` as keys and arguments for `ledger_open` in the caller's own script."""
    config = config or process_config()
    ledger = Ledger(client, clock=clock, retention_s=retention_s(config))
    now = clock.now_ms()
    job_id = job_id_for(delivery.delivery_id)
    payload = _ENCODER.encode(delivery)
    keys, args = ledger.open_call(delivery, job_id=job_id, watch_at_ms=now + lease_ms(config.delivery), now_ms=now,
                                  job=delivery_job(delivery.destination.channel, job_id=job_id),
                                  payload=payload)
    return HandOffCall(delivery, keys, args)


def finish_hand_off(client: redis.Redis, call: HandOffCall, reply: Any) -> str:
    """After `ledger_open` ran with `call`'s keys and arguments and returned `reply`: whatever is left to do (a
    revived record's job is enqueued here). Returns the delivery id."""
    _finish(client, call.delivery, open_result(reply))
    return call.delivery.delivery_id


def _finish(client: redis.Redis, delivery: Delivery, opened: OpenResult) -> None:
    enqueued = opened.job == "enqueued"
    if opened.job == "caller":
        # A revived record's new job id (or a record pending under another job): RQ's own unique enqueue, which
        # leaves a job still waiting under that id alone, so a repeated hand-off adds no duplicate.
        enqueued = enqueue_delivery(client, delivery.destination.channel, delivery, job_id=opened.job_id)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("handed off", extra={"deliveryId": delivery.delivery_id, "eventId": delivery.event_id,
                                       "channel": delivery.destination.channel, "outcome": opened.outcome,
                                       "enqueued": enqueued})
