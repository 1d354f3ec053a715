"""Prometheus counters of the router process (the default registry; `workers.metrics` serves them on /metrics).

System-wide totals live in Redis (`router.keys.counters()`); these count what this process did since it started.
"""

from __future__ import annotations

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
