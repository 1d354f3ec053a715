"""The sweeper process: ends expired bindings (with their farewell), checks bound threads, and puts deliveries
whose lease expired back to work. Several sweepers may run at once: every step is atomic in Redis."""

from __future__ import annotations

import logging
import threading

import redis

from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.service import SessionBindingService
from bindings.sweep import sweep_once
from workers.farewell import send_farewell

log = logging.getLogger("tether.sweeper")


class Sweeper:
    def __init__(self, client: redis.Redis, config: TetherConfig, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.client = client
        self.config = config
        self.clock = clock
        self.svc = SessionBindingService(client, config, clock=clock)

    def run_once(self) -> dict[str, int]:
        now = self.clock.now_ms()
        ended = sweep_once(self.svc, now_ms=now)
        farewells = sum(1 for r in ended if send_farewell(self.client, r, now) is not None)
        from adapters.delivery.reaper import reap_expired_leases

        reaped = reap_expired_leases(self.client, self.config, now_ms=now)
        summary = {"bindingsEnded": len(ended), "farewells": farewells, "leasesReaped": reaped}
        if "discord" in self.config.channels:
            from adapters.discord.threads import check_bound_threads

            checked = check_bound_threads(self.svc, self.client, self.config,
                                          on_farewell=lambda r: send_farewell(self.client, r, now))
            summary |= {f"threads{k.capitalize()}": v for k, v in checked.items()}
        if ended or reaped or summary.get("threadsArchived") or summary.get("threadsDeleted"):
            log.info("swept", extra=summary)
        return summary

    def run_forever(self, stop: threading.Event, *, interval_s: float = 5.0) -> None:
        log.info("sweeper starting", extra={"intervalS": interval_s})
        while not stop.is_set():
            try:
                self.run_once()
            except redis.RedisError as exc:
                # Redis restarting or unreachable: try again next round rather than crash-loop.
                log.warning("sweep failed; will retry", extra={"error": str(exc)})
            stop.wait(interval_s)
        log.info("sweeper stopped")
