"""The route job, in-process, on real Redis: decisions, sticky retries, duplicates, dead letters, hand-off.

No adapter worker runs here: a routed event is a delivery waiting on `deliver.<channel>` plus its ledger record.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from adapters.delivery.deadletter import DeadLetterQueue, router_dead_letter_id
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, ROUTE_JOB, tether_queue
from adapters.payloads import delivery_id_for
from adapters.registry import register_adapter
from bindings.clock import ManualClock
from bindings.config import parse_config
from bindings.model import SessionBindingRecord
from bindings.service import SessionBindingService
from router import availability, routing
from router.enqueue import enqueue_completion, requeue_event
from router.routing import route
from router.store import RouterStore, for_client
from tests.router.factories import SPAWN_OFF_TOML, SPAWN_ON_TOML, conv, event, write_config
from tests.router.support import ledger_ids, queued_deliveries
from workers.runner import run_worker
from workers.worker_router import router_spec

SESSION = "agent:main:subagent:abc"
EVENT_ID = "v1:agent:main:subagent:abc:run-1"
SPAWN_ON = parse_config(SPAWN_ON_TOML)
SPAWN_OFF = parse_config(SPAWN_OFF_TOML)


@pytest.fixture
def spawn_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Thread-bound spawning on for discord and console, for jobs run by a worker (they read TETHER_CONFIG)."""
    path = write_config(tmp_path)
    monkeypatch.setenv("TETHER_CONFIG", str(path))
    return path


@pytest.fixture
def svc(real_redis: redis.Redis) -> SessionBindingService:
    return SessionBindingService(real_redis, SPAWN_ON)


def _run_router(client: redis.Redis) -> None:
    run_worker(client, router_spec(client, SPAWN_ON), burst=True, with_scheduler=False)


class _FlakyHandOff:
    """Fails the first `failures` hand-offs (as a Redis blip or a crash would), then hands off for real."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.real = routing.hand_off

    def __call__(self, client: redis.Redis, delivery: Any) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise redis.ConnectionError("connection reset while handing off")
        return self.real(client, delivery)


def _thread_expiring_in_a_minute(client: redis.Redis) -> tuple[ManualClock, SessionBindingService,
                                                               SessionBindingRecord]:
    """SESSION bound to a thread under channel 111 for one minute of a manual clock."""
    clock = ManualClock()
    svc = SessionBindingService(client, SPAWN_ON, clock=clock)
    thread = svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("thread-1", parent="111"),
                      ttl_ms=60_000)
    return clock, svc, thread


def _hand_off_fails_once_after_the_decision(monkeypatch: pytest.MonkeyPatch, failures: int = 1) -> _FlakyHandOff:
    """The decision is stored without its delivery (the route script hands nothing off, as when its hand-off part
    fails), and the router's own hand-off then fails `failures` times."""
    flaky = _FlakyHandOff(failures)
    monkeypatch.setattr(routing, "prepare_hand_off", lambda client, delivery: None)
    monkeypatch.setattr(routing, "hand_off", flaky)
    return flaky


