"""Prometheus `/metrics` for a worker process.

Counters and histograms live beside the code that moves them (`router/metrics.py`, `adapters/metrics.py`) in the
default registry of the process; the gauges here are read from Redis at scrape time, so every process reports the
same system-wide figures (queue depths, dead letters, active bindings) without keeping them in sync.
The port is `$PORT` (as honcho/foreman assign it), else `metrics.port` of the configuration; none → no server.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import redis
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from adapters.delivery.deadletter import DeadLetterQueue
from bindings.config import TetherConfig
from workers.queues import tether_queue_names

log = logging.getLogger("tether.metrics")


class RedisStateCollector(Collector):
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            depth = GaugeMetricFamily("tether_queue_depth", "Jobs waiting in a tether queue", labels=["queue"])
            from adapters.delivery.rqwire import tether_queue

            for name in tether_queue_names(self.client):
                depth.add_metric([name], tether_queue(name, self.client).count)
            yield depth
            yield GaugeMetricFamily("tether_dead_letters", "Dead letters waiting for replay or purge",
                                    value=DeadLetterQueue(self.client).count())
            from bindings.service import SessionBindingService

            yield GaugeMetricFamily("tether_active_bindings", "Active session bindings",
                                    value=SessionBindingService(self.client).count_active())
        except redis.RedisError as exc:
            log.warning("metrics: Redis unavailable", extra={"error": str(exc)})


def metrics_port(config: TetherConfig, env: dict[str, str] | None = None) -> int | None:
    env = dict(os.environ) if env is None else env
    if env.get("PORT"):
        return int(env["PORT"])
    return config.metrics.port


def start_metrics(client: redis.Redis, config: TetherConfig) -> int | None:
    port = metrics_port(config)
    if port is None:
        return None
    REGISTRY.register(RedisStateCollector(client))
    server, _ = start_http_server(port)
    port = int(server.server_port)  # the one the OS chose, when asked for port 0
    log.info("metrics listening", extra={"port": port, "path": "/metrics"})
    return port
