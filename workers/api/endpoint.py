"""An endpoint is data: method, path, the Structs of its query and body, its answers, and a synchronous handler.
`dispatch` turns one into an ASGI endpoint (auth, size limit, decoding, a worker thread, error answers) and
`workers.api.openapi` turns the same table into the OpenAPI document, so the two cannot disagree."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
import msgspec
import redis
from starlette.requests import Request
from starlette.responses import Response

from adapters.protocol import RetryableError
from bindings.errors import InvalidInput, NotFound, ProvisionerMissing, ProvisioningError
from router.event import describe_validation_error
from workers.api.context import ApiContext
from workers.api.errors import ApiError, ApiProblem, invalid, not_found, unavailable, wire_path
from workers.api.metrics import observe

log = logging.getLogger("tether.api")

_encoder = msgspec.json.Encoder()
JSON = "application/json"


@dataclass(slots=True)
class Call:
    """One request as a handler sees it."""

    ctx: ApiContext
    path: Mapping[str, str]
    query: Any  # the endpoint's query Struct, or None
    body: Any  # the endpoint's body Struct, the raw bytes (raw_body), or None
    headers: Mapping[str, str]


@dataclass(slots=True)
class Reply:
    status: int
    body: Any = None  # a Struct or builtins, encoded as JSON; bytes are sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = JSON


@dataclass(frozen=True)
class Answer:
    """One documented answer of an endpoint."""

    description: str
    type: Any = None  # the body's type; a tuple of types: any of them
    headers: tuple[str, ...] = ()  # response headers it carries (documented as strings)
    media_type: str = JSON


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # the OpenAPI path: /v1/bindings/{bindingId}
    handler: Callable[[Call], Reply]
    summary: str
    tag: str
    answers: dict[int, Answer]
    query: type | None = None
    body: Any = None  # the body's type; with raw_body only documented, the handler gets the bytes
    body_required: bool = True
    raw_body: bool = False
    auth: bool = True
    headers: dict[str, str] = field(default_factory=dict)  # request header name -> description
    path_converters: dict[str, str] = field(default_factory=dict)  # Starlette convertors ({eventId:path})
    operation_id: str = ""
    description: str = ""

    @property
    def route_path(self) -> str:
        path = self.path
        for name, conv in self.path_converters.items():
            path = path.replace("{" + name + "}", "{" + name + ":" + conv + "}")
        return path


def encode(obj: Any) -> bytes:
    return obj if isinstance(obj, bytes) else _encoder.encode(obj)


def error_response(problem: ApiProblem) -> Response:
    return Response(_encoder.encode(problem.body), status_code=problem.status, headers=problem.headers,
                    media_type=JSON)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> ApiProblem:
    return ApiProblem(413, "too-large", f"request body over {limit} bytes (api.maxRequestBytes)", field="body")


def decode_query(endpoint: Endpoint, request: Request) -> Any:
    if endpoint.query is None:
        return None
    raw: dict[str, Any] = {}
    for name, value in parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True):
        if name in raw:
            raise invalid(name, "given more than once")
        raw[name] = value
    try:
        return msgspec.convert(raw, type=endpoint.query, strict=False)
    except msgspec.ValidationError as exc:
        name, message = describe_validation_error(str(exc))
        if message.startswith("object contains unknown field"):
            name, message = message.split("`")[1], "unknown query parameter"
        raise invalid(name, message) from None


def decode_body(endpoint: Endpoint, data: bytes) -> Any:
    if endpoint.raw_body:
        return data
    if endpoint.body is None:
        return None
    if not data.strip():
        if endpoint.body_required:
            raise invalid("body", "a JSON body is required")
        data = b"{}"
    try:
        return msgspec.json.decode(data, type=endpoint.body)
    except msgspec.ValidationError as exc:
        name, message = describe_validation_error(str(exc))
        if message.startswith("object contains unknown field"):
            name, message = message.split("`")[1], "unknown field"
        raise invalid("body" if name == "event" else name, message) from None
    except msgspec.DecodeError as exc:
        raise invalid("body", f"not valid JSON: {exc}") from None


def run_handler(endpoint: Endpoint, call: Call) -> Reply:
    """The handler, with tether's errors turned into answers (runs on a worker thread)."""
    try:
        return endpoint.handler(call)
    except ApiProblem:
        raise
    except ProvisionerMissing as exc:
        raise invalid("conversation.channel", str(exc)) from None
    except InvalidInput as exc:
        raise invalid(wire_path(exc.field), exc.message) from None
    except NotFound as exc:
        raise not_found(str(exc)) from None
    except ProvisioningError as exc:
        raise ApiProblem(502, "provisioning-failed", str(exc)) from None
    except RetryableError as exc:
        raise unavailable(f"the platform asked to retry later ({exc.reason})", exc.retry_after_s or 1) from None
    except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError):
        log.warning("redis unavailable", extra={"path": endpoint.path})
        raise unavailable("Redis is unreachable; try again shortly") from None


def dispatch(endpoint: Endpoint, ctx: ApiContext) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await _answer(endpoint, ctx, request)
        except ApiProblem as problem:
            response = error_response(problem)
        except Exception:  # never a stack trace in an answer: it goes to the log
            log.exception("api handler failed", extra={"path": endpoint.path, "method": endpoint.method})
            response = error_response(ApiProblem(500, "internal", "internal error; the server logged the details"))
        observe(endpoint.path, endpoint.method, response.status_code, time.perf_counter() - started)
        return response

    return handle


async def _answer(endpoint: Endpoint, ctx: ApiContext, request: Request) -> Response:
    if endpoint.auth and not ctx.auth.allows(request.headers.get("authorization")):
        raise ApiProblem(401, "unauthorized", "a valid bearer token is required (Authorization: Bearer …)",
                         headers={"WWW-Authenticate": 'Bearer realm="tether"'})
    query = decode_query(endpoint, request)
    data = await read_body(request, ctx.max_request_bytes) if endpoint.body is not None else b""
    body = decode_body(endpoint, data)
    call = Call(ctx=ctx, path=request.path_params, query=query, body=body, headers=request.headers)
    reply = await anyio.to_thread.run_sync(run_handler, endpoint, call)
    content = b"" if reply.body is None else encode(reply.body)
    return Response(content, status_code=reply.status, headers=reply.headers, media_type=reply.media_type)


def problem_answer(status: int, description: str) -> Answer:
    return Answer(description, ApiError, ("Retry-After",) if status == 503 else ())