def _reply_lost_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The route script runs (decision stored, delivery handed off) but its reply is lost the first time (the
    connection drops, or the worker dies there): the job fails although the delivery is handed off."""
    real = RouterStore.claim
    calls = []

    def claim(store: RouterStore, **kwargs: Any) -> Any:
        calls.append(1)
        found = real(store, **kwargs)
        if len(calls) == 1:
            raise redis.ConnectionError("connection reset reading the reply")
        return found

    monkeypatch.setattr(RouterStore, "claim", claim)


@pytest.fixture
def no_pigeon_adapter() -> Iterator[None]:
    from adapters import registry

    yield
    registry._registered.pop("pigeon", None)
    availability.forget("pigeon")


def test_routing_a_bound_session_mode_completion_hands_off_to_the_thread_only(
    real_redis: redis.Redis, svc: SessionBindingService
) -> None:
    """The routing half of the plan's "completion for bound session-mode run resolves to thread destination only";
    end to end (workers, the local Discord API): tests/adapters/discord/test_plan_end_to_end.py."""
    thread = svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("thread-1", parent="111"))

    result = route(real_redis, SPAWN_ON, event(spawnMode="session"), job_id="j1", bindings=svc)

    assert (result.outcome, result.mode, result.reason) == ("handed-off", "bound", "requester-match")
    [delivery] = queued_deliveries(real_redis, "discord")
    assert delivery.destination == thread.conversation
    assert (delivery.binding_id, delivery.mode, delivery.content.text) == (thread.binding_id, "bound",
                                                                           "Task complete: done")
    assert delivery.identity is not None and delivery.identity.username == "research-agent"
    assert ledger_ids(real_redis) == {delivery.delivery_id}
    assert delivery_id_for(EVENT_ID, conv("111")) not in ledger_ids(real_redis)


def test_routing_with_the_spawn_flag_off_falls_back_to_the_requester_as_before(
    real_redis: redis.Redis, svc: SessionBindingService
) -> None:
    """The routing half of the plan's "disabled spawn flag keeps legacy behavior unchanged"; end to end:
    tests/adapters/discord/test_plan_end_to_end.py."""
    svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("thread-1", parent="111"))

    result = route(real_redis, SPAWN_OFF, event(), job_id="j1", bindings=svc)

    assert (result.outcome, result.mode, result.reason) == ("handed-off", "fallback", "bindings-disabled")
    [delivery] = queued_deliveries(real_redis, "discord")
    assert delivery.destination == conv("111")
    assert delivery.binding_id is None
    decision = for_client(real_redis).load_decision(EVENT_ID)
    assert decision is not None and (decision.mode, decision.reason, decision.binding) == (
        "fallback", "bindings-disabled", None)


def test_the_same_event_in_three_jobs_is_routed_once(real_redis: redis.Redis, svc: SessionBindingService) -> None:
    svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("thread-1", parent="111"))

    outcomes = [route(real_redis, SPAWN_ON, event(), job_id=f"j{i}", bindings=svc).outcome for i in range(3)]

    assert outcomes == ["handed-off", "duplicate", "duplicate"]
    assert len(queued_deliveries(real_redis, "discord")) == 1
    assert for_client(real_redis).counters()["outcome:duplicate"] == 2


def test_binding_expires_between_a_failed_attempt_and_its_retry_same_destination_as_the_first_decision(
    real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, svc, thread = _thread_expiring_in_a_minute(real_redis)
    flaky = _hand_off_fails_once_after_the_decision(monkeypatch)

    with pytest.raises(redis.ConnectionError):
        route(real_redis, SPAWN_ON, event(), job_id="j1", clock=clock, bindings=svc)
    assert ledger_ids(real_redis) == set()  # decided, not handed off
    clock.advance(120_000)
    assert svc.list_by_session(SESSION) == []  # a fresh decision would now fall back to channel 111
    retry = route(real_redis, SPAWN_ON, event(), job_id="j1", clock=clock, bindings=svc)

    assert (retry.outcome, retry.decision, retry.reason) == ("handed-off", "sticky", "requester-match")
    [delivery] = queued_deliveries(real_redis, "discord")
    assert delivery.destination == thread.conversation
    assert ledger_ids(real_redis) == {delivery.delivery_id}
    assert flaky.calls == 2


def test_a_lost_reply_after_decision_and_hand_off_leads_on_retry_to_exactly_one_delivery(
    real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, svc, thread = _thread_expiring_in_a_minute(real_redis)
    _reply_lost_once(monkeypatch)

    with pytest.raises(redis.ConnectionError):
        route(real_redis, SPAWN_ON, event(), job_id="j1", clock=clock, bindings=svc)
    clock.advance(120_000)  # the binding expires before RQ retries the job
    retry = route(real_redis, SPAWN_ON, event(), job_id="j1", clock=clock, bindings=svc)

    assert (retry.outcome, retry.decision, retry.reason) == ("handed-off", "sticky", "requester-match")
    [delivery] = queued_deliveries(real_redis, "discord")
    assert delivery.destination == thread.conversation
    assert ledger_ids(real_redis) == {delivery.delivery_id}


def test_a_crash_after_the_hand_off_leads_on_retry_to_exactly_one_delivery(
    real_redis: redis.Redis, svc: SessionBindingService
) -> None:
    svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("thread-1", parent="111"))
    first = route(real_redis, SPAWN_ON, event(), job_id="j1", bindings=svc)
    # The worker died before RQ recorded the job as finished: RQ runs the same job again.
    second = route(real_redis, SPAWN_ON, event(), job_id="j1", bindings=svc)

    assert (first.decision, second.decision) == ("new", "sticky")
    assert first.delivery_id == second.delivery_id
    assert len(queued_deliveries(real_redis, "discord")) == 1
    assert len(ledger_ids(real_redis)) == 1


def test_fallback_without_a_requester_is_dead_lettered_no_destination(
    real_redis: redis.Redis, svc: SessionBindingService
) -> None:
    result = route(real_redis, SPAWN_ON, event(no_requester=True), job_id="j1", bindings=svc)

    assert (result.outcome, result.dead_letter_reason, result.reason) == ("dead-letter", "no-destination",
                                                                          "no-active-binding")
    letter = DeadLetterQueue(real_redis).get(result.dead_letter_id or "")
    assert letter is not None
    assert (letter.reason, letter.event_id, letter.source, letter.destination) == ("no-destination", EVENT_ID,
                                                                                   "router", None)
    assert letter.decision is not None and letter.decision["reason"] == "no-active-binding"
    assert queued_deliveries(real_redis, "discord") == []


def test_a_channel_without_an_adapter_is_dead_lettered_and_a_replay_reuses_the_decision(
    real_redis: redis.Redis, spawn_on: Path, no_pigeon_adapter: None
) -> None:
    pigeon_event = event(requester={"channel": "pigeon", "conversationId": "C1"})
    result = route(real_redis, SPAWN_ON, pigeon_event, job_id="j1")
    assert (result.outcome, result.dead_letter_reason) == ("dead-letter", "no-adapter:pigeon")
    letter = DeadLetterQueue(real_redis).get(router_dead_letter_id(EVENT_ID, b""))
    assert letter is not None and letter.destination == conv("C1", channel="pigeon")

    register_adapter("pigeon", lambda config, client: None)  # type: ignore[arg-type, return-value]
    requeue_event(real_redis, letter.event or "")
    _run_router(real_redis)

    [delivery] = queued_deliveries(real_redis, "pigeon")
    assert (delivery.destination, delivery.reason) == (conv("C1", channel="pigeon"), "bindings-disabled")


def test_a_reroute_records_a_new_decision_and_keeps_the_old_one(
    real_redis: redis.Redis, svc: SessionBindingService, spawn_on: Path
) -> None:
    route(real_redis, SPAWN_ON, event(), job_id="j1", bindings=svc)  # no binding yet: fallback to 111
    thread = svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("thread-1", parent="111"))

    requeue_event(real_redis, event())  # a plain replay keeps the first decision
    _run_router(real_redis)
    assert [d.destination for d in queued_deliveries(real_redis, "discord")] == [conv("111")]

    requeue_event(real_redis, event(), reroute=True)
    _run_router(real_redis)

    state = for_client(real_redis).state(EVENT_ID)
    assert state is not None and state.decision is not None
    assert [(d.mode, d.reason) for d in state.history] == [("fallback", "no-active-binding")]
    assert (state.decision.mode, state.decision.binding_id) == ("bound", thread.binding_id)
    assert {d.destination for d in queued_deliveries(real_redis, "discord")} == {conv("111"), thread.conversation}


def test_an_invalid_event_is_dead_lettered_with_its_field_path(real_redis: redis.Redis) -> None:
    bad = event(requester={"channel": 42, "conversationId": "111"})

    result = route(real_redis, SPAWN_ON, bad, job_id="j1")

    assert result.outcome == "invalid-event"
    letter = DeadLetterQueue(real_redis).get(result.dead_letter_id or "")
    assert letter is not None
    assert (letter.reason, letter.event_id) == ("invalid-event", EVENT_ID)
    assert letter.last_error is not None and letter.last_error.startswith("requester.channel: expected `str")
    assert msgspec.json.decode(letter.event or "") == bad
    assert for_client(real_redis).load_event(EVENT_ID) is None  # never claimed: a corrected event routes normally


@pytest.mark.parametrize("payload", ["a string", [1, 2], None])
def test_a_payload_that_is_not_an_event_object_is_dead_lettered(real_redis: redis.Redis, payload: object) -> None:
    result = route(real_redis, SPAWN_ON, payload, job_id="j1")
    assert result.outcome == "invalid-event"
    letter = DeadLetterQueue(real_redis).get(result.dead_letter_id or "")
    assert letter is not None and letter.last_error is not None and letter.last_error.startswith("event: expected")


def test_an_undecodable_job_is_dead_lettered_invalid_event_without_retries(
    real_redis: redis.Redis, spawn_on: Path
) -> None:
    real_redis.hset("rq:job:garbage-1", mapping={"data": b"\x00not json", "origin": COMPLETIONS_QUEUE,
                                                 "status": "queued", "retries_left": 3})
    real_redis.rpush("rq:queue:completions", "garbage-1")

    _run_router(real_redis)

    [letter] = DeadLetterQueue(real_redis).letters()
    assert (letter.reason, letter.event_id) == ("invalid-event", None)
    assert letter.last_error is not None and "[func_name, null, [event], {}]" in letter.last_error
    queue = tether_queue(COMPLETIONS_QUEUE, real_redis)
    assert real_redis.hget("rq:job:garbage-1", "retries_left") == b"3"  # no retry was spent on it
    assert (queue.count, queue.scheduled_job_registry.count, queue.failed_job_registry.count) == (0, 0, 1)


def test_a_route_job_that_keeps_failing_is_dead_lettered_route_failed_and_can_be_replayed(
    real_redis: redis.Redis, svc: SessionBindingService, spawn_on: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hand_off_fails_once_after_the_decision(monkeypatch)
    tether_queue(COMPLETIONS_QUEUE, real_redis).enqueue(ROUTE_JOB, event())  # no retries left
    _run_router(real_redis)

    [letter] = DeadLetterQueue(real_redis).letters()
    assert (letter.reason, letter.event_id) == ("route-failed", EVENT_ID)
    assert letter.last_error == "ConnectionError: connection reset while handing off"

    requeue_event(real_redis, letter.event or "")
    _run_router(real_redis)
    [delivery] = queued_deliveries(real_redis, "discord")
    assert delivery.destination == conv("111")  # the first decision (no binding: fallback) is kept


def test_enqueued_events_are_routed_by_the_router_worker(real_redis: redis.Redis, svc: SessionBindingService,
                                                         spawn_on: Path) -> None:
    thread = svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("thread-1", parent="111"))
    job_id = enqueue_completion(real_redis, event())

    _run_router(real_redis)

    [delivery] = queued_deliveries(real_redis, "discord")
    assert delivery.destination == thread.conversation
    job = tether_queue(COMPLETIONS_QUEUE, real_redis).fetch_job(job_id)
    assert job is not None
    result = job.return_value()
    assert result is not None and result["outcome"] == "handed-off"


def test_a_job_written_as_the_readme_queue_contract_says_is_routed(real_redis: redis.Redis, spawn_on: Path) -> None:
    """The exact commands a TypeScript runner issues (README, "Queue contract for non-Python producers")."""
    ev = event()
    now = "2026-11-24T12:00:00.000000Z"
    pipe = real_redis.pipeline(transaction=True)
    pipe.hset("rq:job:0b6f3f0e-ts", mapping={
        "data": msgspec.json.encode(["router.jobs.route_completion", None, [ev], {}]),
        "origin": "completions", "status": "queued", "created_at": now, "enqueued_at": now,
        "description": f"route {ev['eventId']}", "timeout": "180",
        "retries_left": "5", "retry_intervals": "[0, 5, 30, 120, 600]",
    })
    pipe.sadd("rq:queues", "rq:queue:completions")
    pipe.rpush("rq:queue:completions", "0b6f3f0e-ts")
    pipe.execute()

    _run_router(real_redis)

    [delivery] = queued_deliveries(real_redis, "discord")
    assert (delivery.event_id, delivery.destination) == (EVENT_ID, conv("111"))
    job = tether_queue(COMPLETIONS_QUEUE, real_redis).fetch_job("0b6f3f0e-ts")
    assert job is not None and job.get_status() == "finished"
