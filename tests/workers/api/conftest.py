"""Fixtures of the HTTP API tests: the app in-process over the real redis-server, or a real `tether api`."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

with warnings.catch_warnings():  # Starlette 1.x would rather drive its test client with httpx2; httpx works
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from bindings.config import load_config
from bindings.connection import connect
from tests.workers.api.support import TOKEN, TOKEN_ENV, ApiProcess, write_config
from workers.api import ApiContext, create_app
from workers.api.auth import BearerAuth


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path / "tether.toml")


@pytest.fixture
def api_ctx(real_redis: redis.Redis, redis_url: str, config_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> ApiContext:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv("TETHER_CONFIG", str(config_path))
    config = load_config(config_path)
    return ApiContext(client=connect(redis_url, retries=0), config=config, redis_label="test",
                      auth=BearerAuth(config.api.tokens))


@pytest.fixture
def api(api_ctx: ApiContext) -> Iterator[TestClient]:
    """The app in-process, authorised."""
    with TestClient(create_app(api_ctx), headers={"Authorization": f"Bearer {TOKEN}"},
                    raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def api_process(real_redis: redis.Redis, redis_url: str, config_path: Path,
                tmp_path: Path) -> Iterator[ApiProcess]:
    proc = ApiProcess(redis_url=redis_url, config=config_path, log=tmp_path / "api.log")
    yield proc
    proc.stop()
