"""Shared fixtures: a real redis-server per test session (flushed per test) and fakeredis."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis

from tests.fakes.fixtures import (
    fake_discord,
    fake_discord_process,
    fake_slack,
    fake_slack_process,
    fake_telegram,
    fake_telegram_process,
)
from tests.support.matrix_world import matrix_home, matrix_world
from tests.support.redis_server import RedisServer

__all__ = ["fake_discord", "fake_discord_process", "fake_slack", "fake_slack_process", "fake_telegram",
           "fake_telegram_process", "matrix_home", "matrix_world"]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def real_redis(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def fake_redis() -> Iterator[redis.Redis]:
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    yield client
    client.close()


@pytest.fixture(params=["real", "fake"])
def any_redis(request: pytest.FixtureRequest) -> redis.Redis:
    """Runs a test once against the real redis-server and once against fakeredis."""
    name = "real_redis" if request.param == "real" else "fake_redis"
    client: redis.Redis = request.getfixturevalue(name)
    return client
