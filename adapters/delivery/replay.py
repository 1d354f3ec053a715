"""Replay and purge of delivery dead letters (router dead letters are replayed by `tether dlq`, through the router).

Replay is idempotent because it goes through the ledger, never around it:
- a dead record goes back to pending with a fresh attempt budget and one new job, and its letter is removed, in one
  Lua step; chunks that were sent before it died stay sent;
- a record that is delivered (or pending/sending again, after a concurrent replay) sends nothing; its stale letter is
  removed;
- a letter whose record is gone (Redis restored without it) is handed off again from the delivery it carries.
`rearm` prepares `--reroute`: the record stays dead, but the router's next hand-off of the same delivery (routing
chose the same destination again) revives it instead of finding it dead.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import redis

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue
from adapters.delivery.enqueue import enqueue_delivery
from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.delivery.settings import job_id_for, lease_ms, retention_s
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.process_config import process_config

ReplayOutcome = Literal[
    "replayed", "already-delivered", "in-progress", "rearmed", "rerouted", "not-replayable", "missing", "failed"
]


class ReplayResult(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    id: str
    outcome: ReplayOutcome
    detail: str | None = None


def replay_delivery_letter(client: redis.Redis, letter: DeadLetter, *, config: TetherConfig | None = None,
                           clock: Clock = SYSTEM_CLOCK, rearm: bool = False) -> ReplayResult:
    """Replay one delivery dead letter (or, with `rearm`, prepare it for re-routing)."""
    config = config or process_config()
    if letter.delivery_id is None or letter.delivery is None:
        return ReplayResult(id=letter.id, outcome="not-replayable",
                            detail="the job's payload was not a delivery; nothing to send (purge it)")
    ledger = Ledger(client, clock=clock, retention_s=retention_s(config))
    now = clock.now_ms()
    did = letter.delivery_id
    revived = ledger.revive(did, letter.id, job_prefix=job_id_for(did), watch_at_ms=now + lease_ms(config.delivery),
                            rearm=rearm, now_ms=now)
    if revived.outcome == "revived" and revived.job_id and revived.payload and revived.channel:
        enqueue_delivery(client, revived.channel, revived.payload, job_id=revived.job_id)
        return ReplayResult(id=letter.id, outcome="replayed", detail=revived.job_id)
    if revived.outcome == "rearmed":
        return ReplayResult(id=letter.id, outcome="rearmed")
    if revived.outcome == "delivered":
        return ReplayResult(id=letter.id, outcome="already-delivered", detail="nothing sent")
    if revived.outcome in ("pending", "sending"):
        return ReplayResult(id=letter.id, outcome="in-progress", detail=f"the delivery is {revived.outcome} already")
    # No ledger record any more: start over from the delivery the letter carries.
    if rearm:
        DeadLetterQueue(client).remove(letter.id)
        return ReplayResult(id=letter.id, outcome="rearmed", detail="no ledger record")
    hand_off(client, letter.delivery, config=config, clock=clock)
    DeadLetterQueue(client).remove(letter.id)
    return ReplayResult(id=letter.id, outcome="replayed", detail="ledger record recreated")


def purge_letters(client: redis.Redis, letter_ids: list[str] | None = None, *,
                  config: TetherConfig | None = None) -> int:
    """Remove dead letters (all when `letter_ids` is None); their dead ledger records then expire after the
    retention period instead of staying forever. Returns how many letters were removed."""
    config = config or process_config()
    dlq = DeadLetterQueue(client)
    ledger = Ledger(client, retention_s=retention_s(config))
    ids = dlq.ids() if letter_ids is None else letter_ids
    removed = 0
    for letter_id in ids:
        letter = dlq.get(letter_id)
        if dlq.remove(letter_id):
            removed += 1
            if letter is not None and letter.delivery_id:
                ledger.expire_dead(letter.delivery_id)
    return removed
