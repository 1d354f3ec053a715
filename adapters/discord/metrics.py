"""Prometheus counters of the Discord adapter (served by the worker process's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

RESPONSES = Counter(
    "tether_discord_responses_total",
    "Discord API responses by route and HTTP status (0: no response: timeout or dropped connection)",
    ["route", "status"],
)
