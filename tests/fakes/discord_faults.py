"""Programmable faults for the local Discord API: deterministic (the next N matching requests) or probabilistic
(a seeded random generator, so a chaos run is repeatable given the same request order).

Kinds, and when they act:
- ``latency``       before processing: sleep ``delay_s``, then go on (adds up with other rules; not terminal).
- ``disconnect``    before processing: close the connection without a response; nothing is stored.
- ``status``        ``stage="before"``: answer ``status`` (5xx) without processing. ``stage="after"``: process the
                    request (a message *is* stored) and answer ``status`` instead of the real response.
- ``rate_limit``    before processing: answer 429 with ``retry_after_s`` and ``scope`` (user, shared or global), and
                    block that bucket (or, for global, every bot request) until then, as Discord does.
- ``response_lost`` after processing: the request took effect (message stored), then the connection is closed
                    without a response. Acts only on requests whose real answer was 2xx.

A rule matches on ``method``, ``route`` (a route name such as ``message_create``) and ``path`` (a regular expression
searched in the API path, e.g. ``"^/channels/123/"``); unset means any. ``skip`` lets the first matching requests
through; ``times`` caps how many are hit (``None``: no cap; by default 1, or no cap for a rule with
``probability``). Control requests (``/_fake/...``) are never hit.
"""

from __future__ import annotations

import random
import re
from typing import Literal

import msgspec

from bindings.errors import InvalidInput

FaultKind = Literal["status", "latency", "response_lost", "disconnect", "rate_limit"]
FAULT_KINDS: frozenset[str] = frozenset({"status", "latency", "response_lost", "disconnect", "rate_limit"})

_AUTO = -1


class FaultRule(msgspec.Struct, kw_only=True):
    kind: FaultKind
    method: str | None = None
    route: str | None = None
    path: str | None = None
    status: int = 500
    stage: Literal["before", "after"] = "before"
    probability: float | None = None
    times: int | None = _AUTO
    skip: int = 0
    delay_s: float = 0.0
    retry_after_s: float = 1.0
    scope: Literal["user", "shared", "global"] = "user"
    id: int = 0
    matched: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise InvalidInput("kind", f"unknown fault kind {self.kind!r}")
        if self.times == _AUTO:
            self.times = None if self.probability is not None else 1
        if self.times is not None and self.times < 0:
            raise InvalidInput("times", f"must be >= 0 or None, got {self.times}")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise InvalidInput("probability", f"must be within [0, 1], got {self.probability}")
        if self.kind == "status" and not 400 <= self.status <= 599:
            raise InvalidInput("status", f"must be an HTTP error status, got {self.status}")
        if self.delay_s < 0:
            raise InvalidInput("delay_s", f"must be >= 0, got {self.delay_s}")
        if self.retry_after_s <= 0:
            raise InvalidInput("retry_after_s", f"must be > 0, got {self.retry_after_s}")
        if self.path is not None:
            re.compile(self.path)

    @property
    def is_pre(self) -> bool:
        return self.kind in ("latency", "disconnect", "rate_limit") or (
            self.kind == "status" and self.stage == "before"
        )

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def matches(self, method: str, route: str | None, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        if self.route is not None and self.route != route:
            return False
        return self.path is None or re.search(self.path, path) is not None


class FaultPlan:
    """The active rules, in the order they were added. Not thread-safe: the caller holds the fake's lock."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, rule: FaultRule) -> FaultRule:
        rule.id = self._next_id
        self._next_id += 1
        self._rules.append(rule)
        return rule

    def clear(self) -> None:
        self._rules.clear()

    def reseed(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def rules(self) -> list[FaultRule]:
        return [msgspec.structs.replace(r) for r in self._rules]

    def _fires(self, rule: FaultRule, method: str, route: str | None, path: str) -> bool:
        if rule.exhausted or not rule.matches(method, route, path):
            return False
        rule.matched += 1
        if rule.matched <= rule.skip:
            return False
        if rule.probability is not None and self._rng.random() >= rule.probability:
            return False
        rule.fired += 1
        return True

    def before(self, method: str, route: str | None, path: str) -> tuple[float, FaultRule | None]:
        """Total latency to add and the first terminal rule that fires before processing, if any."""
        delay_s = 0.0
        terminal: FaultRule | None = None
        for rule in self._rules:
            if not rule.is_pre:
                continue
            if rule.kind != "latency" and terminal is not None:
                continue
            if self._fires(rule, method, route, path):
                if rule.kind == "latency":
                    delay_s += rule.delay_s
                else:
                    terminal = rule
        return delay_s, terminal

    def after(self, method: str, route: str | None, path: str) -> FaultRule | None:
        """The first rule that spoils the response of a processed, successful request, if any."""
        for rule in self._rules:
            if not rule.is_pre and self._fires(rule, method, route, path):
                return rule
        return None
