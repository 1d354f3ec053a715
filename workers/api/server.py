"""Serving the API with uvicorn: one process, uvloop + httptools, tether's JSON logs, no access log."""

from __future__ import annotations

import logging
from typing import Any

import uvicorn
from prometheus_client import REGISTRY

from bindings.config import TetherConfig
from bindings.connection import connect, describe_url, resolve_url
from workers.api.app import create_app
from workers.api.auth import BearerAuth
from workers.api.context import ApiContext
from workers.metrics import RedisStateCollector

log = logging.getLogger("tether.api")

API_REDIS_RETRIES = 2  # a few hundred ms of retries, then 503: the caller retries, not the server


def make_context(config: TetherConfig, redis_url: str | None = None) -> ApiContext:
    url = resolve_url(redis_url)
    client = connect(url, retries=API_REDIS_RETRIES, connect_timeout_s=2)
    return ApiContext(client=client, config=config, redis_label=describe_url(url), auth=BearerAuth(config.api.tokens))


def serve(ctx: ApiContext, host: str, port: int, *, app: Any = None) -> None:
    ctx.auth.check_exposure(host)
    REGISTRY.register(RedisStateCollector(ctx.client))
    if ctx.auth.open:
        log.warning("api without tokens: open to every local caller", extra={"host": host})
    log.info("api listening", extra={"host": host, "port": port, "openapi": "/openapi.json"})
    uvicorn.run(app if app is not None else create_app(ctx), host=host, port=port, loop="uvloop", http="httptools",
                log_config=None, access_log=False, server_header=False, proxy_headers=False,
                timeout_graceful_shutdown=10)
