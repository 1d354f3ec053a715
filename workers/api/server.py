"""Serving the API with uvicorn: one process, uvloop + httptools, tether's JSON logs, no access log."""

from __future__ import annotations

import logging
import socket
import sys
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


def listen(host: str, port: int) -> socket.socket:
    """Bound here rather than by uvicorn, so that port 0 (any free port) can be logged as the port it became."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.set_inheritable(True)
    return sock


def serve(ctx: ApiContext, host: str, port: int, *, app: Any = None) -> None:
    ctx.auth.check_exposure(host)
    REGISTRY.register(RedisStateCollector(ctx.client))
    if ctx.auth.open:
        log.warning("api without tokens: open to every local caller", extra={"host": host})
    sock = listen(host, port)
    # Handlers run on worker threads while the event loop reads and writes sockets: with Python's default 5 ms
    # switch interval a busy thread can hold the others off for that long (the p99 shows it); 1 ms keeps them fair.
    sys.setswitchinterval(0.001)
    config = uvicorn.Config(app if app is not None else create_app(ctx), loop="uvloop", http="httptools",
                            log_config=None, access_log=False, server_header=False, proxy_headers=False,
                            timeout_graceful_shutdown=10, backlog=2048)
    log.info("api listening", extra={"host": host, "port": sock.getsockname()[1], "openapi": "/openapi.json"})
    uvicorn.Server(config).run(sockets=[sock])
