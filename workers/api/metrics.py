"""Prometheus counters of the HTTP API (served with the system gauges at `/metrics`)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

REQUESTS = Counter("tether_api_requests_total", "HTTP API requests answered", ["route", "method", "status"])
LATENCY = Histogram("tether_api_request_seconds", "HTTP API time to answer", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0))


_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # labels() takes a lock and builds a key each call


def observe(route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    pair = _children.get(key)
    if pair is None:
        pair = _children.setdefault(key, (REQUESTS.labels(route, method, str(status)), LATENCY.labels(route)))
    pair[0].inc()
    pair[1].observe(seconds)
