"""A hypothesis state machine: bind / touch / unbind / sweep / advance the clock against the store and against a
plain in-memory model of DESIGN §3; after every step, every read agrees with the model. Runs on fakeredis and on
the real redis-server (whose Lua is ~5x faster, so it explores more in the same time)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bindings.clock import ManualClock
from bindings.codec import deadline
from bindings.config import TetherConfig
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from bindings.sweep import sweep_once

T0 = 1_764_000_000_000
SESSIONS = ["agent:main:subagent:a", "agent:main:subagent:b", "agent:main:subagent:c"]
CONVERSATIONS = [
    ("discord", "default", "t1"),
    ("discord", "default", "t2"),
    ("discord", "ops", "t1"),
    ("slack", "default", "t1"),
]


@dataclass
class Model:
    binding_id: str
    session: str
    conversation: tuple[str, str, str]
    bound_at: int
    last_activity_at: int
    idle_ms: int | None
    max_age_ms: int | None
    status: str = "active"
    end_reason: str | None = None

    @property
    def expires_at(self) -> int | None:
        return deadline(self.bound_at, self.last_activity_at, self.idle_ms, self.max_age_ms)

    def live(self, now: int) -> bool:
        return self.status == "active" and (self.expires_at is None or now < self.expires_at)

    def expiry_reason(self, now: int) -> str | None:
        e = self.expires_at
        if e is None or now < e:
            return None
        if self.max_age_ms and self.bound_at + self.max_age_ms <= e:
            return "max-age-expired"
        return "idle-expired"

    def end(self, reason: str, now: int) -> str:
        self.status, self.end_reason = "ended", self.expiry_reason(now) or reason
        return self.end_reason


def ref(conversation: tuple[str, str, str]) -> ConversationRef:
    channel, account, cid = conversation
    return ConversationRef(channel=channel, account_id=account, conversation_id=cid)


class BindingStoreMachine(RuleBasedStateMachine):
    client: redis.Redis  # set by the test, flushed for every example

    def __init__(self) -> None:
        super().__init__()
        self.client.flushall()
        self.clock = ManualClock(T0)
        self.svc = SessionBindingService(self.client, TetherConfig(), clock=self.clock)
        self.heard: list[tuple[str, str | None]] = []
        self.svc.add_end_listener(lambda r: self.heard.append((r.binding_id, r.end_reason)))
        self.model: dict[str, Model] = {}  # by binding id, in bind order
        self.expected_heard: list[tuple[str, str]] = []

    @property
    def now(self) -> int:
        return self.clock.now_ms()

    def _ended(self, m: Model, reason: str) -> None:
        self.expected_heard.append((m.binding_id, m.end(reason, self.now)))

    @initialize(
        session=st.sampled_from(SESSIONS),
        conversation=st.sampled_from(CONVERSATIONS),
        idle_ms=st.sampled_from([0, 1000, 3000]),
        max_age_ms=st.sampled_from([0, 2000, 6000]),
    )
    def first_binding(self, session: str, conversation: tuple[str, str, str], idle_ms: int, max_age_ms: int) -> None:
        self.bind(session, conversation, idle_ms, max_age_ms)

    @rule(
        session=st.sampled_from(SESSIONS),
        conversation=st.sampled_from(CONVERSATIONS),
        idle_ms=st.sampled_from([0, 1000, 3000]),
        max_age_ms=st.sampled_from([0, 2000, 6000]),
    )
    def bind(self, session: str, conversation: tuple[str, str, str], idle_ms: int, max_age_ms: int) -> None:
        rec = self.svc.bind(
            target_session_key=session,
            target_kind="subagent",
            conversation=ref(conversation),
            ttl_ms=idle_ms,
            max_age_ms=max_age_ms,
        )
        for m in self.model.values():
            if m.status == "active" and m.conversation == conversation:
                self._ended(m, "replaced")
        m = Model(rec.binding_id, session, conversation, self.now, self.now, idle_ms or None, max_age_ms or None)
        self.model[rec.binding_id] = m
        assert rec.expires_at == m.expires_at

    @precondition(lambda self: bool(self.model))
    @rule(pick=st.integers(min_value=0), back_ms=st.sampled_from([0, 0, 500]))
    def touch(self, pick: int, back_ms: int) -> None:
        m = list(self.model.values())[pick % len(self.model)]
        at = self.now - back_ms
        got = self.svc.touch(m.binding_id, at=at)
        if m.live(self.now):
            m.last_activity_at = max(m.last_activity_at, at)
            assert got is not None and got.expires_at == m.expires_at
        else:
            assert got is None

    @precondition(lambda self: bool(self.model))
    @rule(pick=st.integers(min_value=0))
    def unbind_by_id(self, pick: int) -> None:
        m = list(self.model.values())[pick % len(self.model)]
        got = self.svc.unbind(binding_id=m.binding_id, reason="manual")
        if m.status == "active":
            self._ended(m, "manual")
            assert [(r.binding_id, r.end_reason) for r in got] == [(m.binding_id, m.end_reason)]
        else:
            assert got == []

    @rule(session=st.sampled_from(SESSIONS))
    def unbind_by_session(self, session: str) -> None:
        got = self.svc.unbind(target_session_key=session, reason="manual")
        expected = [m for m in self.model.values() if m.status == "active" and m.session == session]
        for m in expected:
            self._ended(m, "manual")
        assert [(r.binding_id, r.end_reason) for r in got] == [(m.binding_id, m.end_reason) for m in expected]

    @rule(ms=st.sampled_from([1, 250, 500, 999, 1000, 2500]))
    def advance_clock(self, ms: int) -> None:
        self.clock.advance(ms)

    @rule(limit=st.sampled_from([1, 2, 1000]))
    def sweep(self, limit: int) -> None:
        got = sweep_once(self.svc, limit=limit)
        due = {m.binding_id for m in self.model.values() if m.status == "active" and m.expiry_reason(self.now)}
        assert len(got) == min(limit, len(due))
        for rec in got:
            m = self.model[rec.binding_id]
            assert rec.binding_id in due
            self._ended(m, "unused: always an expiry reason here")
            assert rec.end_reason == m.end_reason

    @invariant()
    def reads_agree_with_the_model(self) -> None:
        now = self.now
        for conversation in CONVERSATIONS:
            live = [m.binding_id for m in self.model.values() if m.conversation == conversation and m.live(now)]
            got = self.svc.resolve_by_conversation(ref(conversation))
            assert (got.binding_id if got else None) == (live[0] if live else None)
            assert len(live) <= 1
        for session in SESSIONS:
            live = [m.binding_id for m in self.model.values() if m.session == session and m.live(now)]
            assert [r.binding_id for r in self.svc.list_by_session(session)] == live
        assert self.svc.count_active() == sum(1 for m in self.model.values() if m.status == "active")
        assert self.heard == self.expected_heard

    @invariant()
    def stored_records_agree_with_the_model(self) -> None:
        for m in list(self.model.values())[-6:]:  # the latest few: keeps each step cheap
            rec = self.svc.get(m.binding_id)
            assert rec is not None
            assert (rec.status, rec.end_reason, rec.expires_at) == (m.status, m.end_reason, m.expires_at)


@pytest.mark.timeout(900)  # a failure takes minutes to shrink; let it finish and report
@pytest.mark.parametrize(("backend", "examples"), [("real_redis", 80), ("fake_redis", 20)])
def test_binding_store_state_machine(request: pytest.FixtureRequest, backend: str, examples: int) -> None:
    BindingStoreMachine.client = request.getfixturevalue(backend)
    run_state_machine_as_test(
        BindingStoreMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
