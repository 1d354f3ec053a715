"""Prometheus counters of the HTTP API (served with the system gauges at `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("tether_api_requests_total", "HTTP API requests answered", ["route", "method", "status"])
LATENCY = Histogram("tether_api_request_seconds", "HTTP API time to answer", ["route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0))


def observe(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route).observe(seconds)
