"""What the engine does with a chunk whose send has no known outcome (the response was lost), by what the adapter
declares in `Capabilities`: an idempotency key → resend with the same key; reconcile → look first, send only if the
message is not there; neither → `channels.<ch>.unknownSend`: "resend" (at-least-once, a duplicate is possible) or
"dead-letter" (at-most-once, dead letter `unknown-send`).

The engine is driven directly on fakeredis, with the probe adapter of tests/adapters/support.py: its
`sent-then-timeout` action lands the message and then loses the answer."""

from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis

from adapters.delivery.deadletter import DeadLetterQueue
from adapters.delivery.engine import DeliveryEngine, Outcome
from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.payloads import Delivery
from adapters.protocol import Capabilities, OutboundChunk
from bindings.config import TetherConfig, parse_config
from tests.adapters.support import CHANNEL, STARTED, TEST_CONFIG, ProbeAdapter, make_delivery, script, sent

CONFIG = TEST_CONFIG.format(lease_s=2.0, reaper_interval_s=0.25, max_attempts=8)


class KeyedProbe(ProbeAdapter):
    """A platform that takes an idempotency key: a send repeating a key gets the first message back."""

    capabilities = Capabilities(placements=frozenset({"current"}), idempotency_key=True, reconcile=False,
                                max_message_length=100)
    reconciled = 0

    def _record(self, chunk: OutboundChunk) -> str:
        found = self.client.hget("probe:sent-keys", chunk.idempotency_key)
        return found.decode() if isinstance(found, bytes) else super()._record(chunk)

    def reconcile(self, chunk: OutboundChunk) -> str | None:
        self.reconciled += 1
        return super().reconcile(chunk)


class ReconcilingProbe(ProbeAdapter):
    """A platform tether can search for a sent message (the probe as it is), counting the searches."""

    reconciled = 0

    def reconcile(self, chunk: OutboundChunk) -> str | None:
        self.reconciled += 1
        return super().reconcile(chunk)


class BlindProbe(ProbeAdapter):
    """A platform with neither an idempotency key nor a way to find a sent message (Telegram-like)."""

    capabilities = Capabilities(placements=frozenset({"current"}), idempotency_key=False, reconcile=False,
                                max_message_length=100)

    def reconcile(self, chunk: OutboundChunk) -> str | None:
        raise AssertionError("the engine must not reconcile on a platform that cannot")


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield c
    c.close()


def _run_twice(client: redis.Redis, adapter: ProbeAdapter, config: TetherConfig,
               delivery: Delivery) -> tuple[Outcome, Outcome]:
    """The first attempt lands the message and loses the answer; the second one follows."""
    engine = DeliveryEngine(client, config, adapter_for=lambda channel: adapter, owner="w-1")
    hand_off(client, delivery, config=config)
    script(client, "sent-then-timeout")
    first = engine.run(delivery)
    assert first.status == "retry"
    record = Ledger(client).get(delivery.delivery_id)
    assert record is not None and record.inflight_chunk == 0  # the send's outcome is unknown
    return first, engine.run(delivery)


def test_an_idempotency_key_resends_with_the_same_key_and_the_platform_keeps_one_message(
        client: redis.Redis) -> None:
    adapter = KeyedProbe(client)
    _, second = _run_twice(client, adapter, parse_config(CONFIG), make_delivery())

    assert second.status == "delivered"
    assert len(client.lrange(STARTED, 0, -1)) == 2  # sent again ...
    assert len(sent(client)) == 1  # ... with the same key, so the platform kept one message
    assert second.message_ids == [sent(client)[0].message_id]
    assert adapter.reconciled == 0


def test_reconcile_looks_first_and_does_not_send_a_message_that_landed(client: redis.Redis) -> None:
    adapter = ReconcilingProbe(client)
    _, second = _run_twice(client, adapter, parse_config(CONFIG), make_delivery())

    assert second.status == "delivered"
    assert adapter.reconciled == 1
    assert len(client.lrange(STARTED, 0, -1)) == 1  # not sent again
    assert second.message_ids == [sent(client)[0].message_id]


def test_reconcile_that_finds_nothing_sends_the_chunk(client: redis.Redis) -> None:
    adapter = ReconcilingProbe(client)
    delivery = make_delivery()
    engine = DeliveryEngine(client, parse_config(CONFIG), adapter_for=lambda channel: adapter, owner="w-1")
    hand_off(client, delivery, config=parse_config(CONFIG))
    script(client, "retry")  # failed before reaching the platform, but the engine cannot know
    assert engine.run(delivery).status == "retry"
    second = engine.run(delivery)

    assert (second.status, adapter.reconciled, len(sent(client))) == ("delivered", 1, 1)


def test_neither_with_unknown_send_resend_sends_again_at_least_once(client: redis.Redis) -> None:
    config = parse_config(CONFIG + f'\n[channels.{CHANNEL}]\nunknownSend = "resend"\n')
    _, second = _run_twice(client, BlindProbe(client), config, make_delivery())

    assert second.status == "delivered"
    assert [s.index for s in sent(client)] == [0, 0]  # the documented duplicate of at-least-once
    assert DeadLetterQueue(client).count() == 0


def test_neither_and_no_policy_configured_resends_by_default(client: redis.Redis) -> None:
    _, second = _run_twice(client, BlindProbe(client), parse_config(CONFIG), make_delivery())

    assert second.status == "delivered" and len(sent(client)) == 2


def test_neither_with_unknown_send_dead_letter_dead_letters_without_sending_again(client: redis.Redis) -> None:
    config = parse_config(CONFIG + f'\n[channels.{CHANNEL}]\nunknownSend = "dead-letter"\n')
    delivery = make_delivery()
    _, second = _run_twice(client, BlindProbe(client), config, delivery)

    assert (second.status, second.reason) == ("dead", "unknown-send")
    assert len(client.lrange(STARTED, 0, -1)) == 1  # at most once: never sent again
    record = Ledger(client).get(delivery.delivery_id)
    assert record is not None and (record.status, record.dead_reason) == ("dead", "unknown-send")
    letter = DeadLetterQueue(client).get(delivery.delivery_id)
    assert letter is not None and letter.reason == "unknown-send" and letter.delivery == delivery
