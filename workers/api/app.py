"""The ASGI application: the route table served by Starlette, JSON everywhere (unknown routes and methods too)."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from workers.api.context import ApiContext
from workers.api.endpoint import JSON, Endpoint, dispatch, error_response
from workers.api.errors import ApiProblem
from workers.api.openapi import build_document
from workers.api.routes import ENDPOINTS

OPENAPI_PATH = "/openapi.json"


def create_app(ctx: ApiContext, *, endpoints: list[Endpoint] | None = None,
               extra_routes: list[Route] | None = None) -> Starlette:
    """`extra_routes`: undocumented routes beside the API (the benchmark's bare endpoint)."""
    table = ENDPOINTS if endpoints is None else endpoints
    document = msgspec.json.encode(build_document(table, version=version("tether")))

    async def openapi(_: Request) -> Response:
        return Response(document, media_type=JSON)

    routes = [Route(ep.route_path, dispatch(ep, ctx), methods=[ep.method], name=ep.operation_id) for ep in table]
    routes.append(Route(OPENAPI_PATH, openapi, methods=["GET"]))
    routes += extra_routes or []
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error, Exception: _internal})


async def _http_error(request: Request, exc: Any) -> Response:
    """Starlette's own answers (no such route, method not allowed) as JSON."""
    assert isinstance(exc, HTTPException)
    codes = {404: ("not-found", "no such route"), 405: ("method-not-allowed", "method not allowed on this route")}
    code, message = codes.get(exc.status_code, ("http-error", str(exc.detail)))
    return error_response(ApiProblem(exc.status_code, code, message, headers=dict(exc.headers or {})))


async def _internal(request: Request, exc: Exception) -> Response:
    return error_response(ApiProblem(500, "internal", "internal error; the server logged the details"))
