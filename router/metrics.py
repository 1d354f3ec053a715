"""Prometheus counters of the router process (the default registry; `workers.metrics` serves them on /metrics).

System-wide totals live in Redis (`router.keys.counters()`); these count what this process did since it started.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

EVENTS = Counter(
    "tether_router_events",
    "Completion events handled by this router process, by outcome",
    ["outcome"],  # handed-off | duplicate | invalid-event | dead-letter
)
DECISIONS = Counter(
    "tether_router_decisions",
    "New routing decisions made by this router process, by mode and reason",
    ["mode", "reason"],
)

# `labels()` resolves its child under a lock on every call; the route job counts twice per event, so the children
# are kept here once resolved.
_event_children: dict[str, Any] = {}
_decision_children: dict[tuple[str, str], Any] = {}


def count_event(outcome: str) -> None:
    child = _event_children.get(outcome)
    if child is None:
        child = _event_children[outcome] = EVENTS.labels(outcome=outcome)
    child.inc()


def count_decision(mode: str, reason: str) -> None:
    child = _decision_children.get((mode, reason))
    if child is None:
        child = _decision_children[(mode, reason)] = DECISIONS.labels(mode=mode, reason=reason)
    child.inc()
