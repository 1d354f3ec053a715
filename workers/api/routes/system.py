"""`/v1/status`, `/healthz` (the process answers), `/readyz` (Redis answers and holds tether's scripts),
`/metrics` (Prometheus)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from bindings.scripts import SCRIPT_NAMES
from workers.api.endpoint import Answer, Call, Endpoint, Reply, problem_answer
from workers.api.errors import unavailable
from workers.api.wire import Health
from workers.queries.status import StatusSummary, status_summary


def status(call: Call) -> Reply:
    return Reply(200, status_summary(call.ctx.client, call.ctx.redis_label))


def healthz(call: Call) -> Reply:
    return Reply(200, Health(status="ok"))


def readyz(call: Call) -> Reply:
    """Redis answers and has the binding scripts (loaded again here after a Redis restart emptied its cache)."""
    scripts = call.ctx.bindings.scripts
    try:
        for name in SCRIPT_NAMES:
            scripts.load(name)
    except Exception:
        raise unavailable("Redis is unreachable or refuses tether's scripts") from None
    return Reply(200, Health(status="ready"))


def metrics(call: Call) -> Reply:
    return Reply(200, generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


ENDPOINTS = [
    Endpoint(
        "GET", "/v1/status", status, "Queues, workers, dead letters, bindings", "system", operation_id="status",
        answers={200: Answer("as `tether status --json`", StatusSummary),
                 401: problem_answer(401, "missing or invalid bearer token"),
                 503: problem_answer(503, "Redis unreachable: retry after Retry-After")},
    ),
    Endpoint(
        "GET", "/healthz", healthz, "The process is up", "system", auth=False, operation_id="healthz",
        answers={200: Answer("up", Health)},
    ),
    Endpoint(
        "GET", "/readyz", readyz, "Redis is reachable and holds tether's scripts", "system", auth=False,
        operation_id="readyz",
        answers={200: Answer("ready", Health), 503: problem_answer(503, "not ready: retry after Retry-After")},
    ),
    Endpoint(
        "GET", "/metrics", metrics, "Prometheus metrics", "system", operation_id="metrics",
        answers={200: Answer("Prometheus text exposition", str, media_type="text/plain"),
                 401: problem_answer(401, "missing or invalid bearer token")},
    ),
]
