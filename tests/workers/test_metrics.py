"""Prometheus gauges read Redis at scrape time, so every process reports the same system-wide figures."""

from __future__ import annotations

import redis
from prometheus_client import CollectorRegistry, generate_latest

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue
from bindings.config import parse_config
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from router import enqueue_completion
from workers.metrics import RedisStateCollector, metrics_port


def test_gauges_report_queue_depth_dead_letters_and_active_bindings(real_redis: redis.Redis) -> None:
    SessionBindingService(real_redis).bind(target_session_key="s", target_kind="subagent",
                                           conversation=ConversationRef(channel="discord", conversation_id="t"))
    enqueue_completion(real_redis, {"eventId": "e1", "kind": "task_completion", "content": {"text": "hi"}})
    DeadLetterQueue(real_redis).put(DeadLetter(id="x", event_id="e", delivery_id=None, reason="no-destination",
                                               attempts=0, last_error=None, destination=None, dead_at=1,
                                               source="router"))
    registry = CollectorRegistry()
    registry.register(RedisStateCollector(real_redis))
    text = generate_latest(registry).decode()
    assert 'tether_queue_depth{queue="completions"} 1.0' in text
    assert "tether_dead_letters 1.0" in text
    assert "tether_active_bindings 1.0" in text


def test_port_comes_from_port_env_then_config() -> None:
    config = parse_config("[metrics]\nport = 9100\n")
    assert metrics_port(config, {"PORT": "5100"}) == 5100
    assert metrics_port(config, {}) == 9100
    assert metrics_port(parse_config(""), {}) is None
