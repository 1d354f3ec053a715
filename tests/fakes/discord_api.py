"""A local Discord REST API (v10) for tests: a real HTTP server on 127.0.0.1, one OS-chosen port.

In a test (or through the `fake_discord` fixture of `tests.fakes.fixtures`)::

    with FakeDiscord() as fake:
        channel = fake.add_channel("general")
        client = httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Bot {fake.tokens[0]}"})
        client.post(f"/channels/{channel.id}/messages", json={"content": "hi"})
        assert [m.content for m in fake.messages(channel.id)] == ["hi"]

As its own process (chaos tests, benchmarks), controlled and read over HTTP with
`tests.fakes.discord_remote.FakeDiscordProcess` / `FakeDiscordControl`::

    python -m tests.fakes.discord_api --port 0 --state-dir DIR [--token T] [--seed N] [--channels 40] ...

It writes ``DIR/server.json`` (port, URLs, pid, seeded channel ids) once it listens, and ``DIR/state.json`` (the
final `Snapshot`) when stopped with SIGTERM or SIGINT.

URLs: the API under ``/api/v10``; control under ``/_fake`` (no auth, never rate-limited, faulted or logged):

- ``GET /_fake/state``            the `Snapshot` as JSON; ``?requests=0`` leaves the request log out
- ``GET /_fake/messages``         messages, oldest first; ``?channel_id=``, ``?include_system=1``
- ``POST /_fake/channels``        {name, type, channel_id, deny} → Channel
- ``POST /_fake/threads``         {parent_id, name, type, channel_id, archived, locked, auto_archive_duration, deny}
- ``POST /_fake/channels/ID``     {archived, locked, deny, name} → Channel (a moderator's action)
- ``DELETE /_fake/channels/ID``   delete a channel or thread (a person's action)
- ``POST /_fake/webhooks``        {channel_id, name} → Webhook; ``DELETE /_fake/webhooks/ID``
- ``POST /_fake/token``           {token}: accept only this bot token; ``POST /_fake/tokens`` {token}: accept it too
- ``POST /_fake/faults``          FaultRule fields → FaultRule; ``DELETE /_fake/faults`` removes every rule
- ``POST /_fake/config``          keyword arguments of `LocalDiscord.configure` → the config
- ``POST /_fake/limits``          {route, limit, window_s}
- ``POST /_fake/clock``           {advance_s} → {now_ms}
- ``POST /_fake/reset``           forget all state (config and tokens stay)

A control request that is wrong answers 400 (or 404) with {"error": "..."}.
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
from urllib.parse import parse_qs, urlsplit

import msgspec

from tests.fakes.discord_core import LocalDiscord
from tests.fakes.discord_wire import ApiRequest, ApiResponse

API_PREFIX = "/api/v10"
CONTROL_PREFIX = "/_fake"


class FakeDiscord(LocalDiscord):
    """`LocalDiscord` (all state, control and reading methods) served over HTTP in a background thread."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        super().__init__(**options)
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _Handler, self)
        self._server = server
        # A short poll interval keeps stop() (and so each test's teardown) at a few milliseconds.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-discord", daemon=True
        )
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

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeDiscord is not started")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the adapter uses as `channels.discord.apiBase`."""
        return f"{self.root_url}{API_PREFIX}"

    def control(self, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
        """One `/_fake` control request (also what the remote client calls); returns status and JSON payload."""
        try:
            data: dict[str, Any] = json.loads(body) if body.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("body: expected a JSON object")
            return 200, self._control(method, path.strip("/").split("/"), parse_qs(query), data)
        except (ValueError, TypeError, msgspec.ValidationError) as error:
            return 400, {"error": str(error)}
        except LookupError as error:
            return 404, {"error": str(error)}

    def _control(self, method: str, parts: list[str], query: dict[str, list[str]], data: dict[str, Any]) -> Any:
        head = parts[0] if parts else ""
        one = len(parts) == 1
        if method == "GET" and head == "state" and one:
            with_requests = query.get("requests", ["1"])[-1] not in ("0", "false")
            return msgspec.to_builtins(self.snapshot(include_requests=with_requests))
        if method == "GET" and head == "messages" and one:
            channel_id = query.get("channel_id", [None])[-1]
            include_system = query.get("include_system", ["0"])[-1] in ("1", "true")
            return msgspec.to_builtins(self.messages(channel_id, include_system=include_system))
        if method == "POST" and head == "channels" and one:
            return msgspec.to_builtins(self.add_channel(**data))
        if method == "POST" and head == "channels" and len(parts) == 2:
            return msgspec.to_builtins(self.set_channel(parts[1], **data))
        if method == "DELETE" and head == "channels" and len(parts) == 2:
            self.delete_channel(parts[1])
            return {}
        if method == "POST" and head == "threads" and one:
            return msgspec.to_builtins(self.add_thread(**data))
        if method == "POST" and head == "webhooks" and one:
            return msgspec.to_builtins(self.add_webhook(**data))
        if method == "DELETE" and head == "webhooks" and len(parts) == 2:
            self.delete_webhook(parts[1])
            return {}
        if method == "POST" and head == "token" and one:
            self.set_token(data["token"])
            return {}
        if method == "POST" and head == "tokens" and one:
            self.add_token(data["token"])
            return {}
        if method == "POST" and head == "faults" and one:
            kind = data.pop("kind")
            return msgspec.to_builtins(self.inject(kind, **data))
        if method == "DELETE" and head == "faults" and one:
            self.clear_faults()
            return {}
        if method == "POST" and head == "config" and one:
            return self.configure(**data)
        if method == "POST" and head == "limits" and one:
            self.set_limit(data["route"], data["limit"], data["window_s"])
            return {}
        if method == "POST" and head == "clock" and one:
            return {"now_ms": self.advance(float(data.get("advance_s", 0.0)))}
        if method == "POST" and head == "reset" and one:
            self.reset()
            return {}
        raise LookupError(f"no control endpoint {method} {CONTROL_PREFIX}/{'/'.join(parts)}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # several worker processes connect at once; the default 5 stalls them on SYN retries

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeDiscord) -> None:
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._open_lock:
            if alive:
                self._open.add(conn)
            else:
                self._open.discard(conn)

    def close_connections(self) -> None:
        """Close idle keep-alive connections so stop() leaves nothing behind."""
        with self._open_lock:
            conns, self._open = self._open, set()
        for conn in conns:
            _shutdown(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (or a connection we dropped on purpose) is not an error worth a traceback.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Discord; a dropped response then surfaces as a broken connection
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without it, Nagle's algorithm and the peer's delayed ACK add ~40 ms to every response.
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

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self._read_body()
        url = urlsplit(self.path)
        fake = self.server.fake
        if url.path.startswith(CONTROL_PREFIX + "/"):
            status, payload = fake.control(self.command, url.path[len(CONTROL_PREFIX) :], url.query, body)
            self._send(ApiResponse(status, json.dumps(payload).encode(), [("Content-Type", "application/json")]))
            return
        if not url.path.startswith(API_PREFIX + "/"):
            self._send(
                ApiResponse(404, b'{"message": "404: Not Found", "code": 0}', [("Content-Type", "application/json")])
            )
            return
        request = ApiRequest(
            method=self.command,
            path=url.path[len(API_PREFIX) :],
            query=url.query,
            authorization=self.headers.get("Authorization"),
            body=body,
        )
        response = fake.handle(request)
        if response.drop:
            self.close_connection = True
            _shutdown(self.connection)
            return
        self._send(response)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: ApiResponse) -> None:
        # Status line, headers and body in one write (one TCP segment for small responses).
        lines = [
            f"{self.protocol_version} {response.status} {HTTPStatus(response.status).phrase}",
            f"Date: {self.date_time_string()}",
            "Server: fake-discord",
            *(f"{name}: {value}" for name, value in response.headers),
            f"Content-Length: {len(response.body)}",
        ]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)


