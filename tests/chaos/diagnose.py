"""Where is an event that never became a terminal delivery? Read-only: looks at RQ's keys directly, because RQ's
registry accessors (`get_job_ids`, `count`) run the abandoned-job cleanup and would change what they report."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from adapters.delivery import keys as adapter_keys
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, tether_queue
from router.store import load_decision

ROUTE_PREFIX = "route "  # router.enqueue gives every route job the description "route <eventId>"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def route_job_locations(client: redis.Redis) -> dict[str, list[str]]:
    """eventId → where its route jobs are: queued, intermediate (dequeued by a worker that never started it),
    started, scheduled (a retry), failed."""
    queue = tether_queue(COMPLETIONS_QUEUE, client)
    def members(raw: Any) -> list[str]:
        return [_text(m) for m in raw]

    places: dict[str, list[str]] = {
        "queued": members(client.lrange(queue.key, 0, -1)),
        "intermediate": members(client.lrange(queue.intermediate_queue_key, 0, -1)),
        # started-registry members are "<job id>:<execution id>"
        "started": [m.split(":")[0] for m in members(client.zrange(queue.started_job_registry.key, 0, -1))],
        "scheduled": members(client.zrange(queue.scheduled_job_registry.key, 0, -1)),
        "failed": members(client.zrange(queue.failed_job_registry.key, 0, -1)),
    }
    out: dict[str, list[str]] = {}
    for place, job_ids in places.items():
        for job_id in job_ids:
            fields = client.hmget(f"{queue.job_class.redis_job_namespace_prefix}{job_id}", ["description", "status"])
            description, status = members(fields)
            if description.startswith(ROUTE_PREFIX):
                out.setdefault(description[len(ROUTE_PREFIX):], []).append(
                    f"route job {job_id} in {place} (status {status or 'gone'})")
    return out


def locate(client: redis.Redis, pending: Iterable[tuple[str, str]]) -> dict[str, str]:
    """For each (eventId, deliveryId) not terminal: one line saying where it is stuck."""
    jobs = route_job_locations(client)
    out: dict[str, str] = {}
    for event_id, delivery_id in pending:
        decision = load_decision(client, event_id)
        status = _text(client.hget(adapter_keys.delivery(delivery_id), "status"))
        if decision is not None:
            out[event_id] = (f"routed ({decision.mode}/{decision.reason}, deliveries {decision.delivery_ids}); "
                             f"ledger {status or 'missing'}")
        else:
            where = "; ".join(jobs.get(event_id, [])) or "no route job found"
            out[event_id] = f"not routed: {where}"
    return out
