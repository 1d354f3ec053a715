"""The webhook conformance harness does what the suite will ask of it (until the suite itself is on main)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from adapters.payloads import Content, Delivery, Identity
from adapters.protocol import DestinationGone, PermanentError, RetryableError
from adapters.webhook.adapter import WebhookAdapter
from bindings.config import parse_config
from bindings.model import ConversationRef
from tests.adapters.webhook.conformance_harness import WebhookHarness
from tests.adapters.webhook.conftest import chunk_of


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[WebhookHarness]:
    h = WebhookHarness()
    h.start(tmp_path)
    yield h
    h.stop()


def to(ref: ConversationRef, text: str, delivery_id: str = "d-h") -> Delivery:
    return Delivery(delivery_id=delivery_id, event_id=f"e-{delivery_id}", destination=ref, mode="bound",
                    reason="requester-match", content=Content(text=text), identity=Identity(username="agent-h"))


def test_a_message_lands_where_it_was_sent_and_nowhere_else(harness: WebhookHarness, real_redis: redis.Redis) -> None:
    adapter = WebhookAdapter(parse_config(harness.config_toml()), real_redis)
    ref = harness.new_conversation("room")
    adapter.send(chunk_of(to(ref, "hello")))
    [landed] = harness.landed(ref)
    assert (landed.text, landed.sender) == ("hello", "agent-h")
    assert harness.landed_outside(ref) == []


def test_faults_errors_state_and_rotation(harness: WebhookHarness, real_redis: redis.Redis) -> None:
    adapter = WebhookAdapter(parse_config(harness.config_toml()), real_redis)
    ref = harness.new_conversation("room")
    harness.fault("lose-answer")
    with pytest.raises(RetryableError):
        adapter.send(chunk_of(to(ref, "once")))
    adapter.send(chunk_of(to(ref, "once")))
    assert [m.text for m in harness.landed(ref)] == ["once"]
    kinds = {400: PermanentError, 410: DestinationGone, 502: RetryableError}
    for case in harness.error_cases():
        if case.status in kinds:
            harness.inject_error(case)
            with pytest.raises(kinds[case.status]):
                adapter.send(chunk_of(to(ref, case.name, delivery_id=f"d-{case.name}")))
    harness.rotate_token()
    adapter.send(chunk_of(to(ref, "after rotation", delivery_id="d-rot")))
    assert harness.landed(ref)[-1].text == "after rotation"
    harness.set_state(ref, "deleted")
    with pytest.raises(DestinationGone):
        adapter.send(chunk_of(to(ref, "gone", delivery_id="d-gone")))
