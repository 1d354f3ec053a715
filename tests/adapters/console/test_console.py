"""The console adapter: messages printed as a person reads them, JSON lines on request, never printed twice."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from adapters.console.adapter import JSONL_ENV, ConsoleAdapter, make_adapter
from adapters.console.provision import ConsoleProvisioner
from adapters.delivery.engine import idempotency_key
from adapters.delivery.handoff import hand_off
from adapters.delivery.jobs import close_adapters
from adapters.delivery.ledger import Ledger
from adapters.payloads import Content, Delivery, Identity, delivery_id_for
from adapters.protocol import OutboundChunk
from bindings.config import TetherConfig
from bindings.errors import ProvisioningError
from bindings.model import ConversationRef
from bindings.process_config import set_process_config
from workers.runner import run_worker
from workers.worker_adapter import adapter_spec


def console_delivery(text: str = "Task complete: report ready.\nSee the thread.", event_id: str = "ev-c") -> Delivery:
    dest = ConversationRef(channel="console", conversation_id="main/thread-1", parent_conversation_id="main")
    return Delivery(delivery_id=delivery_id_for(event_id, dest), event_id=event_id, destination=dest, mode="bound",
                    reason="requester-match", content=Content(text=text),
                    identity=Identity(username="research-agent"))


def chunk_of(d: Delivery, index: int = 0, count: int = 1) -> OutboundChunk:
    return OutboundChunk(delivery=d, index=index, count=count, text=d.content.text,
                         idempotency_key=idempotency_key(d.delivery_id, index))


def test_a_message_is_printed_with_conversation_sender_and_text(any_redis: redis.Redis) -> None:
    out = io.StringIO()
    adapter = ConsoleAdapter(any_redis, out=out)
    message_id = adapter.send(chunk_of(console_delivery()))
    printed = out.getvalue()
    assert "console/default" in printed and "#main > #main/thread-1" in printed
    assert "research-agent │ Task complete: report ready." in printed
    assert "               │ See the thread." in printed
    assert message_id.startswith("console-")


def test_the_same_chunk_is_never_printed_twice(any_redis: redis.Redis) -> None:
    out = io.StringIO()
    first = ConsoleAdapter(any_redis, out=out)
    second = ConsoleAdapter(any_redis, out=out)  # another process, same Redis
    chunk = chunk_of(console_delivery())
    assert first.reconcile(chunk) is None
    ids = {first.send(chunk), second.send(chunk)}
    assert len(ids) == 1 and out.getvalue().count("Task complete") == 1
    assert second.reconcile(chunk) == ids.pop()


def test_json_lines_are_appended_when_asked(any_redis: redis.Redis, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "console.jsonl"
    monkeypatch.setenv(JSONL_ENV, str(path))
    adapter = make_adapter(TetherConfig(), any_redis)
    adapter.out = io.StringIO()
    d = console_delivery()
    adapter.send(chunk_of(d))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 1
    assert lines[0]["deliveryId"] == d.delivery_id and lines[0]["username"] == "research-agent"
    assert lines[0]["conversation"]["conversationId"] == "main/thread-1" and lines[0]["text"] == d.content.text


def test_capabilities_name_child_placement_and_the_idempotency_key(any_redis: redis.Redis) -> None:
    caps = ConsoleAdapter(any_redis).capabilities
    assert caps.placements == frozenset({"current", "child"}) and caps.idempotency_key


def test_the_provisioner_creates_distinct_child_threads(any_redis: redis.Redis) -> None:
    prov = ConsoleProvisioner(any_redis)
    parent = ConversationRef(channel="console", parent_conversation_id="main")  # as the binding service hands it
    a = prov.provision(parent, label="research", target_session_key="s1")
    b = prov.provision(parent, label=None, target_session_key="s2")
    assert a.conversation_id != b.conversation_id and a.conversation_id.startswith("main/thread-")
    assert a.metadata == {"threadName": "research"}
    with pytest.raises(ProvisioningError):
        prov.provision(ConversationRef(channel="console"), label=None, target_session_key="s3")
    with pytest.raises(ProvisioningError):  # the parent belongs in parent_conversation_id, as for every platform
        prov.provision(ConversationRef(channel="console", conversation_id="main"), label=None, target_session_key="s4")


@pytest.fixture
def console_env(real_redis: redis.Redis) -> Iterator[redis.Redis]:
    close_adapters()
    set_process_config(TetherConfig())
    yield real_redis
    close_adapters()
    set_process_config(None)


def test_the_console_worker_prints_each_delivered_message_once(console_env: redis.Redis,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    d = console_delivery()
    hand_off(console_env, d)
    hand_off(console_env, d)
    run_worker(console_env, adapter_spec("console", console_env, TetherConfig()), burst=True, with_scheduler=False)
    assert capsys.readouterr().out.count("Task complete: report ready.") == 1
    record = Ledger(console_env).get(d.delivery_id)
    assert record is not None and record.status == "delivered" and record.message_ids[0].startswith("console-")
