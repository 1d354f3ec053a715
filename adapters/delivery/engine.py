"""One attempt at one delivery: claim it in the ledger, send the chunks not yet recorded, decide the outcome.

The order of a chunk's send is fixed: (reconcile, if its previous send has an unknown outcome and the platform has
no idempotency key) → renew the lease and mark the chunk in flight (for an attempt's first chunk, the claim did) →
send → record the message id under the fencing token (for the last chunk, also completing the delivery). So a
recorded chunk is never sent again, a worker whose lease was taken over stops before its next chunk, and a delivered
or dead record is never sent at all, whoever runs the job.

Every failure is decided in one place (`_fail`), by the adapter's error class:
`RetryableError` (or an unexpected exception) → back to pending with backoff, or dead `retries-exhausted` once the
attempts are spent; `PermanentError` → dead with its reason; `DestinationGone` → the binding ends `thread-delete`
and the delivery is dead `destination-gone`; nothing is ever sent to another destination.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from typing import Literal, NoReturn

import msgspec
import redis

from adapters.delivery.deadletter import delivery_letter
from adapters.delivery.leases import RENEWER, Held
from adapters.delivery.ledger import Claim, Ledger
from adapters.delivery.metrics import record_outcome
from adapters.delivery.retry import RetryPolicy
from adapters.delivery.settings import job_id_for, lease_ms, retention_s
from adapters.payloads import Delivery
from adapters.protocol import Adapter, DestinationGone, OutboundChunk, PermanentError, RetryableError
from adapters.redact import clean_error
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig

log = logging.getLogger("tether.delivery")

OutcomeStatus = Literal["delivered", "retry", "dead", "skipped"]
# (channel, delivery, job id, delay in seconds): how a retry gets back on the queue.
Scheduler = Callable[[str, Delivery, str, float], None]
AdapterLookup = Callable[[str], Adapter]

IDEMPOTENCY_KEY_CHARS = 25  # Discord nonces are limited to 25 characters


class Outcome(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """What one run of the delivery job did (also the RQ job's result)."""

    delivery_id: str
    event_id: str
    channel: str
    status: OutcomeStatus
    attempts: int = 0
    message_ids: list[str] = msgspec.field(default_factory=list)
    reason: str | None = None  # skipped: why (delivered, dead, busy, early, missing, lease-lost); dead: the reason
    retry_in_s: float | None = None


def idempotency_key(delivery_id: str, index: int) -> str:
    """Deterministic per (delivery, chunk), at most 25 characters: the same chunk always carries the same key."""
    return hashlib.sha256(f"{delivery_id}\x1f{index}".encode()).hexdigest()[:IDEMPOTENCY_KEY_CHARS]


class UnknownSend(PermanentError):
    """At-most-once channel, and the platform cannot say whether a lost send landed: a person must check."""

    reason = "unknown-send"


class LeaseLost(Exception):
    """The fencing token is stale: another worker holds the delivery now (internal control flow only)."""


class DeliveryEngine:
    def __init__(
        self,
        client: redis.Redis,
        config: TetherConfig,
        *,
        adapter_for: AdapterLookup,
        owner: str,
        schedule: Scheduler | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.adapter_for = adapter_for
        self.owner = owner
        self.schedule = schedule
        self.clock = clock
        self.rng = rng or random.Random()
        self.policy = RetryPolicy.from_config(config.delivery)
        self.lease_ms = lease_ms(config.delivery)
        self.ledger = Ledger(client, clock=clock, retention_s=retention_s(config))

    def run(self, delivery: Delivery) -> Outcome:
        adapter = self.adapter_for(delivery.destination.channel)
        texts = adapter.split(delivery.content.text) or [""]
        claim = self.ledger.claim(delivery.delivery_id, owner=self.owner, lease_ms=self.lease_ms,
                                  chunk_count=len(texts), mark_next=True)
        if not claim.granted:
            if claim.outcome == "missing":
                log.warning("no ledger record for this delivery (never handed off, or past retention): not sending",
                            extra={"deliveryId": delivery.delivery_id, "eventId": delivery.event_id})
            return self._report(delivery, Outcome(
                delivery_id=delivery.delivery_id, event_id=delivery.event_id, channel=delivery.destination.channel,
                status="skipped", reason=claim.outcome))
        if claim.attempts > self.policy.max_attempts:
            # Only reachable when earlier attempts never reported back (the worker died each time).
            return self._die(delivery, claim, "retries-exhausted",
                             f"{claim.attempts - 1} attempts ended without an outcome (worker lost each time)")
        if claim.chunks != len(texts):
            return self._die(delivery, claim, "split-changed",
                             f"the adapter now splits the text into {len(texts)} chunks, the ledger has {claim.chunks}")
        try:
            with RENEWER.hold(self.ledger, delivery.delivery_id, claim.fence, self.lease_ms) as keeper:
                message_ids = self._send_chunks(adapter, delivery, claim, texts, keeper)
        except LeaseLost:
            return self._report(delivery, Outcome(
                delivery_id=delivery.delivery_id, event_id=delivery.event_id, channel=delivery.destination.channel,
                status="skipped", attempts=claim.attempts, reason="lease-lost"))
        except redis.RedisError:
            raise  # the ledger is unreachable: the job fails, the lease expires, the reaper hands it on
        except Exception as exc:  # every failure is classified in _fail
            return self._fail(delivery, claim, exc)
        return self._report(delivery, Outcome(
            delivery_id=delivery.delivery_id, event_id=delivery.event_id, channel=delivery.destination.channel,
            status="delivered", attempts=claim.attempts, message_ids=message_ids))

    # -- sending ----------------------------------------------------------------------------------------------

    def _send_chunks(self, adapter: Adapter, delivery: Delivery, claim: Claim, texts: list[str],
                     keeper: Held) -> list[str]:
        """Send the chunks not yet recorded, in order. The claim marked the first of them in flight already; each
        later one is marked by a renewal just before its send. The last one is recorded and the delivery completed
        in one step."""
        did, fence = delivery.delivery_id, claim.fence
        for index in range(claim.chunks_done, len(texts)):
            chunk = OutboundChunk(delivery=delivery, index=index, count=len(texts), text=texts[index],
                                  idempotency_key=idempotency_key(did, index))
            if keeper.lost.is_set():
                raise LeaseLost
            if claim.inflight_chunk == index:
                # The previous attempt began this send and never learned its outcome.
                found = self._unknown_send(adapter, chunk)
                if found is not None:
                    if index == len(texts) - 1:
                        return self._record_last(did, fence, index, found)
                    self._record(did, fence, index, found)
                    continue
            if index > claim.chunks_done and not self.ledger.renew(did, fence, lease_ms=self.lease_ms,
                                                                   sending_chunk=index):
                raise LeaseLost
            message_id = adapter.send(chunk)
            if index == len(texts) - 1:
                return self._record_last(did, fence, index, message_id)
            self._record(did, fence, index, message_id)
        # Every chunk was recorded by an earlier attempt that ended before completing.
        message_ids = self.ledger.complete(did, fence)
        if message_ids is None:
            raise LeaseLost
        return message_ids

    def _unknown_send(self, adapter: Adapter, chunk: OutboundChunk) -> str | None:
        """A chunk whose last send has no known outcome: the id of the message if it is known to have landed, None
        to send it (again). Raises UnknownSend where the channel is configured at-most-once and cannot tell."""
        caps = adapter.capabilities
        if caps.idempotency_key:
            return None  # the platform answers a resend with the same key with the first message
        if caps.reconcile:
            return adapter.reconcile(chunk)
        channel = chunk.delivery.destination.channel
        settings = self.config.channels.get(channel)
        if settings is not None and settings.unknown_send == "dead-letter":
            raise UnknownSend(f"{channel}: chunk {chunk.index} may or may not have been delivered; the platform "
                              f"cannot tell (channels.{channel}.unknownSend = \"dead-letter\")")
        log.warning("resending a chunk whose earlier send has no known outcome; a duplicate is possible",
                    extra={"deliveryId": chunk.delivery.delivery_id, "chunk": chunk.index, "channel": channel})
        return None

    def _record(self, delivery_id: str, fence: int, index: int, message_id: str) -> None:
        if not self.ledger.record_chunk(delivery_id, fence, index, str(message_id), lease_ms=self.lease_ms):
            self._lost_mid_send(delivery_id, index, message_id)

    def _record_last(self, delivery_id: str, fence: int, index: int, message_id: str) -> list[str]:
        message_ids = self.ledger.record_last_chunk(delivery_id, fence, index, str(message_id),
                                                    lease_ms=self.lease_ms)
        if message_ids is None:
            self._lost_mid_send(delivery_id, index, message_id)
        return message_ids

    @staticmethod
    def _lost_mid_send(delivery_id: str, index: int, message_id: str) -> NoReturn:
        # The chunk went out after our lease was taken over: the successor may send it too. Leases are renewed
        # in the background, so this needs a send that outlived the whole lease without the renewer running.
        log.warning("lease lost while a chunk was being sent",
                    extra={"deliveryId": delivery_id, "chunk": index, "messageId": message_id})
        raise LeaseLost

    # -- failures ---------------------------------------------------------------------------------------------

    def _fail(self, delivery: Delivery, claim: Claim, exc: Exception) -> Outcome:
        error = clean_error(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, DestinationGone):
            self._end_binding(delivery, exc.end_reason)
            return self._die(delivery, claim, "destination-gone", error)
        if isinstance(exc, UnknownSend):
            return self._die(delivery, claim, "unknown-send", error)
        if isinstance(exc, PermanentError):
            return self._die(delivery, claim, exc.reason or "permanent", error)
        retry_after_s = exc.retry_after_s if isinstance(exc, RetryableError) else None
        if not isinstance(exc, RetryableError):
            log.exception("unexpected error from the adapter; treated as retryable",
                          extra={"deliveryId": delivery.delivery_id})
        if self.policy.exhausted(claim.attempts):
            return self._die(delivery, claim, "retries-exhausted", error)
        delay_s = self.policy.delay_s(claim.attempts, retry_after_s, self.rng)
        now = self.clock.now_ms()
        next_at = now + int(delay_s * 1000)
        job_id = f"{job_id_for(delivery.delivery_id)}-a{claim.attempts}"
        unsent = isinstance(exc, RetryableError) and exc.unsent
        if not self.ledger.retry(delivery.delivery_id, claim.fence, next_attempt_at_ms=next_at, error=error,
                                 job_id=job_id, watch_at_ms=next_at + self.lease_ms, now_ms=now, unsent=unsent):
            return self._lost(delivery, claim)
        if self.schedule is not None:
            try:
                self.schedule(delivery.destination.channel, delivery, job_id, delay_s)
            except redis.RedisError as sched_exc:
                # The ledger already says "pending until next_at": the reaper enqueues it one lease after that.
                log.warning("could not schedule the retry; the lease reaper will", extra={
                    "deliveryId": delivery.delivery_id, "error": str(sched_exc)})
        return self._report(delivery, Outcome(
            delivery_id=delivery.delivery_id, event_id=delivery.event_id, channel=delivery.destination.channel,
            status="retry", attempts=claim.attempts, reason=error, retry_in_s=round(delay_s, 3)))

    def _die(self, delivery: Delivery, claim: Claim, reason: str, error: str) -> Outcome:
        now = self.clock.now_ms()
        letter = delivery_letter(delivery, reason=reason, error=error, attempts=claim.attempts, dead_at=now)
        if not self.ledger.die(delivery.delivery_id, claim.fence, letter, now_ms=now):
            return self._lost(delivery, claim)
        return self._report(delivery, Outcome(
            delivery_id=delivery.delivery_id, event_id=delivery.event_id, channel=delivery.destination.channel,
            status="dead", attempts=claim.attempts, reason=reason))

    def _lost(self, delivery: Delivery, claim: Claim) -> Outcome:
        return self._report(delivery, Outcome(
            delivery_id=delivery.delivery_id, event_id=delivery.event_id, channel=delivery.destination.channel,
            status="skipped", attempts=claim.attempts, reason="lease-lost"))

    def _end_binding(self, delivery: Delivery, reason: str = "thread-delete") -> None:
        """The bound thread is gone: end its binding so later completions of the session fall back explicitly."""
        if not delivery.binding_id:
            return
        from bindings.service import SessionBindingService

        ended = SessionBindingService(self.client, self.config, clock=self.clock).unbind(
            binding_id=delivery.binding_id, reason=reason)
        log.info("binding ended: destination gone", extra={
            "deliveryId": delivery.delivery_id, "bindingId": delivery.binding_id, "ended": len(ended)})

    # -- reporting --------------------------------------------------------------------------------------------

    def _report(self, delivery: Delivery, outcome: Outcome) -> Outcome:
        latency_s = None
        if outcome.status == "delivered" and delivery.event_created_at:
            latency_s = (self.clock.now_ms() - delivery.event_created_at) / 1000
        result = outcome.status if outcome.status != "skipped" else f"skipped-{outcome.reason}"
        record_outcome(self.client, outcome.channel, result, latency_s=latency_s)
        level = logging.WARNING if outcome.status == "dead" else logging.INFO
        log.log(level, f"delivery {outcome.status}", extra={
            "deliveryId": outcome.delivery_id, "eventId": outcome.event_id, "channel": outcome.channel,
            "status": outcome.status, "attempts": outcome.attempts, "messageIds": outcome.message_ids,
            "reason": outcome.reason, "retryInS": outcome.retry_in_s,
        })
        return outcome
