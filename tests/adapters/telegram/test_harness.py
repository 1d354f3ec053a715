"""The conformance harness of Telegram does what the suite will rely on: conversations, reading back, error cases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from adapters.payloads import Content, Delivery
from adapters.protocol import DestinationGone, OutboundChunk, PermanentError
from adapters.telegram.adapter import TelegramAdapter
from bindings.config import parse_config
from tests.adapters.telegram.harness import TelegramHarness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[TelegramHarness]:
    h = TelegramHarness()
    h.start(tmp_path)
    yield h
    h.stop()


def send(h: TelegramHarness, client: redis.Redis, ref: object, text: str) -> str:
    adapter = TelegramAdapter(parse_config(h.config_toml()), client)
    d = Delivery(delivery_id="d", event_id="e", destination=ref, mode="fallback",  # type: ignore[arg-type]
                 reason="no-active-binding", content=Content(text=text))
    return adapter.send(OutboundChunk(delivery=d, index=0, count=1, text=text, idempotency_key="k"))


def test_a_sent_message_reads_back_in_its_conversation_and_not_outside(harness: TelegramHarness,
                                                                       real_redis: redis.Redis) -> None:
    ref = harness.new_conversation("a")
    message_id = send(harness, real_redis, ref, "hello")
    assert [(x.text, x.message_id) for x in harness.landed(ref)] == [("hello", message_id)]
    assert harness.landed_outside(ref) == []
    assert harness.parent_of(ref).conversation_id == str(harness.forum_id)


def test_every_error_case_ends_as_it_says(harness: TelegramHarness, real_redis: redis.Redis) -> None:
    token = harness.secrets()[0]
    for case in harness.error_cases():
        ref = harness.new_conversation(case.name)
        case.arrange(ref)
        kind, _, reason = case.expect.partition(":")
        with pytest.raises(DestinationGone if kind == "destination-gone" else PermanentError) as caught:
            send(harness, real_redis, ref, "x")
        got = caught.value
        assert (got.end_reason if isinstance(got, DestinationGone) else got.reason) == reason, case.name
        harness.fake.set_token(token)  # undo the case for the next one
        harness.fake.set_chat(harness.forum_id, bot_status="administrator")


def test_rotation_and_faults(harness: TelegramHarness, real_redis: redis.Redis) -> None:
    ref = harness.new_conversation("r")
    harness.rotate_token()
    send(harness, real_redis, ref, "after rotation")
    harness.fault("429", retry_after_s=0.05)
    send(harness, real_redis, ref, "after 429")
    assert [x.text for x in harness.landed(ref)] == ["after rotation", "after 429"]
