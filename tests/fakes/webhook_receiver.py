"""A Standard Webhooks receiver on a loopback port: what a user runs behind `[channels.webhook.accounts.<name>]`.

Every request is verified with the specification's reference library (`standardwebhooks.Webhook.verify`, which
checks the signature over `id.timestamp.body` and that the timestamp is within five minutes); one that fails is
answered 401 and kept in `rejected`, never acted on. A verified request is then, in order:

1. offered to the fault rules (`Fault`): answer a status without acting (`status`, e.g. 429 + Retry-After, 503),
   or act and then delay the answer (`delay`) or close the connection without answering (`drop`: a lost answer);
2. deduplicated by `webhook-id` when `dedupe` is on: a repeat is answered like the first and not acted on again;
3. acted on: a `tether.message` is appended to the message log (`messages`) and answered `{"messageId": …}`; a
   `tether.conversation.create` creates a conversation (when `provisioning` is on, else 404) and names it.

Conversations marked gone (`set_gone`) answer 410. `requests` keeps every verified request, repeats included.

In-process: `with WebhookReceiver(secret) as r: r.url …`. Own process: `python -m tests.fakes.webhook_receiver
--secret-file F --ready-file R [--dedupe] [--provisioning] [--log L]` writes `{"url", "control"}` to R once it listens
and every acted-on message to L (JSON lines); `tests.fakes.webhook_remote.ReceiverControl` drives it over HTTP.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import msgspec
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

FaultKind = Literal["status", "delay", "drop"]
MESSAGE_TYPE = "tether.message"
CREATE_TYPE = "tether.conversation.create"
CONTROL_PREFIX = "/_receiver"


class Fault(msgspec.Struct, kw_only=True):
    """`count` requests (of `type`, when given) get this fault: every `every`-th one it sees, and of those, when
    `probability` < 1, a random share (seeded)."""

    kind: FaultKind
    status: int = 503
    retry_after: str | None = None  # the Retry-After header, as sent: "2" or an HTTP date
    body: str = ""
    delay_s: float = 0.0
    count: int = 1  # -1: until cleared
    probability: float = 1.0
    every: int = 1
    type: str | None = None
    fired: int = 0
    seen: int = 0


class Received(msgspec.Struct, frozen=True, kw_only=True):
    """One verified request as the receiver saw it."""

    webhook_id: str
    timestamp: int
    type: str
    data: dict[str, Any]
    at: float
    answered: int  # the status answered (0: dropped)
    duplicate: bool = False
    fault: str | None = None


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """A message the receiver's application acted on (appended to its chat, say)."""

    message_id: str
    webhook_id: str
    delivery_id: str
    event_id: str
    chunk: int
    chunks: int
    conversation_id: str | None
    parent_conversation_id: str | None
    text: str
    username: str | None


class Rejected(msgspec.Struct, frozen=True, kw_only=True):
    webhook_id: str | None
    error: str


