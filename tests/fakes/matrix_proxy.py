"""A fault-injecting HTTP proxy between tether and a real homeserver (real HTTP on a loopback port).

Every request is forwarded to the homeserver as is (method, path, query, body, `Authorization`), unless a fault
rule matches it first. Kinds:

- ``lose-answer``  forward (the event *is* created), then close the connection without an answer;
- ``5xx``          answer 500 `M_UNKNOWN` without forwarding (nothing happens on the homeserver);
- ``5xx-after``    forward (the event is created), then answer 502 instead of the real answer;
- ``429``          answer 429 `M_LIMIT_EXCEEDED` with `retry_after_ms` and `Retry-After`, without forwarding, and
                   hold to it as a homeserver does: every send until `retry_after_s` has passed is answered 429 too
                   (an *earned* 429, logged as not injected);
- ``timeout``      forward, then hold the answer for `delay_s` and close the connection without it.

A rule matches on ``method`` and ``path`` (a regular expression searched in the path; by default message sends:
``PUT …/send/…``); ``times`` caps how many it hits (None: no cap), ``probability`` (seeded) hits only some.
"""

from __future__ import annotations

import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import httpx

FaultKind = Literal["lose-answer", "5xx", "5xx-after", "429", "timeout"]
SEND_PATH = r"/rooms/[^/]+/send/"


@dataclass
class Fault:
    kind: FaultKind
    method: str | None = "PUT"
    path: str = SEND_PATH
    times: int | None = 1
    probability: float | None = None
    retry_after_s: float = 0.2
    delay_s: float = 0.5
    fired: int = 0

    def matches(self, method: str, path: str, rng: random.Random) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.method is not None and method != self.method:
            return False
        if not re.search(self.path, path):
            return False
        return self.probability is None or rng.random() < self.probability


@dataclass(frozen=True)
class Forwarded:
    """One request the homeserver saw: when it arrived and was answered (monotonic s), and the answer."""

    started: float
    answered: float
    method: str
    path: str
    status: int
    retry_after_ms: int | None


@dataclass
class ProxyStats:
    forwarded: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    upstream_statuses: dict[int, int] = field(default_factory=dict)  # what the homeserver answered
    token_in_query: int = 0  # requests that carried ?access_token= (tether must never)
    rate_limited: list[tuple[float, bool]] = field(default_factory=list)  # (monotonic s, injected) of every 429
    log: list[Forwarded] = field(default_factory=list)


class MatrixProxy:
    def __init__(self, upstream: str, *, seed: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.rng = random.Random(seed)
        self.faults: list[Fault] = []
        self.stats = ProxyStats()
        self._lock = threading.Lock()
        self._blocked_until = 0.0  # monotonic s: an injected 429 holds sends back until then
        self._http = httpx.Client(base_url=self.upstream, timeout=60.0)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                proxy.handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = _handle

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="matrix-proxy", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> MatrixProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._http.close()

    def __enter__(self) -> MatrixProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, kind: FaultKind, **kwargs: object) -> Fault:
        fault = Fault(kind=kind, **kwargs)  # type: ignore[arg-type]
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def unfired(self) -> int:
        """Hits still owed by rules with a count (a case checks its fault really happened)."""
        with self._lock:
            return sum(f.times - f.fired for f in self.faults if f.times is not None and f.fired < f.times)

    def _note_429(self, *, injected: bool) -> None:
        with self._lock:
            self.stats.rate_limited.append((time.monotonic(), injected))

    def _pick(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path, self.rng):
                    fault.fired += 1
                    self.stats.faults[fault.kind] = self.stats.faults.get(fault.kind, 0) + 1
                    return fault
        return None

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        path, _, query = req.path.partition("?")
        if "access_token=" in query:
            with self._lock:
                self.stats.token_in_query += 1
        if req.command == "PUT" and re.search(SEND_PATH, path):
            with self._lock:
                wait_s = self._blocked_until - time.monotonic()
            if wait_s > 0:
                self._note_429(injected=False)
                return _answer(req, 429, f'{{"errcode":"M_LIMIT_EXCEEDED","error":"Too Many Requests",'
                                         f'"retry_after_ms":{int(wait_s * 1000)}}}'.encode())
        fault = self._pick(req.command, path)
        if fault is not None and fault.kind == "5xx":
            return _answer(req, 500, b'{"errcode":"M_UNKNOWN","error":"injected by the proxy"}')
        if fault is not None and fault.kind == "429":
            ms = int(fault.retry_after_s * 1000)
            with self._lock:
                self._blocked_until = time.monotonic() + fault.retry_after_s
            self._note_429(injected=True)
            return _answer(req, 429, f'{{"errcode":"M_LIMIT_EXCEEDED","error":"Too Many Requests",'
                                     f'"retry_after_ms":{ms}}}'.encode(),
                           {"Retry-After": str(max(1, round(fault.retry_after_s)))})
        headers = {k: v for k, v in req.headers.items() if k.lower() in ("authorization", "content-type")}
        started = time.monotonic()
        upstream = self._http.request(req.command, req.path, content=body, headers=headers)
        retry_ms = None
        if upstream.status_code == 429:
            retry_ms = int(upstream.json().get("retry_after_ms", 0))
            self._note_429(injected=False)
        with self._lock:
            self.stats.log.append(Forwarded(started, time.monotonic(), req.command, path, upstream.status_code,
                                            retry_ms))
            self.stats.forwarded += 1
            statuses = self.stats.upstream_statuses
            statuses[upstream.status_code] = statuses.get(upstream.status_code, 0) + 1
        if fault is not None and fault.kind == "5xx-after":
            return _answer(req, 502, b"<html>bad gateway</html>", {"Content-Type": "text/html"})
        if fault is not None and fault.kind in ("lose-answer", "timeout"):
            if fault.kind == "timeout":
                time.sleep(fault.delay_s)  # a stalled answer, as a slow network would hold it
            req.close_connection = True
            return None
        return _answer(req, upstream.status_code, upstream.content,
                       {k: v for k, v in upstream.headers.items() if k.lower() in ("content-type", "retry-after")})


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client killed mid-request: expected in chaos
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _answer(req: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    req.send_response(status)
    for k, v in (headers or {"Content-Type": "application/json"}).items():
        req.send_header(k, v)
    req.send_header("Content-Length", str(len(body)))
    req.end_headers()
    req.wfile.write(body)
