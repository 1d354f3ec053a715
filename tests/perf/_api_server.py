"""The benchmark's server: `tether api` as `tether api` builds it, plus one undocumented bare endpoint
(`GET /bare`): one Redis round trip (PING) on a worker thread through the same client, as every handler does its
Redis work, and an empty JSON answer. Run as `python -m tests.perf._api_server PORT` with TETHER_REDIS_URL set."""

from __future__ import annotations

import sys

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bindings.config import load_config
from workers.api.app import create_app
from workers.api.server import make_context, serve
from workers.logs import setup_logging


def main() -> None:
    setup_logging("WARNING")
    ctx = make_context(load_config())

    async def bare(_: Request) -> Response:
        await anyio.to_thread.run_sync(ctx.client.ping)
        return Response(b"{}", media_type="application/json")

    app = create_app(ctx, extra_routes=[Route("/bare", bare, methods=["GET"])])
    serve(ctx, "127.0.0.1", int(sys.argv[1]), app=app)


if __name__ == "__main__":
    main()
