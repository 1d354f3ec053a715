"""`/v1/events`: enqueue completion events (one or an array) and explain where one went."""

from __future__ import annotations

import msgspec

from router.enqueue import enqueue_prepared
from router.event import CompletionEvent
from workers.api.endpoint import Answer, Call, Endpoint, Reply, problem_answer
from workers.api.errors import ApiError, invalid, not_found
from workers.queries.events import EnqueueReport, Rejected, prepare_each
from workers.queries.explain import Explanation, explain_event

_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_RAW_ONE = msgspec.json.Decoder(msgspec.Raw)


def _split(data: bytes) -> list[bytes]:
    """The events' exact bytes: the router keeps each event as given, unknown fields included."""
    text = data.strip()
    if not text:
        raise invalid("body", "a JSON event or array of events is required")
    try:
        if text.startswith(b"["):
            return [bytes(raw) for raw in _RAW_LIST.decode(text)]
        return [bytes(_RAW_ONE.decode(text))]
    except msgspec.DecodeError as exc:
        raise invalid("body", f"not valid JSON: {exc}") from None


def enqueue(call: Call) -> Reply:
    raws = _split(call.body)
    limit = call.ctx.max_event_bytes
    oversized = [Rejected(line=None, item=i + 1 if len(raws) > 1 else None, field="event", index=i,
                          error=f"event is {len(raw)} bytes, over the limit of {limit} (router.maxEventBytes)")
                 for i, raw in enumerate(raws) if len(raw) > limit]
    if oversized:
        report = EnqueueReport(enqueued=0, rejected=len(oversized), job_ids=[], errors=oversized)
        return Reply(413, report)
    good, bad = prepare_each(raws, max_event_bytes=limit)
    # No retries here: during an outage the caller gets a quick 503 (and retries itself) rather than a hung request.
    job_ids = enqueue_prepared(call.ctx.client, good, retry_budget_s=0) if good else []
    report = EnqueueReport(enqueued=len(job_ids), rejected=len(bad), job_ids=job_ids, errors=bad)
    return Reply(422 if bad else 202, report)


def explain(call: Call) -> Reply:
    found = explain_event(call.ctx.client, call.path["eventId"])
    if not found.found:
        raise not_found("unknown event: never routed, or past the dedupe window")
    return Reply(200, found)


_AUTH = problem_answer(401, "missing or invalid bearer token")
_DOWN = problem_answer(503, "Redis unreachable: retry after Retry-After")

ENDPOINTS = [
    Endpoint(
        "POST", "/v1/events", enqueue, "Enqueue completion events", "events",
        body=CompletionEvent | list[CompletionEvent], raw_body=True, operation_id="enqueueEvents",
        description="One event or an array. Each is validated on its own: the valid ones are enqueued (202 when "
                    "all are), each invalid one is reported with its `index` and field path (422, the valid ones "
                    "still enqueued). An event over `router.maxEventBytes` refuses the whole request (413, nothing "
                    "enqueued). Unknown fields are kept and carried with the event.",
        answers={202: Answer("every event enqueued", EnqueueReport),
                 401: _AUTH,
                 413: Answer("an event over router.maxEventBytes (nothing enqueued), or the body over "
                             "api.maxRequestBytes", (EnqueueReport, ApiError)),
                 422: Answer("some events invalid (listed in errors; the valid ones were enqueued), or the body "
                             "is not JSON", (EnqueueReport, ApiError)),
                 503: _DOWN},
    ),
    Endpoint(
        "GET", "/v1/events/{eventId}", explain, "Why an event went where it went", "events",
        path_converters={"eventId": "path"}, operation_id="explainEvent",
        answers={200: Answer("the decision, its reason, the deliveries and dead letters", Explanation),
                 401: _AUTH, 404: problem_answer(404, "unknown event (never routed, or past the dedupe window)"),
                 503: _DOWN},
    ),
]
