"""The README's receiver example, run exactly as printed: taken from README.md, served over HTTP, fed by the real
adapter. If the example stops verifying or deduping tether's requests, this fails."""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.adapters.webhook.conftest import WebhookWorld, chunk_of, delivery

README = Path(__file__).resolve().parents[3] / "README.md"
MARKER = "<!-- webhook-receiver-example:"


def readme_example() -> str:
    text = README.read_text()
    found = re.search(re.escape(MARKER) + r".*?-->\n```python\n(.*?)```", text, re.S)
    assert found, "the README's webhook receiver example is missing"
    return found.group(1)


def test_the_example_is_about_ten_lines() -> None:
    code = [line for line in readme_example().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(code) <= 16


@pytest.fixture
def example_server(world: WebhookWorld, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[Any]]]:
    monkeypatch.setenv("TETHER_WEBHOOK_SECRET", world.secret)
    posted: list[Any] = []
    namespace: dict[str, Any] = {"post_to_chat": lambda conversation, text: posted.append((conversation, text))}
    exec(compile(readme_example(), "README.md (webhook receiver example)", "exec"), namespace)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = namespace["handle"](body, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/tether"
    world.point_at(url)
    yield url, posted
    server.shutdown()
    server.server_close()


def test_the_readme_receiver_verifies_tethers_requests_and_drops_a_resend(
        world: WebhookWorld, example_server: tuple[str, list[Any]]) -> None:
    _, posted = example_server
    adapter = world.adapter()
    chunk = chunk_of(delivery("hello from tether", conversation="room-7"))
    first = adapter.send(chunk)
    again = adapter.send(chunk)  # a resend after a lost answer: same webhook-id
    assert first == again == f"msg_{chunk.idempotency_key}"
    assert posted == [("room-7", "hello from tether")]


def test_the_readme_receiver_rejects_an_altered_request(world: WebhookWorld,
                                                        example_server: tuple[str, list[Any]]) -> None:
    url, posted = example_server
    captured: dict[str, Any] = {}

    def capture(request: httpx.Request) -> httpx.Response:
        captured["body"], captured["headers"] = request.content, dict(request.headers)
        return httpx.Response(200)

    sender = world.sender()
    sender.http = httpx.Client(transport=httpx.MockTransport(capture))  # only to obtain a genuinely signed request
    from adapters.webhook.adapter import WebhookAdapter

    WebhookAdapter(world.config, world.redis, sender=sender).send(chunk_of(delivery("pay 10")))
    body: bytes = captured["body"]
    headers = {k: v for k, v in captured["headers"].items() if k.startswith("webhook-")}
    with httpx.Client() as http:
        altered = json.loads(body)
        altered["data"]["text"] = "pay 99"
        assert http.post(url, content=json.dumps(altered).encode(), headers=headers).status_code == 401
        later = dict(headers, **{"webhook-timestamp": str(int(headers["webhook-timestamp"]) + 60)})
        assert http.post(url, content=body, headers=later).status_code == 401
        assert http.post(url, content=body, headers=headers).status_code == 200
    assert posted == [("room-1", "pay 10")]
