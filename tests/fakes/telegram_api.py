"""A local Telegram Bot API for tests: a real HTTP server on 127.0.0.1, one OS-chosen port.

In a test (or through the `fake_telegram` fixture of `tests.fakes.fixtures`)::

    with FakeTelegram() as fake:
        forum = fake.add_chat("supergroup", is_forum=True)
        httpx.post(f"{fake.base_url}/bot{fake.tokens[0]}/sendMessage", json={"chat_id": forum.id, "text": "hi"})
        assert [m.text for m in fake.messages(forum.id)] == ["hi"]

As its own process (chaos tests, benchmarks), controlled and read over HTTP with
`tests.fakes.telegram_remote.FakeTelegramProcess` / `FakeTelegramControl`::

    python -m tests.fakes.telegram_api --state-dir DIR [--token T] [--seed N] [--per-group 20] ...

It writes ``DIR/server.json`` (port, URLs, pid) once it listens, and ``DIR/state.json`` (the final `Snapshot`) when
stopped with SIGTERM or SIGINT.

URLs: the API under ``/bot<token>/<method>`` (what `channels.telegram.apiBase` points at is the root URL); control
under ``/_fake/call`` (no auth, never limited, faulted or logged): POST {"name": <a `LocalTelegram` control or
reading method>, "kwargs": {...}} → its result as JSON, 400/404 with {"error"} when wrong.
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
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import msgspec

from tests.fakes.telegram_core import Answer, LocalTelegram
from tests.fakes.telegram_model import Limits

CONTROL_PATH = "/_fake/call"
CONTROL_METHODS = frozenset({
    "add_chat", "set_chat", "add_topic", "set_topic", "migrate", "set_token", "set_limits", "inject",
    "clear_faults", "reset", "chat", "messages", "requests", "snapshot", "now_ms",
})


class FakeTelegram(LocalTelegram):
    """`LocalTelegram` served over HTTP in a background thread."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        super().__init__(**options)
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is None:
            self._server = _Server((self._host, self._port), _Handler, self)
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                            name="fake-telegram", daemon=True)
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
            raise RuntimeError("FakeTelegram is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What the adapter uses as `channels.telegram.apiBase`."""
        return f"http://{self._host}:{self.port}"

    def control(self, body: bytes) -> tuple[int, Any]:
        try:
            data = json.loads(body or b"{}")
            name = data.get("name")
            if name not in CONTROL_METHODS:
                raise LookupError(f"no control method {name!r}")
            result = getattr(self, name)(**(data.get("kwargs") or {}))
            return 200, msgspec.to_builtins(result)
        except LookupError as exc:
            return 404, {"error": str(exc)}
        except (ValueError, TypeError, AttributeError, msgspec.ValidationError) as exc:
            return 400, {"error": str(exc)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # several worker processes connect at once

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeTelegram) -> None:
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

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        fake = self.server.fake
        if url.path == CONTROL_PATH:
            status, payload = fake.control(body)
            self._send(status, payload)
            return
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        answer: Answer = fake.handle(parts[0][3:], parts[1], url.query, self.headers.get("Content-Type", ""), body)
        if answer.status == 0:
            self.close_connection = True
            _shutdown(self.connection)
            return
        self._send(answer.status, answer.body)

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        head = (f"{self.protocol_version} {status} {HTTPStatus(status).phrase}\r\nServer: fake-telegram\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        self.wfile.write(head.encode("latin-1") + data)


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


# ---------------------------------------------------------------------- running as its own process


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.fakes.telegram_api", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--token", default="123456:test-bot-token")
    p.add_argument("--seed", type=int, default=0)
    defaults = Limits()
    p.add_argument("--per-chat-per-s", type=float, default=defaults.per_chat_per_s)
    p.add_argument("--per-chat-burst", type=int, default=defaults.per_chat_burst)
    p.add_argument("--per-group", type=int, default=defaults.per_group)
    p.add_argument("--per-group-window-s", type=float, default=defaults.per_group_window_s)
    p.add_argument("--global-limit", type=int, default=defaults.global_limit)
    p.add_argument("--global-window-s", type=float, default=defaults.global_window_s)
    p.add_argument("--fractional-retry-after", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    limits = Limits(per_chat_per_s=args.per_chat_per_s, per_chat_burst=args.per_chat_burst,
                    per_group=args.per_group, per_group_window_s=args.per_group_window_s,
                    global_limit=args.global_limit, global_window_s=args.global_window_s)
    fake = FakeTelegram(host=args.host, port=args.port, token=args.token, seed=args.seed, limits=limits,
                        fractional_retry_after=args.fractional_retry_after)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fake.start()
    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(state_dir / "server.json", {"port": fake.port, "base_url": fake.base_url, "pid": os.getpid()})
    stop.wait()
    fake.stop()
    (state_dir / "state.json").write_bytes(msgspec.json.encode(fake.snapshot()))
    return 0


def _write_json_atomic(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
