"""Bearer auth, JSON answers for every error, 503 when Redis is away, and nothing internal in any answer."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bindings.config import ApiConfig, TetherConfig
from bindings.connection import connect
from bindings.errors import ConfigError
from tests.workers.api.support import TOKEN, TOKEN_ENV
from workers.api import ApiContext, create_app
from workers.api.auth import BearerAuth
from workers.api.endpoint import Answer, Call, Endpoint, Reply
from workers.api.routes import ENDPOINTS

SECRET = "hunter2-secret-value"


def test_without_a_valid_token_every_v1_route_is_401(api_ctx: ApiContext) -> None:
    with TestClient(create_app(api_ctx)) as anonymous:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                        {"Authorization": "Bearer"}):
            for ep in ENDPOINTS:
                if not ep.auth:
                    continue
                path = ep.path.replace("{bindingId}", "b1").replace("{eventId}", "e1").replace("{letterId}", "l")
                response = anonymous.request(ep.method, path, headers=headers)
                assert response.status_code == 401, (ep.method, path, headers)
                assert response.json()["error"] == "unauthorized"
                assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_health_readiness_and_the_document_are_open(api_ctx: ApiContext) -> None:
    with TestClient(create_app(api_ctx)) as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        assert anonymous.get("/readyz").json() == {"status": "ready"}
        assert anonymous.get("/openapi.json").json()["openapi"] == "3.1.0"


def test_a_rotated_token_is_taken_at_once(api_ctx: ApiContext, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    ctx = ApiContext(client=api_ctx.client, config=api_ctx.config, redis_label="test",
                     auth=BearerAuth([f"file:{token_file}", f"env:{TOKEN_ENV}"]))
    with TestClient(create_app(ctx)) as client:
        assert client.get("/v1/status", headers={"Authorization": "Bearer first"}).status_code == 200
        token_file.write_text("second")
        assert client.get("/v1/status", headers={"Authorization": "Bearer first"}).status_code == 401
        assert client.get("/v1/status", headers={"Authorization": "Bearer second"}).status_code == 200
        monkeypatch.delenv(TOKEN_ENV)
        assert client.get("/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401


def test_a_literal_token_in_the_configuration_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"api\.tokens\[0\]") as err:
        BearerAuth([SECRET])
    assert SECRET not in str(err.value)


def test_an_open_api_listens_only_on_loopback() -> None:
    open_auth = BearerAuth([])
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        open_auth.check_exposure(host)
    for host in ("0.0.0.0", "192.0.2.10", "::"):
        with pytest.raises(ConfigError, match=r"api\.tokens"):
            open_auth.check_exposure(host)
    BearerAuth([f"env:{TOKEN_ENV}"]).check_exposure("0.0.0.0")


def test_unknown_routes_and_methods_answer_json(api: TestClient) -> None:
    missing = api.get("/v2/nothing")
    wrong_method = api.put("/v1/bindings")

    assert (missing.status_code, missing.json()["error"]) == (404, "not-found")
    assert (wrong_method.status_code, wrong_method.json()["error"]) == (405, "method-not-allowed")
    assert "POST" in wrong_method.headers["Allow"]


def _dead_redis_url() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_redis_unreachable_is_503_with_retry_after(api_ctx: ApiContext) -> None:
    ctx = ApiContext(client=connect(_dead_redis_url(), retries=0, connect_timeout_s=1), config=api_ctx.config,
                     redis_label="dead", auth=api_ctx.auth)
    with TestClient(create_app(ctx), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for response in (client.get("/v1/bindings/resolve", params={"channel": "c", "conversationId": "x"}),
                         client.post("/v1/events", json={"eventId": "e", "kind": "task_completion",
                                                         "content": {"text": "t"}}),
                         client.get("/v1/status"), client.get("/readyz")):
            assert response.status_code == 503, response.text
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["error"] == "unavailable"
        assert client.get("/healthz").status_code == 200


def test_an_internal_error_answers_500_without_trace_or_secret(api_ctx: ApiContext) -> None:
    def broken(call: Call) -> Reply:
        raise RuntimeError(f"token={SECRET} at line 42")

    table = [*ENDPOINTS, Endpoint("GET", "/v1/broken", broken, "broken", "test", answers={200: Answer("never")})]
    with TestClient(create_app(api_ctx, endpoints=table), headers={"Authorization": f"Bearer {TOKEN}"},
                    raise_server_exceptions=False) as client:
        response = client.get("/v1/broken")

    assert response.status_code == 500
    assert response.json() == {"error": "internal", "message": "internal error; the server logged the details",
                               "field": None}
    assert SECRET not in response.text and "Traceback" not in response.text


def test_no_answer_carries_a_token(api_ctx: ApiContext) -> None:
    with TestClient(create_app(api_ctx)) as client:
        texts = [client.get("/v1/status", headers={"Authorization": f"Bearer {TOKEN}x"}).text,
                 client.get("/openapi.json").text,
                 client.get("/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}).text]
    assert not any(TOKEN in t for t in texts)


def test_the_configured_defaults() -> None:
    api = TetherConfig().api
    assert api == ApiConfig(host="127.0.0.1", port=8787, tokens=[], max_request_bytes=1024 * 1024,
                            idempotency_hours=24.0)
