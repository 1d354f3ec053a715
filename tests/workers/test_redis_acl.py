"""The README's Redis ACL lines, run as written: the `producer` user can enqueue a completion event but cannot write
bindings, ledger records, delivery jobs, dead letters or other queues."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from adapters.delivery import keys as delivery_keys
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, rq_queue_key
from bindings import keys as binding_keys
from bindings.config import parse_config
from bindings.lua import ScriptError
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from router.enqueue import enqueue_completion
from tests.router.factories import SPAWN_ON_TOML, event
from tests.support.redis_server import RedisServer

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_acl_lines() -> list[str]:
    return [line for line in README.read_text().splitlines() if line.startswith("ACL SETUSER ")]


@pytest.fixture
def acl_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(directory=tmp_path / "redis")
    server.start()
    admin = redis.Redis.from_url(server.url)
    for line in readme_acl_lines():
        line = line.replace("TETHER_PASSWORD", "tether-pw").replace("PRODUCER_PASSWORD", "producer-pw")
        admin.execute_command(*shlex.split(line))
    admin.close()
    yield server
    server.cleanup()


def test_the_readme_gives_a_tether_user_and_a_producer_user() -> None:
    assert [line.split()[2] for line in readme_acl_lines()] == ["tether", "producer"]


def test_the_producer_can_enqueue_a_completion_event(acl_server: RedisServer) -> None:
    producer = redis.Redis.from_url(f"unix://producer:producer-pw@{acl_server.socket}")
    tether = redis.Redis.from_url(f"unix://tether:tether-pw@{acl_server.socket}")
    job_id = enqueue_completion(producer, event("e-acl"))
    assert tether.lrange(rq_queue_key(COMPLETIONS_QUEUE), 0, -1) == [job_id.encode()]
    assert tether.exists(f"rq:job:{job_id}")


@pytest.mark.parametrize(("what", "command"), [
    ("a binding", ("HSET", binding_keys.record("b1"), "status", "active")),
    ("the bindings of a session", ("HSET", binding_keys.session_bucket("agent:main:subagent:abc")[0], "f", "v")),
    ("a ledger record", ("HSET", delivery_keys.delivery("d-1"), "status", "pending")),
    ("a dead letter", ("DEL", delivery_keys.dead_letter("x"))),
    ("a delivery job", ("HSET", "rq:job:deliver-d-1", "data", "[]")),
    ("another queue", ("RPUSH", "rq:queue:deliver.discord", "deliver-d-1")),
])
def test_the_producer_cannot_write_anything_else(acl_server: RedisServer, what: str,
                                                 command: tuple[str, ...]) -> None:
    producer = redis.Redis.from_url(f"unix://producer:producer-pw@{acl_server.socket}")
    with pytest.raises(redis.exceptions.NoPermissionError):
        producer.execute_command(*command)


def test_the_producer_cannot_bind_through_the_binding_service(acl_server: RedisServer) -> None:
    producer = redis.Redis.from_url(f"unix://producer:producer-pw@{acl_server.socket}")
    service = SessionBindingService(producer, parse_config(SPAWN_ON_TOML))
    with pytest.raises(ScriptError, match="no permissions"):
        service.bind(target_session_key="agent:main:subagent:abc", target_kind="subagent",
                     conversation=ConversationRef(channel="discord", conversation_id="t1", parent_conversation_id="1"))
