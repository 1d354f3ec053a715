"""The feature gate in front of the decision table, and the destination each decision names (no Redis)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from adapters.payloads import delivery_id_for
from bindings.config import TetherConfig, parse_config
from bindings.model import SessionBindingRecord
from router.event import CompletionEvent, parse_event
from router.propose import propose
from router.store import DecisionRecord
from tests.router.factories import NOW_MS, SPAWN_OFF_TOML, SPAWN_ON_TOML, binding, conv, event

SPAWN_ON = parse_config(SPAWN_ON_TOML)


def _event(**kwargs: object) -> CompletionEvent:
    return parse_event(msgspec.json.encode(event(**kwargs)))  # type: ignore[arg-type]


def _never() -> Callable[[], object]:
    def fail() -> object:
        raise AssertionError("bindings must not be consulted")

    return fail


class _Lister:
    def __init__(self, records: list[SessionBindingRecord]) -> None:
        self.records = records

    def list_by_session(self, target_session_key: str) -> list[SessionBindingRecord]:
        return self.records


def _propose(ev: CompletionEvent, config: TetherConfig, bindings: Callable[[], object]) -> DecisionRecord:
    return propose(ev, config, bindings, now_ms=NOW_MS, job_id="job-1")


def test_bindings_disabled_when_spawn_subagent_sessions_is_off_goes_to_the_requester_without_reading_bindings() -> None:
    d = _propose(_event(), parse_config(SPAWN_OFF_TOML), _never())
    assert (d.mode, d.reason, d.binding_id) == ("fallback", "bindings-disabled", None)
    assert d.destination == conv("111")
    assert d.delivery_ids == [delivery_id_for("v1:agent:main:subagent:abc:run-1", conv("111"))]


def test_bindings_disabled_by_default() -> None:
    d = _propose(_event(), TetherConfig(), _never())
    assert (d.mode, d.reason, d.destination) == ("fallback", "bindings-disabled", conv("111"))


def test_bindings_disabled_when_thread_bindings_are_off_for_the_requesters_account() -> None:
    config = parse_config(SPAWN_ON_TOML + "\n[channels.discord.accounts.work.threadBindings]\nenabled = false\n")
    ev = _event(requester={"channel": "discord", "accountId": "Work", "conversationId": "111"})
    d = _propose(ev, config, _never())
    assert (d.mode, d.reason) == ("fallback", "bindings-disabled")
    assert d.destination == conv("111", account_id="work")


def test_bound_decision_targets_the_bindings_conversation_only() -> None:
    thread = binding(conv("t1", parent="111"))
    d = _propose(_event(), SPAWN_ON, lambda: _Lister([thread]))
    assert (d.mode, d.reason, d.binding_id) == ("bound", "requester-match", thread.binding_id)
    assert d.destination == thread.conversation
    assert d.delivery_ids == [delivery_id_for("v1:agent:main:subagent:abc:run-1", thread.conversation)]


def test_fallback_goes_to_the_requesters_normalised_conversation() -> None:
    ev = _event(requester={"channel": " Discord ", "conversationId": " 111 ", "parentConversationId": "111"})
    d = _propose(ev, SPAWN_ON, lambda: _Lister([]))
    assert (d.mode, d.reason, d.destination) == ("fallback", "no-active-binding", conv("111"))


def test_fallback_without_a_requester_has_no_destination() -> None:
    d = _propose(_event(no_requester=True), SPAWN_ON, lambda: _Lister([]))
    assert (d.mode, d.reason, d.destination, d.delivery_ids) == ("fallback", "no-active-binding", None, [])


def test_without_a_requester_a_bound_decision_is_gated_on_the_bindings_channel() -> None:
    thread = binding(conv("t1", parent="111"))
    assert _propose(_event(no_requester=True), SPAWN_ON, lambda: _Lister([thread])).reason == "single-active-binding"
    d = _propose(_event(no_requester=True), parse_config(SPAWN_OFF_TOML), lambda: _Lister([thread]))
    assert (d.mode, d.reason, d.destination) == ("fallback", "bindings-disabled", None)
