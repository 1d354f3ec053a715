"""Keeps the leases a worker process holds alive while it sends (a rate-limit wait, a slow platform), so only a dead
worker loses its lease. One daemon thread per process renews them all, RENEWALS_PER_LEASE times per lease: holding a
lease costs a set entry, not a thread per delivery. The worker still checks its fencing token itself before every
chunk; `Held.lost` tells it early that a renewal was refused (another worker holds the delivery now).

Why a short lease is safe (issue 12): the lease is what a crashed send waits out, so it is short (default 10 s), and
a live worker never lets it lapse however long its send takes, because this thread renews it every lease / 5
(2 s by default) independently of the send. A lease lapses under a live worker only if four renewals in a row fail
to reach Redis (8 s by default: a Redis outage, or the process stopped); a renewal that fails is retried every
RETRY_INTERVAL_S rather than a whole interval later. Worst case for a SIGKILLed send, default configuration: the last
renewal happened just before the kill, so the lease runs out ≤ leaseS (10 s) later; some other worker's reaper pass
sees it ≤ reaperIntervalS (2 s) after that and enqueues a new job, which an idle worker takes at once (a blocking
dequeue) and sends: 10 + 2 + one send (about 0.1 to 1 s) ≤ 13 s, under the 15 s target with 2 s to spare.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Final

import redis

from adapters.delivery.ledger import Ledger

log = logging.getLogger("tether.delivery")

MIN_INTERVAL_S: Final = 0.05
# A held lease is renewed this many times per lease, so that many renewals in a row minus one may fail (or be late)
# before a live worker's lease lapses.
RENEWALS_PER_LEASE: Final = 5
RETRY_INTERVAL_S: Final = 0.25  # after a renewal that could not reach Redis


class Held:
    """One lease held by this process, renewed in the background until `release`."""

    def __init__(self, renewer: LeaseRenewer, ledger: Ledger, delivery_id: str, fence: int, lease_ms: int) -> None:
        self.renewer = renewer
        self.ledger, self.delivery_id, self.fence, self.lease_ms = ledger, delivery_id, fence, lease_ms
        self.interval_s = max(MIN_INTERVAL_S, lease_ms / 1000 / RENEWALS_PER_LEASE)
        self.due = time.monotonic() + self.interval_s
        self.lost = threading.Event()

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *_: object) -> None:
        self.renewer.release(self)

    def renew(self) -> None:
        try:
            if not self.ledger.renew(self.delivery_id, self.fence, lease_ms=self.lease_ms):
                self.lost.set()
        except redis.RedisError as exc:
            log.warning("lease renewal failed; retrying", extra={"deliveryId": self.delivery_id, "error": str(exc)})
            self.due = time.monotonic() + min(self.interval_s, RETRY_INTERVAL_S)
            return
        self.due = time.monotonic() + self.interval_s


class LeaseRenewer:
    def __init__(self) -> None:
        self._held: set[Held] = set()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pid = -1

    def hold(self, ledger: Ledger, delivery_id: str, fence: int, lease_ms: int) -> Held:
        """Start renewing a lease just granted (claimed or renewed now); use as a context manager."""
        held = Held(self, ledger, delivery_id, fence, lease_ms)
        with self._lock:
            self._held.add(held)
            if self._pid != os.getpid():  # first use in this process (or a forked child, which has no thread)
                self._pid = os.getpid()
                threading.Thread(target=self._run, daemon=True, name="lease-renewer").start()
            self._wake.notify()
        return held

    def release(self, held: Held) -> None:
        with self._lock:
            self._held.discard(held)

    def holding(self) -> int:
        with self._lock:
            return len(self._held)

    def _run(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                due = [h for h in self._held if h.due <= now]
                if not due:
                    next_due = min((h.due for h in self._held), default=None)
                    self._wake.wait(None if next_due is None else next_due - now)
                    continue
            for held in due:  # outside the lock: a renewal is a Redis round trip
                if held in self._held:
                    held.renew()
                    if held.lost.is_set():
                        self.release(held)


RENEWER: Final = LeaseRenewer()
