"""Delivery outcomes, run through the real job function in an in-process RQ worker on the real redis-server:
chunk progress across retries, retries with attempts recorded, dead letters with reasons, the destination-gone
rule, replay, duplicates and `rq requeue`."""

from __future__ import annotations

import pytest
import redis
from rq.registry import FailedJobRegistry

from adapters.delivery.deadletter import DeadLetterQueue
from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.delivery.reaper import reap_expired_leases
from adapters.delivery.replay import replay_delivery_letter
from adapters.delivery.rqwire import MsgspecJSONSerializer, deliver_queue_name, tether_queue
from adapters.delivery.settings import job_id_for
from bindings.config import TetherConfig
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from tests.adapters.fixtures import Drain, make_config
from tests.adapters.support import CHANNEL, STARTED, make_delivery, script, sent
from tests.support.waiting import wait_for


def texts(client: redis.Redis) -> list[tuple[int, str]]:
    return [(s.index, s.text) for s in sent(client)]


def test_a_delivery_is_sent_chunk_by_chunk_and_recorded(probe_env: redis.Redis, drain: Drain) -> None:
    d = make_delivery(text="one|two")
    hand_off(probe_env, d)
    drain()
    record = Ledger(probe_env).get(d.delivery_id)
    assert record is not None and record.status == "delivered" and record.attempts == 1
    assert record.message_ids == [s.message_id for s in sent(probe_env)]
    assert texts(probe_env) == [(0, "one"), (1, "two")]
    keys = [s.key for s in sent(probe_env)]
    assert len(set(keys)) == 2 and all(len(k) <= 25 for k in keys)


def test_a_four_chunk_delivery_failing_after_chunk_two_resends_chunks_three_and_four_only(
        probe_env: redis.Redis, drain: Drain) -> None:
    d = make_delivery(text="c1|c2|c3|c4")
    script(probe_env, "ok", "ok", "retry")
    hand_off(probe_env, d)
    drain()
    assert texts(probe_env) == [(0, "c1"), (1, "c2"), (2, "c3"), (3, "c4")]
    record = Ledger(probe_env).get(d.delivery_id)
    assert record is not None and record.status == "delivered" and record.attempts == 2
    assert len(record.message_ids) == 4


def test_retryable_error_three_times_then_success_is_delivered_with_attempts_recorded(
        probe_env: redis.Redis, drain: Drain) -> None:
    d = make_delivery()
    script(probe_env, "retry", "retry-after:0.1", "retry")
    hand_off(probe_env, d)
    drain()
    record = Ledger(probe_env).get(d.delivery_id)
    assert record is not None and record.status == "delivered" and record.attempts == 4
    assert record.last_error == "RetryableError: 503 Service Unavailable"
    assert len(sent(probe_env)) == 1
    assert DeadLetterQueue(probe_env).count() == 0


@pytest.mark.parametrize("config", [make_config(max_attempts=3)])
def test_retries_are_capped_then_dead_lettered_retries_exhausted(probe_env: redis.Redis, drain: Drain) -> None:
    d = make_delivery()
    script(probe_env, "retry", "retry", "retry", "ok")
    hand_off(probe_env, d)
    drain()
    letter = DeadLetterQueue(probe_env).get(d.delivery_id)
    assert letter is not None and letter.reason == "retries-exhausted" and letter.attempts == 3
    assert sent(probe_env) == []


def test_permanent_error_is_dead_lettered_with_its_reason_and_no_secret(probe_env: redis.Redis, drain: Drain) -> None:
    d = make_delivery(event_id="ev-perm", binding_id="b-1")
    script(probe_env, "permanent:forbidden")
    hand_off(probe_env, d)
    drain()
    letter = DeadLetterQueue(probe_env).get(d.delivery_id)
    assert letter is not None
    assert (letter.reason, letter.source, letter.attempts) == ("forbidden", "delivery", 1)
    assert (letter.event_id, letter.delivery_id, letter.destination) == ("ev-perm", d.delivery_id, d.destination)
    assert letter.decision == {"mode": "bound", "reason": "requester-match", "bindingId": "b-1",
                               "targetSessionKey": "agent:main:subagent:abc"}
    assert letter.last_error is not None and "Bot [redacted]" in letter.last_error
    assert "MTIzNDU2" not in letter.last_error
    record = Ledger(probe_env).get(d.delivery_id)
    assert record is not None and record.status == "dead" and "MTIzNDU2" not in (record.last_error or "")
    assert sent(probe_env) == []


