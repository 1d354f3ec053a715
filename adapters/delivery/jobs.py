"""The RQ job of every `deliver.<channel>` queue: `deliver(delivery)`.

The job gets everything from its process: the Redis client from the running job (`rq.get_current_job()`), the
configuration from a per-process cached `load_config()`, the adapter from `adapters.registry.load_adapter`, cached
per process and channel. It never raises for a delivery outcome (retry and dead letter are outcomes); it raises for
an invalid payload (the worker's exception handler dead-letters it) and when Redis itself is unreachable.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import msgspec
import redis
from rq import get_current_job

from adapters.delivery.engine import DeliveryEngine
from adapters.delivery.enqueue import enqueue_delivery
from adapters.payloads import Delivery
from adapters.protocol import Adapter
from adapters.registry import load_adapter
from bindings.config import TetherConfig
from bindings.errors import TetherError
from bindings.process_config import process_config

_adapters: dict[str, Adapter] = {}
_adapters_lock = threading.Lock()
_HOST = socket.gethostname()


class InvalidDeliveryPayload(TetherError):
    """The job's argument is not a delivery (written into tether's queue by something else)."""


def adapter_for(channel: str, config: TetherConfig, client: redis.Redis) -> Adapter:
    """This process's adapter for `channel`, built on first use."""
    with _adapters_lock:
        adapter = _adapters.get(channel)
        if adapter is None:
            adapter = load_adapter(channel, config, client)
            _adapters[channel] = adapter
        return adapter


def close_adapters() -> None:
    with _adapters_lock:
        for adapter in _adapters.values():
            adapter.close()
        _adapters.clear()


def decode_delivery(payload: object) -> Delivery:
    try:
        return msgspec.convert(payload, Delivery)
    except msgspec.ValidationError as exc:
        raise InvalidDeliveryPayload(f"not a delivery: {exc}") from None


def deliver(delivery: dict[str, Any]) -> dict[str, Any]:
    job = get_current_job()
    if job is None:
        raise RuntimeError("deliver() runs inside an RQ job")
    client: redis.Redis = job.connection
    config = process_config()
    parsed = decode_delivery(delivery)

    def schedule(channel: str, retry: Delivery, job_id: str, delay_s: float) -> None:
        enqueue_delivery(client, channel, retry, job_id=job_id, delay_s=delay_s)

    engine = DeliveryEngine(
        client, config,
        adapter_for=lambda channel: adapter_for(channel, config, client),
        owner=f"{_HOST}:{os.getpid()}:{job.id}",
        schedule=schedule,
    )
    outcome = engine.run(parsed)
    result: dict[str, Any] = msgspec.to_builtins(outcome)
    return result
