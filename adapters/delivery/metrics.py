"""Delivery counters: a Redis hash (system-wide, read by `tether status`) and Prometheus metrics of this process."""

from __future__ import annotations

import logging

import redis
from prometheus_client import Counter, Histogram

from adapters.delivery import keys
from bindings.replies import as_text

log = logging.getLogger("tether.delivery")

DELIVERIES = Counter("tether_deliveries_total", "Delivery outcomes by channel and result", ["channel", "result"])
LATENCY = Histogram(
    "tether_delivery_latency_seconds", "From the event's createdAt to the delivery's last chunk", ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)


def record_outcome(client: redis.Redis, channel: str, result: str, *, latency_s: float | None = None) -> None:
    DELIVERIES.labels(channel, result).inc()
    if latency_s is not None and latency_s >= 0:
        LATENCY.labels(channel).observe(latency_s)
    try:
        client.hincrby(keys.delivery_stats(), f"{channel}:{result}", 1)
    except redis.RedisError as exc:  # a counter must never fail a delivery
        log.warning("could not count delivery outcome", extra={"error": str(exc)})


def stats(client: redis.Redis) -> dict[str, int]:
    """"{channel}:{result}" -> count, since the Redis data was created."""
    raw: dict[bytes, bytes] = client.hgetall(keys.delivery_stats())  # type: ignore[assignment]
    return {as_text(k): int(v) for k, v in raw.items()}
