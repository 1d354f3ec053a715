"""Prometheus counters of the Telegram adapter (served by the worker process's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

RESPONSES = Counter(
    "tether_telegram_responses_total",
    "Bot API responses by method and HTTP status (0: no response: timeout or dropped connection)",
    ["method", "status"],
)
