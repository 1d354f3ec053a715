"""`/v1/bindings`: the binding service over HTTP, with its errors named by wire path."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from bindings.service import SessionBindingService

CHILD = {"targetSessionKey": "agent:main:subagent:abc", "placement": "child", "label": "research",
         "conversation": {"channel": "console", "parentConversationId": "main"}}
CURRENT = {"targetSessionKey": "agent:main:subagent:def",
           "conversation": {"channel": "Console", "accountId": " Default ", "conversationId": "main/t-9"}}


def bound(api: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/v1/bindings", json=body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def test_child_bind_creates_the_thread_and_answers_the_record_in_camel_case(api: TestClient) -> None:
    record = bound(api, CHILD)

    assert record["conversation"]["parentConversationId"] == "main"
    assert record["conversation"]["conversationId"].startswith("main/thread-")
    assert (record["status"], record["targetKind"], record["label"]) == ("active", "subagent", "research")


def test_current_bind_is_normalised_and_resolvable(api: TestClient) -> None:
    record = bound(api, CURRENT)

    found = api.get("/v1/bindings/resolve", params={"channel": "console", "conversationId": "main/t-9"})

    assert found.status_code == 200
    assert found.json() == record
    assert record["conversation"]["channel"] == "console" and record["conversation"]["accountId"] == "default"


def test_resolve_of_an_unbound_conversation_is_404(api: TestClient) -> None:
    response = api.get("/v1/bindings/resolve", params={"channel": "console", "conversationId": "nobody"})

    assert response.status_code == 404
    assert response.json()["error"] == "not-found"


def test_list_touch_and_unbind(api: TestClient, api_ctx: Any) -> None:
    record = bound(api, CURRENT)
    session = CURRENT["targetSessionKey"]

    listed = api.get("/v1/bindings", params={"targetSessionKey": session}).json()
    touched = api.post(f"/v1/bindings/{record['bindingId']}/touch", json={"at": record["boundAt"] + 1000})
    ended = api.delete(f"/v1/bindings/{record['bindingId']}", params={"reason": "done"})
    again = api.delete(f"/v1/bindings/{record['bindingId']}")

    assert [r["bindingId"] for r in listed] == [record["bindingId"]]
    assert touched.status_code == 200 and touched.json()["lastActivityAt"] == record["boundAt"] + 1000
    assert ended.status_code == 200
    assert [(r["status"], r["endReason"]) for r in ended.json()["ended"]] == [("ended", "done")]
    assert again.status_code == 404
    assert SessionBindingService(api_ctx.client).list_by_session(session) == []


def test_touch_without_a_body_and_of_an_unknown_binding(api: TestClient) -> None:
    record = bound(api, CURRENT)

    assert api.post(f"/v1/bindings/{record['bindingId']}/touch").status_code == 200
    assert api.post("/v1/bindings/nosuchbinding/touch").status_code == 404


def test_unbind_a_whole_session(api: TestClient) -> None:
    bound(api, CHILD)
    bound(api, {**CHILD, "label": "second"})

    response = api.post("/v1/bindings/unbind", json={"targetSessionKey": CHILD["targetSessionKey"], "reason": "x"})
    nothing = api.post("/v1/bindings/unbind", json={"targetSessionKey": "agent:nobody"})

    assert response.status_code == 200 and len(response.json()["ended"]) == 2
    assert nothing.status_code == 200 and nothing.json() == {"ended": []}


def test_every_invalid_field_is_named_by_its_wire_path(api: TestClient) -> None:
    cases = [
        ({**CURRENT, "targetSessionKey": "  "}, "targetSessionKey"),
        ({**CURRENT, "conversation": {"channel": 7, "conversationId": "x"}}, "conversation.channel"),
        ({**CURRENT, "conversation": {"channel": "console"}}, "conversation.conversationId"),
        ({**CHILD, "conversation": {"channel": "console"}}, "conversation.parentConversationId"),
        ({**CURRENT, "ttlMs": -1}, "ttlMs"),
        ({**CURRENT, "placement": "sideways"}, "placement"),
        ({**CURRENT, "palcement": "child"}, "palcement"),
        ({"conversation": CURRENT["conversation"]}, "targetSessionKey"),
        ({**CHILD, "conversation": {"channel": "carrier-pigeon", "parentConversationId": "p"}},
         "conversation.channel"),
    ]
    for body, field in cases:
        response = api.post("/v1/bindings", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, (body, response.json())


def test_invalid_query_parameters_are_named(api: TestClient) -> None:
    missing = api.get("/v1/bindings/resolve", params={"channel": "console"})
    unknown = api.get("/v1/bindings", params={"targetSessionKey": "s", "sesion": "x"})
    twice = api.get("/v1/bindings", params=[("targetSessionKey", "a"), ("targetSessionKey", "b")])

    assert (missing.status_code, missing.json()["field"]) == (422, "conversationId")
    assert (unknown.status_code, unknown.json()["field"]) == (422, "sesion")
    assert (twice.status_code, twice.json()["field"]) == (422, "targetSessionKey")


def test_a_body_that_is_not_json_is_422(api: TestClient) -> None:
    response = api.post("/v1/bindings", content=b"{nope", headers={"Content-Type": "application/json"})

    assert (response.status_code, response.json()["field"]) == (422, "body")