def _shutdown(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


# ---------------------------------------------------------------------- running as its own process


def _write_json_atomic(path: Path, payload: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(json.dumps(payload).encode())
    os.replace(tmp, path)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.fakes.discord_api", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: let the OS choose (see server.json)")
    p.add_argument("--state-dir", type=Path, help="where server.json (on start) and state.json (on stop) go")
    p.add_argument("--token", default="test-bot-token", help="the accepted bot token")
    p.add_argument("--seed", type=int, default=0, help="seed of probabilistic faults")
    p.add_argument("--channels", type=int, default=0, help="seed this many text channels (ids in server.json)")
    p.add_argument("--global-limit", type=int, default=50)
    p.add_argument("--global-window-s", type=float, default=1.0)
    p.add_argument("--message-limit", type=int, default=5, help="message create and webhook execute bucket size")
    p.add_argument("--message-window-s", type=float, default=5.0)
    p.add_argument("--archived-send", choices=("unarchive", "reject"), default="unarchive")
    p.add_argument("--nonce-window-s", type=float, default=300.0)
    p.add_argument("--nonce-scope", choices=("channel", "author"), default="channel")
    p.add_argument("--fault", action="append", default=[], metavar="JSON", help="a FaultRule as JSON; repeatable")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    limits = {
        "message_create": (args.message_limit, args.message_window_s),
        "webhook_execute": (args.message_limit, args.message_window_s),
    }
    fake = FakeDiscord(
        host=args.host,
        port=args.port,
        token=args.token,
        seed=args.seed,
        global_limit=args.global_limit,
        global_window_s=args.global_window_s,
        limits=limits,
        archived_send=args.archived_send,
        nonce_window_s=args.nonce_window_s,
        nonce_scope=args.nonce_scope,
    )
    for raw in args.fault:
        rule = json.loads(raw)
        fake.inject(rule.pop("kind"), **rule)
    channel_ids = [fake.add_channel(f"channel-{i}").id for i in range(args.channels)]
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fake.start()
    info = {
        "pid": os.getpid(),
        "port": fake.port,
        "root_url": fake.root_url,
        "base_url": fake.base_url,
        "guild_id": fake.guild_id,
        "bot_user_id": fake.bot_user_id,
        "channel_ids": channel_ids,
    }
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
