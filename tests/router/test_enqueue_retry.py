"""`enqueue_completion` rides out a Redis outage (bounded by ENQUEUE_RETRY_BUDGET_S), and a retry after a lost
answer enqueues nothing twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.client import Pipeline

from adapters.delivery.rqwire import COMPLETIONS_QUEUE, rq_queue_key
from bindings.connection import connect
from router.enqueue import enqueue_completion
from tests.router.factories import event
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def retries_logged() -> Iterator[_Records]:
    handler = _Records()
    logger = logging.getLogger("tether.enqueue")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_an_enqueue_during_a_redis_outage_completes_once_redis_is_back(tmp_path: Path,
                                                                       retries_logged: _Records) -> None:
    server = RedisServer(directory=tmp_path / "redis")
    server.start()
    client = connect(server.url, retries=1, connect_timeout_s=1)
    try:
        server.stop()
        result: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: result.update(id=enqueue_completion(client, event("e-outage"))))
        thread.start()
        wait_for(lambda: retries_logged.messages, timeout_s=30, what="a retried enqueue")
        server.start()
        thread.join(timeout=60)
        assert not thread.is_alive()
        assert client.lrange(rq_queue_key(COMPLETIONS_QUEUE), 0, -1) == [result["id"].encode()]
    finally:
        client.close()
        server.cleanup()


class _AnswerLostOnce(redis.Redis):
    """A client whose first transaction is applied by Redis but whose answer never arrives."""

    lost = 0

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        client = self

        class LosingPipeline(Pipeline):
            def execute(self, raise_on_error: bool = True) -> list[Any]:
                replies = super().execute(raise_on_error)
                if client.lost == 0:
                    client.lost += 1
                    raise redis.ConnectionError("connection lost before the reply was read")
                return replies

        return LosingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


def test_a_retry_after_a_lost_answer_enqueues_the_batch_once(redis_url: str, real_redis: redis.Redis) -> None:
    client = _AnswerLostOnce.from_url(redis_url)
    job_id = enqueue_completion(client, event("e-lost-answer"))
    assert client.lost == 1
    assert real_redis.lrange(rq_queue_key(COMPLETIONS_QUEUE), 0, -1) == [job_id.encode()]
    assert real_redis.exists(f"rq:job:{job_id}")
