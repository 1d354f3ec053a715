"""`tether api`: the HTTP API (see workers/api)."""

from __future__ import annotations

import click

from bindings.config import load_config
from bindings.errors import ConfigError


@click.command()
@click.option("--host", help="Address to listen on (default: `api.host`, 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default: `api.port`, 8787; 0: any free port).")
@click.option("--redis-url", envvar="TETHER_REDIS_URL", help="Redis URL (default: configuration).")
def api(host: str | None, port: int | None, redis_url: str | None) -> None:
    """Serve the HTTP API for agent runners in any language: /v1/bindings, /v1/events, /v1/dead-letters,
    /v1/status, /healthz, /readyz, /metrics, and its OpenAPI 3.1 document at /openapi.json.

    Callers present one of `api.tokens` (each "env:NAME" or "file:PATH", read at every request) as
    `Authorization: Bearer …`; /healthz, /readyz and /openapi.json are open. Without tokens the API is open, and
    then it listens only on a loopback address. Bodies over `api.maxRequestBytes` are refused (413); binds with an
    `Idempotency-Key` are answered once and replayed for `api.idempotencyHours`.
    """
    from workers.api.server import make_context, serve

    config = load_config()
    try:
        ctx = make_context(config, redis_url)
        serve(ctx, host or config.api.host, config.api.port if port is None else port)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