class ReceiverState:
    """Everything the receiver knows; every method takes the lock (the server answers on many threads)."""

    def __init__(self, secret: str, *, dedupe: bool, provisioning: bool, message_ids: bool = True,
                 seed: int = 0, log_path: Path | None = None) -> None:
        self.webhook = Webhook(secret)
        self.dedupe = dedupe
        self.provisioning = provisioning
        self.message_ids = message_ids
        self.log_path = log_path
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.faults: list[Fault] = []
        self.requests: list[Received] = []
        self.messages: list[Message] = []
        self.rejected: list[Rejected] = []
        self.answers: dict[str, tuple[int, bytes]] = {}  # webhook-id -> first answer (dedupe)
        self.gone: set[str] = set()
        self.incomplete = 0  # requests cut off before their whole body arrived
        self.conversations: dict[str, str] = {}  # created conversation id -> parent
        self._next = 0

    def set_secret(self, secret: str) -> None:
        with self.lock:
            self.webhook = Webhook(secret)

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def _fault_for(self, kind: str) -> Fault | None:
        for fault in self.faults:
            if fault.count != -1 and fault.fired >= fault.count:
                continue
            if fault.type is not None and fault.type != kind:
                continue
            fault.seen += 1
            if fault.seen % max(1, fault.every):
                continue
            if fault.probability < 1.0 and self.rng.random() >= fault.probability:
                continue
            fault.fired += 1
            return fault
        return None

    def handle(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes, float, bool]:
        """(status, headers, body, delay before answering, drop the answer instead)."""
        try:
            payload = self.webhook.verify(body, headers)
        except (WebhookVerificationError, ValueError) as exc:
            with self.lock:
                self.rejected.append(Rejected(webhook_id=headers.get("webhook-id"), error=str(exc)))
            return 401, {}, b'{"error":"signature verification failed"}', 0.0, False
        webhook_id = headers["webhook-id"]
        kind = str(payload.get("type", ""))
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        with self.lock:
            fault = self._fault_for(kind)
            extra: dict[str, str] = {}
            if fault is not None and fault.kind == "status":
                if fault.retry_after is not None:
                    extra["Retry-After"] = fault.retry_after
                self._log(webhook_id, headers, kind, data, fault.status, fault="status")
                return fault.status, extra, fault.body.encode(), 0.0, False
            duplicate = self.dedupe and webhook_id in self.answers
            if duplicate:
                status, answer = self.answers[webhook_id]
            else:
                status, answer = self._act(webhook_id, kind, data)
                if self.dedupe and 200 <= status < 300:
                    self.answers[webhook_id] = (status, answer)
            dropped = fault is not None and fault.kind == "drop"
            self._log(webhook_id, headers, kind, data, 0 if dropped else status, duplicate=duplicate,
                      fault=fault.kind if fault else None)
        delay = fault.delay_s if fault is not None and fault.kind == "delay" else 0.0
        return status, {}, answer, delay, dropped

    def _log(self, webhook_id: str, headers: dict[str, str], kind: str, data: dict[str, Any], status: int, *,
             duplicate: bool = False, fault: str | None = None) -> None:
        self.requests.append(Received(webhook_id=webhook_id, timestamp=int(headers["webhook-timestamp"]), type=kind,
                                      data=data, at=time.time(), answered=status, duplicate=duplicate, fault=fault))

    def _act(self, webhook_id: str, kind: str, data: dict[str, Any]) -> tuple[int, bytes]:
        conversation = data.get("conversation") if isinstance(data.get("conversation"), dict) else {}
        if kind == CREATE_TYPE:
            if not self.provisioning:
                return 404, b'{"error":"unknown type"}'
            self._next += 1
            new_id = f"conv-{self._next}"
            self.conversations[new_id] = str(conversation.get("parentConversationId") or "")
            return 201, json.dumps({"conversationId": new_id}).encode()
        if kind != MESSAGE_TYPE:
            return 400, b'{"error":"unknown type"}'
        conversation_id = conversation.get("conversationId")
        if conversation_id in self.gone:
            return 410, b'{"error":"conversation gone"}'
        self._next += 1
        identity = data.get("identity") if isinstance(data.get("identity"), dict) else {}
        message = Message(
            message_id=f"m-{self._next}", webhook_id=webhook_id, delivery_id=str(data.get("deliveryId")),
            event_id=str(data.get("eventId")), chunk=int(data.get("chunk", 0)), chunks=int(data.get("chunks", 1)),
            conversation_id=conversation_id, parent_conversation_id=conversation.get("parentConversationId"),
            text=str(data.get("text", "")), username=identity.get("username"))
        self.messages.append(message)
        if self.log_path is not None:
            with open(self.log_path, "ab") as f:
                f.write(msgspec.json.encode(message) + b"\n")
        if not self.message_ids:
            return 204, b""
        return 200, json.dumps({"messageId": message.message_id}).encode()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": msgspec.to_builtins(self.requests), "messages": msgspec.to_builtins(self.messages),
                    "rejected": msgspec.to_builtins(self.rejected), "faults": msgspec.to_builtins(self.faults),
                    "incomplete": self.incomplete,
                    "conversations": dict(self.conversations)}

    def control(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """The `/_receiver/...` endpoints a test in another process drives the receiver with."""
        if path == "/state":
            return 200, self.snapshot()
        if path == "/fault":
            self.add_fault(msgspec.convert(body, Fault))
            return 200, {}
        if path == "/clear-faults":
            self.clear_faults()
            return 200, {}
        if path == "/gone":
            with self.lock:
                self.gone.add(str(body["conversationId"]))
            return 200, {}
        if path == "/secret":
            self.set_secret(str(body["secret"]))
            return 200, {}
        if path == "/settings":
            with self.lock:
                self.dedupe = bool(body.get("dedupe", self.dedupe))
                self.provisioning = bool(body.get("provisioning", self.provisioning))
            return 200, {}
        return 404, {"error": f"no control endpoint {path}"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy would
    disable_nagle_algorithm = True  # headers and body go in two writes: without this, each answer waits ~40 ms
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        state = self.server.state
        if len(body) < length:  # the sender died mid-request: nothing arrived that could be verified or acted on
            with state.lock:
                state.incomplete += 1
            self.close_connection = True
            return
        if self.path.startswith(CONTROL_PREFIX):
            status, answer = state.control(self.path[len(CONTROL_PREFIX):], json.loads(body or b"{}"))
            self._answer(status, {"Content-Type": "application/json"}, json.dumps(answer).encode())
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, extra, answer, delay, dropped = state.handle(body, headers)
        if delay:
            time.sleep(delay)  # the fault under test: a slow receiver
        if dropped:
            self.close_connection = True  # acted on, but the sender never hears back: a lost answer
            return
        if answer and "Content-Type" not in extra:
            extra["Content-Type"] = "application/json"
        self._answer(status, extra, answer)

    def do_GET(self) -> None:
        if self.path == f"{CONTROL_PREFIX}/state":
            self._answer(200, {"Content-Type": "application/json"}, json.dumps(self.server.state.snapshot()).encode())
        else:
            self._answer(404, {}, b"")

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ReceiverState

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a sender that gave up waiting: its business
            super().handle_error(request, client_address)


class WebhookReceiver:
    """The receiver in this process, on its own loopback port, until the `with` block ends."""

    def __init__(self, secret: str, *, dedupe: bool = True, provisioning: bool = False, message_ids: bool = True,
                 seed: int = 0, log_path: Path | None = None) -> None:
        self.state = ReceiverState(secret, dedupe=dedupe, provisioning=provisioning, message_ids=message_ids,
                                   seed=seed, log_path=log_path)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/tether"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- reading and steering (the same names as `ReceiverControl`) ---------------------------------------------

    def messages(self) -> list[Message]:
        with self.state.lock:
            return list(self.state.messages)

    def requests(self) -> list[Received]:
        with self.state.lock:
            return list(self.state.requests)

    def rejected(self) -> list[Rejected]:
        with self.state.lock:
            return list(self.state.rejected)

    def incomplete(self) -> int:
        with self.state.lock:
            return self.state.incomplete

    def unfired_faults(self) -> int:
        """Faults asked for (with a count) that have not hit a request yet."""
        with self.state.lock:
            return sum(max(0, f.count - f.fired) for f in self.state.faults if f.count > 0)

    def fault(self, fault: Fault) -> None:
        self.state.add_fault(fault)

    def clear_faults(self) -> None:
        self.state.clear_faults()

    def set_gone(self, conversation_id: str) -> None:
        with self.state.lock:
            self.state.gone.add(conversation_id)

    def set_secret(self, secret: str) -> None:
        self.state.set_secret(secret)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local Standard Webhooks receiver for tether's tests.")
    parser.add_argument("--secret-file", required=True, type=Path)
    parser.add_argument("--ready-file", required=True, type=Path)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--dedupe", action="store_true")
    parser.add_argument("--provisioning", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    receiver = WebhookReceiver(args.secret_file.read_text().strip(), dedupe=args.dedupe,
                               provisioning=args.provisioning, seed=args.seed, log_path=args.log)
    root = receiver.url.rsplit("/hooks/", 1)[0]
    tmp = args.ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": receiver.url, "control": root + CONTROL_PREFIX}))
    tmp.rename(args.ready_file)
    receiver._server.serve_forever()


if __name__ == "__main__":
    main()
