"""`/v1/events`: enqueue as `tether enqueue` does (each event validated on its own), explain as `tether explain`."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from starlette.testclient import TestClient

from adapters.delivery.rqwire import COMPLETIONS_QUEUE, tether_queue
from workers.api import ApiContext
from workers.queries.explain import explain_event


def event(event_id: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"eventId": event_id, "kind": "task_completion", "targetSessionKey": "agent:main:s",
                            "requester": {"channel": "console", "conversationId": "main"},
                            "content": {"text": "Task complete"}}
    return {**base, **changes}


def queued_events(ctx: ApiContext) -> list[Any]:
    queue = tether_queue(COMPLETIONS_QUEUE, ctx.client)
    return [job.args[0] for job in queue.get_jobs()]


def test_one_event_is_enqueued_with_its_unknown_fields(api: TestClient, api_ctx: ApiContext) -> None:
    response = api.post("/v1/events", json=event("e1", futureField={"x": 1}))

    assert response.status_code == 202
    body = response.json()
    assert (body["enqueued"], body["rejected"], len(body["jobIds"]), body["errors"]) == (1, 0, 1, [])
    assert queued_events(api_ctx) == [event("e1", futureField={"x": 1})]


def test_an_array_enqueues_the_valid_events_and_names_each_invalid_one(api: TestClient,
                                                                     api_ctx: ApiContext) -> None:
    batch = [event("e1"), event("e2", content={"text": ""}), event("e3"), event("e4", requester={"channel": 5})]

    response = api.post("/v1/events", json=batch)

    assert response.status_code == 422
    body = response.json()
    assert (body["enqueued"], body["rejected"]) == (2, 2)
    assert [(e["index"], e["item"], e["field"]) for e in body["errors"]] == [
        (1, 2, "content.text"), (3, 4, "requester.channel")]
    assert [e["eventId"] for e in queued_events(api_ctx)] == ["e1", "e3"]


def test_an_event_over_max_event_bytes_refuses_the_request(api: TestClient, api_ctx: ApiContext) -> None:
    limit = api_ctx.config.router.max_event_bytes
    big = event("big", content={"text": "x" * limit})

    response = api.post("/v1/events", json=[event("ok"), big])

    assert response.status_code == 413
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(1, "event")]
    assert queued_events(api_ctx) == []


def test_a_body_over_max_request_bytes_is_413(api: TestClient, api_ctx: ApiContext) -> None:
    limit = api_ctx.config.api.max_request_bytes
    events = [event(f"e{i}", content={"text": "y" * 60_000}) for i in range(limit // 60_000 + 1)]

    response = api.post("/v1/events", content=json.dumps(events).encode())

    assert response.status_code == 413
    assert response.json()["error"] == "too-large"
    assert queued_events(api_ctx) == []


def test_not_json_and_empty_bodies_are_422(api: TestClient) -> None:
    for content in (b"", b"[{", b"nope"):
        response = api.post("/v1/events", content=content)
        assert (response.status_code, response.json()["field"]) == (422, "body"), content


def test_explain_answers_what_tether_explain_prints(api: TestClient, api_ctx: ApiContext) -> None:
    from router.jobs import route

    job_id = api.post("/v1/events", json=event("e1")).json()["jobIds"][0]
    route(api_ctx.client, api_ctx.config, queued_events(api_ctx)[0], job_id=job_id)  # the router's job

    response = api.get("/v1/events/e1")

    assert response.status_code == 200
    assert response.json() == msgspec.to_builtins(explain_event(api_ctx.client, "e1"))
    assert response.json()["decision"]["reason"] == "no-active-binding"


def test_explain_of_an_unknown_event_is_404_and_ids_may_hold_slashes(api: TestClient) -> None:
    assert api.get("/v1/events/never:seen").status_code == 404
    assert api.get("/v1/events/a%2Fb").json()["error"] == "not-found"
