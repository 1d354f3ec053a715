"""The sweeper process: ends expired bindings (with their farewell), runs the conversation checks of the platforms
installed for the configured channels (archived, closed, deleted conversations; entry-point group
`tether.conversation_checks`), and puts deliveries whose lease expired back to work. Several sweepers may run at
once: every step is atomic in Redis."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import redis

from adapters.protocol import ConversationCheck
from adapters.redact import clean_error
from adapters.registry import conversation_check_factory
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.service import SessionBindingService
from bindings.sweep import sweep_once
from workers.farewell import send_farewell

log = logging.getLogger("tether.sweeper")

# Outcomes of a conversation check worth a log line (the protocol's vocabulary; other counts are routine).
_ENDED_OUTCOMES = ("archived", "closed", "deleted")


def installed_checks(client: redis.Redis, config: TetherConfig) -> list[ConversationCheck]:
    """One check per configured channel that has one installed, built now (once per sweeper process). A check
    that cannot be built is logged and left out: one platform's bad configuration must not stop the sweeper."""
    checks: list[ConversationCheck] = []
    for channel in sorted(config.channels):
        factory = conversation_check_factory(channel)
        if factory is None:
            continue
        try:
            checks.append(factory(config, client))
        except Exception as exc:
            log.error("conversation check not started", extra={"channel": channel,
                                                                "error": clean_error(f"{type(exc).__name__}: {exc}")})
    return checks


class Sweeper:
    def __init__(self, client: redis.Redis, config: TetherConfig, *, clock: Clock = SYSTEM_CLOCK,
                 checks: Sequence[ConversationCheck] | None = None) -> None:
        self.client = client
        self.config = config
        self.clock = clock
        self.svc = SessionBindingService(client, config, clock=clock)
        self.checks = list(checks) if checks is not None else installed_checks(client, config)

    def run_once(self) -> dict[str, int]:
        now = self.clock.now_ms()
        ended = sweep_once(self.svc, now_ms=now)
        farewells = sum(1 for r in ended if send_farewell(self.client, r, now) is not None)
        from adapters.delivery.reaper import reap_expired_leases

        reaped = reap_expired_leases(self.client, self.config, now_ms=now)
        summary = {"bindingsEnded": len(ended), "farewells": farewells, "leasesReaped": reaped}
        gone = 0
        for check in self.checks:
            try:
                counts = check.run_once(lambda r: send_farewell(self.client, r, now))
            except Exception as exc:  # a platform outage: that check waits for the next pass, the others go on
                log.warning("conversation check failed; will retry", extra={
                    "channel": check.channel, "error": clean_error(f"{type(exc).__name__}: {exc}")})
                continue
            summary |= {f"{check.channel}.{k}": v for k, v in counts.items()}
            gone += sum(counts.get(k, 0) for k in _ENDED_OUTCOMES)
        if ended or reaped or gone:
            log.info("swept", extra=summary)
        return summary

    def close(self) -> None:
        for check in self.checks:
            check.close()

    def run_forever(self, stop: threading.Event, *, interval_s: float = 5.0) -> None:
        log.info("sweeper starting", extra={"intervalS": interval_s,
                                            "conversationChecks": [c.channel for c in self.checks]})
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                except redis.RedisError as exc:
                    # Redis restarting or unreachable: try again next round rather than crash-loop.
                    log.warning("sweep failed; will retry", extra={"error": str(exc)})
                stop.wait(interval_s)
        finally:
            self.close()
        log.info("sweeper stopped")