@pytest.mark.parametrize(("action", "end_reason"), [("gone", "thread-delete"), ("gone:endpoint-gone", "endpoint-gone")])
def test_destination_gone_ends_the_binding_and_sends_nothing_anywhere(probe_env: redis.Redis, drain: Drain,
                                                                      config: TetherConfig, action: str,
                                                                      end_reason: str) -> None:
    """The binding ends with the reason the adapter gives (`DestinationGone.end_reason`), `thread-delete` unless
    it names another."""
    svc = SessionBindingService(probe_env, config)
    binding = svc.bind(target_session_key="agent:main:subagent:abc", target_kind="subagent",
                       conversation=ConversationRef(channel=CHANNEL, conversation_id="thread-9"))
    d = make_delivery(conversation_id="thread-9", binding_id=binding.binding_id)
    script(probe_env, action)
    hand_off(probe_env, d)
    drain()
    letter = DeadLetterQueue(probe_env).get(d.delivery_id)
    assert letter is not None and letter.reason == "destination-gone"
    ended = svc.get(binding.binding_id)
    assert ended is not None and ended.status == "ended" and ended.end_reason == end_reason
    assert sent(probe_env) == []
    assert probe_env.llen(STARTED) == 1  # one attempt, nothing retried, no other destination tried
    assert tether_queue(deliver_queue_name(CHANNEL), probe_env).count == 0


def test_replay_after_the_cause_is_fixed_delivers_once(probe_env: redis.Redis, drain: Drain) -> None:
    d = make_delivery(text="a|b|c")
    script(probe_env, "ok", "permanent:forbidden")
    hand_off(probe_env, d)
    drain()
    letter = DeadLetterQueue(probe_env).get(d.delivery_id)
    assert letter is not None
    result = replay_delivery_letter(probe_env, letter)
    assert result.outcome == "replayed"
    assert DeadLetterQueue(probe_env).count() == 0
    drain()
    assert texts(probe_env) == [(0, "a"), (1, "b"), (2, "c")]  # chunk 0 not sent again
    again = replay_delivery_letter(probe_env, letter)  # the same letter, replayed a second time
    drain()
    assert again.outcome == "already-delivered"
    assert len(sent(probe_env)) == 3


def test_replay_of_a_delivered_record_sends_nothing(probe_env: redis.Redis, drain: Drain) -> None:
    d = make_delivery()
    hand_off(probe_env, d)
    drain()
    from adapters.delivery.deadletter import DeadLetter

    stale = DeadLetter(id=d.delivery_id, event_id=d.event_id, delivery_id=d.delivery_id, reason="forbidden",
                       attempts=1, last_error=None, destination=d.destination, dead_at=0, source="delivery",
                       delivery=d)
    DeadLetterQueue(probe_env).put(stale)
    result = replay_delivery_letter(probe_env, stale)
    drain()
    assert result.outcome == "already-delivered"
    assert len(sent(probe_env)) == 1
    assert DeadLetterQueue(probe_env).count() == 0


def test_an_ambiguous_send_is_reconciled_not_sent_twice(probe_env: redis.Redis, drain: Drain) -> None:
    d = make_delivery(text="a|b")
    script(probe_env, "sent-then-timeout")  # chunk 0 reaches the platform, the response is lost
    hand_off(probe_env, d)
    drain()
    assert texts(probe_env) == [(0, "a"), (1, "b")]
    record = Ledger(probe_env).get(d.delivery_id)
    assert record is not None and record.status == "delivered" and record.attempts == 2


@pytest.mark.parametrize("config", [make_config(lease_s=0.5)])
def test_duplicate_hand_offs_duplicate_jobs_and_rq_requeue_never_send_twice(probe_env: redis.Redis,
                                                                           drain: Drain, config: TetherConfig) -> None:
    d = make_delivery()
    script(probe_env, "redis-error")  # the job fails in RQ with the lease held
    hand_off(probe_env, d)
    hand_off(probe_env, d)
    drain()
    queue = tether_queue(deliver_queue_name(CHANNEL), probe_env)
    failed = FailedJobRegistry(queue.name, connection=probe_env, serializer=MsgspecJSONSerializer)
    assert failed.get_job_ids() == [job_id_for(d.delivery_id)]
    # The worker "died" holding the lease: the reaper hands the delivery on once the lease is over — this one, or
    # the drain worker's own when draining outlasts the lease (which may then even have delivered it already).
    def reaped() -> bool:
        reap_expired_leases(probe_env, config)
        record = Ledger(probe_env).get(d.delivery_id)
        return record is not None and record.job_id == f"{job_id_for(d.delivery_id)}-r1"

    wait_for(reaped, timeout_s=5, what="the lease to be reaped")
    drain()
    assert len(sent(probe_env)) == 1
    failed.requeue(job_id_for(d.delivery_id))  # `rq requeue`
    queue.enqueue("adapters.delivery.jobs.deliver", {"deliveryId": d.delivery_id, **_wire(d)})  # a stray duplicate
    hand_off(probe_env, d)
    drain()
    assert len(sent(probe_env)) == 1
    record = Ledger(probe_env).get(d.delivery_id)
    assert record is not None and record.status == "delivered"


def test_a_job_without_a_ledger_record_sends_nothing(probe_env: redis.Redis, drain: Drain) -> None:
    d = make_delivery()
    queue = tether_queue(deliver_queue_name(CHANNEL), probe_env)
    queue.enqueue("adapters.delivery.jobs.deliver", _wire(d))
    drain()
    assert sent(probe_env) == []


def _wire(d: object) -> dict[str, object]:
    import msgspec

    out: dict[str, object] = msgspec.to_builtins(d)
    return out
