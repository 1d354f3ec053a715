"""A local Slack Web API for tests: a real HTTP server on 127.0.0.1, one OS-chosen port (`slack_core` answers).

In a test (or through the `fake_slack` fixture of `tests.fakes.fixtures`)::

    with FakeSlack() as fake:
        channel = fake.add_channel("general")
        root = fake.post(channel.id, "a thread to bind")
        WebClient(base_url=fake.base_url).chat_postMessage(token=fake.token, channel=channel.id, text="hi",
                                                           thread_ts=root.ts)
        assert [m.text for m in fake.messages(channel.id, thread_ts=root.ts)] == ["hi"]

As its own process (multi-process tests, chaos, benchmarks), read and controlled over HTTP with
`tests.fakes.slack_remote.FakeSlackProcess` / `FakeSlackControl`::

    python -m tests.fakes.slack_api --state-dir DIR [--token T] [--channels 40] [--post-rate 1 --post-burst 4] ...

It writes ``DIR/server.json`` (port, URLs, pid, seeded channel ids) once it listens, and ``DIR/state.json`` (the
final `Snapshot`) when stopped with SIGTERM or SIGINT.

URLs: the API under ``/api/<method>`` (GET or POST); control under ``/_fake`` (no auth, never limited or faulted):

- ``GET /_fake/state``              the `Snapshot`; ``?requests=0`` leaves the request log out
- ``GET /_fake/messages``           ``?channel=``, ``?thread_ts=`` → messages oldest first
- ``POST /_fake/channels``          {name, channel_id, is_private, is_member, is_archived} → Channel
- ``POST /_fake/channels/ID``       {is_archived, is_member, deleted, name} → Channel
- ``POST /_fake/post``              {channel_id, text, thread_ts} → Message (a person posts)
- ``POST /_fake/delete``            {channel_id, ts}: a person deletes a message
- ``POST /_fake/token``             {token, scopes}: accept only this token; ``/_fake/tokens``: accept it too;
                                    ``/_fake/revoke`` {token}
- ``POST /_fake/faults``            FaultRule fields → FaultRule; ``DELETE /_fake/faults``
- ``POST /_fake/config``            keyword arguments of `LocalSlack.configure`
- ``POST /_fake/reset``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import msgspec

from tests.fakes.slack_core import Answer, LocalSlack

API_PREFIX = "/api/"
CONTROL_PREFIX = "/_fake"


class FakeSlack(LocalSlack):
    """`LocalSlack` served over HTTP in a background thread."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        super().__init__(**options)
        self.token = next(iter(self.tokens))
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is None:
            self._server = _Server((self._host, self._port), _Handler, self)
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                            name="fake-slack", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the adapter uses as `channels.slack.apiBase`."""
        return f"{self.root_url}{API_PREFIX}"

    def control(self, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
        try:
            data: dict[str, Any] = json.loads(body) if body.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("body: expected a JSON object")
            return 200, self._control(method, path.strip("/"), parse_qs(query), data)
        except (ValueError, TypeError, msgspec.ValidationError) as error:
            return 400, {"error": str(error)}
        except LookupError as error:
            return 404, {"error": str(error)}

    def _control(self, method: str, path: str, query: dict[str, list[str]], data: dict[str, Any]) -> Any:
        def q(name: str) -> str | None:
            return query.get(name, [None])[-1]

        b = msgspec.to_builtins
        if method == "GET" and path == "state":
            return b(self.snapshot(include_requests=q("requests") not in ("0", "false")))
        if method == "GET" and path == "messages":
            return b(self.messages(q("channel"), thread_ts=q("thread_ts")))
        if method == "POST" and path == "channels":
            return b(self.add_channel(**data))
        if method == "POST" and path.startswith("channels/"):
            return b(self.set_channel(path.split("/", 1)[1], **data))
        if method == "POST" and path == "post":
            return b(self.post(data["channel_id"], data["text"], thread_ts=data.get("thread_ts")))
        if method == "POST" and path == "delete":
            self.delete_message(data["channel_id"], data["ts"])
            return {}
        if method == "POST" and path in ("token", "tokens"):
            (self.set_token if path == "token" else self.add_token)(data["token"], data.get("scopes"))
            return {}
        if method == "POST" and path == "revoke":
            self.revoke_token(data["token"])
            return {}
        if method == "POST" and path == "faults":
            return b(self.inject(data.pop("kind"), **data))
        if method == "DELETE" and path == "faults":
            self.clear_faults()
            return {}
        if method == "POST" and path == "config":
            return self.configure(**data)
        if method == "POST" and path == "reset":
            self.reset()
            return {}
        raise LookupError(f"no control endpoint {method} {CONTROL_PREFIX}/{path}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # several worker processes connect at once

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeSlack) -> None:
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._open_lock:
            (self._open.add if alive else self._open.discard)(conn)

    def close_connections(self) -> None:
        with self._open_lock:
            conns, self._open = self._open, set()
        for conn in conns:
            _shutdown(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that hung up, or a connection dropped on purpose
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        fake = self.server.fake
        if url.path.startswith(CONTROL_PREFIX + "/"):
            status, payload = fake.control(self.command, url.path[len(CONTROL_PREFIX):], url.query, body)
            self._send(Answer(status, json.dumps(payload).encode(), [("Content-Type", "application/json")]))
            return
        if not url.path.startswith(API_PREFIX):
            self._send(Answer(404, b"<html>Not Found</html>", [("Content-Type", "text/html")]))
            return
        answer = fake.handle(url.path[len(API_PREFIX):], query=url.query, body=body,
                             content_type=self.headers.get("Content-Type", ""),
                             authorization=self.headers.get("Authorization"))
        if answer.delay_s > 0:
            time.sleep(answer.delay_s)  # a server that does not answer in time (the client's timeout is shorter)
        if answer.drop:
            self.close_connection = True
            _shutdown(self.connection)
            return
        self._send(answer)

    def _send(self, answer: Answer) -> None:
        lines = [f"{self.protocol_version} {answer.status} {HTTPStatus(answer.status).phrase}",
                 f"Date: {self.date_time_string()}", "Server: fake-slack",
                 *(f"{name}: {value}" for name, value in answer.headers), f"Content-Length: {len(answer.body)}"]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + answer.body)


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


# ---------------------------------------------------------------------- running as its own process


def _write_json_atomic(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(json.dumps(payload).encode())
    os.replace(tmp, path)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.fakes.slack_api", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--state-dir", type=Path)
    p.add_argument("--token", default="xoxb-test-token")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--channels", type=int, default=0, help="seed this many channels, each with a thread root")
    p.add_argument("--post-rate", type=float, default=1.0, help="chat.postMessage per channel per second")
    p.add_argument("--post-burst", type=int, default=4)
    p.add_argument("--fractional-retry-after", action="store_true")
    p.add_argument("--fault", action="append", default=[], metavar="JSON", help="a FaultRule as JSON; repeatable")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    fake = FakeSlack(host=args.host, port=args.port, token=args.token, seed=args.seed,
                     post_per_channel=(args.post_rate, args.post_burst),
                     fractional_retry_after=args.fractional_retry_after)
    for raw in args.fault:
        rule = json.loads(raw)
        fake.inject(rule.pop("kind"), **rule)
    channels = []
    for i in range(args.channels):
        channel = fake.add_channel(f"channel-{i}")
        channels.append({"id": channel.id, "root_ts": fake.post(channel.id, f"thread {i}").ts})
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fake.start()
    info = {"pid": os.getpid(), "port": fake.port, "root_url": fake.root_url, "base_url": fake.base_url,
            "token": fake.token, "channels": channels}
    if args.state_dir is not None:
        args.state_dir.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(args.state_dir / "server.json", info)
    print(json.dumps(info), flush=True)
    while not stop.wait(0.5):
        pass
    fake.stop()
    if args.state_dir is not None:
        _write_json_atomic(args.state_dir / "state.json", msgspec.to_builtins(fake.snapshot()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
