"""The decision table of DESIGN §4, one test per row, as a pure function (no Redis)."""

from __future__ import annotations

import pytest

from bindings.clock import ManualClock
from bindings.errors import InvalidInput
from bindings.model import SessionBindingRecord
from router.decision import BoundDeliveryRouter, decide
from tests.router.factories import NOW_MS, binding, conv

REQUESTER = conv("111")


def test_row_1_empty_target_session_key_falls_back_missing_target_session() -> None:
    d = decide([binding(conv("t1", parent="111"))], target_session_key="  ", requester=REQUESTER, fail_closed=False)
    assert (d.mode, d.reason, d.binding) == ("fallback", "missing-target-session", None)


def test_row_2_no_active_binding_falls_back_no_active_binding() -> None:
    ended = binding(conv("t1", parent="111"), status="ended")
    expired = binding(conv("t2", parent="111"), expires_at=NOW_MS - 1)
    d = decide([ended, expired], target_session_key="s", requester=REQUESTER, fail_closed=False, now_ms=NOW_MS)
    assert (d.mode, d.reason, d.binding) == ("fallback", "no-active-binding", None)


def test_row_3_no_requester_and_fail_closed_falls_back_missing_requester() -> None:
    d = decide([binding(conv("t1"))], target_session_key="s", requester=None, fail_closed=True)
    assert (d.mode, d.reason) == ("fallback", "missing-requester")


def test_row_4_no_requester_and_one_active_binding_is_bound_single_active_binding() -> None:
    only = binding(conv("t1"))
    d = decide([only], target_session_key="s", requester=None, fail_closed=False)
    assert (d.mode, d.reason, d.binding) == ("bound", "single-active-binding", only)


def test_row_5_no_requester_and_several_bindings_falls_back_ambiguous_without_requester() -> None:
    d = decide([binding(conv("t1")), binding(conv("t2"))], target_session_key="s", requester=None, fail_closed=False)
    assert (d.mode, d.reason, d.binding) == ("fallback", "ambiguous-without-requester", None)


@pytest.mark.parametrize("requester", [conv(None), conv("111", channel=" ")], ids=["no-conversation", "no-channel"])
def test_row_6_requester_without_channel_or_conversation_falls_back_invalid_requester(requester: object) -> None:
    d = decide([binding(conv("t1"))], target_session_key="s", requester=requester,  # type: ignore[arg-type]
               fail_closed=False)
    assert (d.mode, d.reason) == ("fallback", "invalid-requester")


def test_row_7_binding_on_the_requesters_conversation_is_a_requester_match() -> None:
    other_thread = binding(conv("t9", parent="111"))
    same = binding(conv("111"))
    d = decide([other_thread, same], target_session_key="s", requester=REQUESTER, fail_closed=True)
    assert (d.mode, d.reason, d.binding) == ("bound", "requester-match", same)


def test_row_7_the_only_thread_under_the_requesters_channel_is_a_requester_match_even_fail_closed() -> None:
    thread = binding(conv("t1", parent="111"))
    elsewhere = binding(conv("t2", channel="slack"))
    d = decide([elsewhere, thread], target_session_key="s", requester=conv(" 111 ", channel="Discord"),
               fail_closed=True)
    assert (d.mode, d.reason, d.binding) == ("bound", "requester-match", thread)


def test_row_7_compares_normalised_channel_and_account() -> None:
    thread = binding(conv("t1", account_id="main-bot", parent="111"))
    d = decide([thread], target_session_key="s", requester=conv("111", channel=" DISCORD ", account_id="Main Bot"),
               fail_closed=False)
    assert (d.reason, d.binding) == ("requester-match", thread)


def test_row_8_the_one_active_binding_on_the_same_channel_and_account_is_bound_single_active_binding_fallback() -> None:
    unrelated_thread = binding(conv("t1", parent="999"))  # a thread of another channel of the same account
    d = decide([unrelated_thread], target_session_key="s", requester=REQUESTER, fail_closed=False)
    assert (d.mode, d.reason, d.binding) == ("bound", "single-active-binding-fallback", unrelated_thread)


def test_row_8_does_not_apply_when_fail_closed() -> None:
    d = decide([binding(conv("t1", parent="999"))], target_session_key="s", requester=REQUESTER, fail_closed=True)
    assert (d.mode, d.reason) == ("fallback", "no-requester-match")


def test_row_9_a_single_binding_on_another_channel_or_account_falls_back_no_requester_match() -> None:
    for lone in (binding(conv("t1", channel="slack", parent="111")), binding(conv("t1", account_id="other"))):
        d = decide([lone], target_session_key="s", requester=REQUESTER, fail_closed=False)
        assert (d.mode, d.reason, d.binding) == ("fallback", "no-requester-match", None)


def test_row_9_two_threads_under_the_requesters_channel_are_ambiguous() -> None:
    threads = [binding(conv("t1", parent="111")), binding(conv("t2", parent="111"))]
    d = decide(threads, target_session_key="s", requester=REQUESTER, fail_closed=False)
    assert (d.mode, d.reason) == ("fallback", "no-requester-match")


def test_only_task_completion_events_are_routed() -> None:
    with pytest.raises(InvalidInput) as err:
        decide([], target_session_key="s", requester=None, fail_closed=False, event_kind="task_started")
    assert err.value.field == "kind"


class _Lister:
    def __init__(self, records: list[SessionBindingRecord]) -> None:
        self.records = records
        self.calls: list[str] = []

    def list_by_session(self, target_session_key: str) -> list[SessionBindingRecord]:
        self.calls.append(target_session_key)
        return self.records


def test_bound_delivery_router_reads_the_target_sessions_bindings_and_applies_the_table() -> None:
    thread = binding(conv("t1", parent="111"), expires_at=NOW_MS + 10)
    lister = _Lister([thread])
    router = BoundDeliveryRouter(lister, ManualClock(NOW_MS))
    decision = router.resolve_destination(event_kind="task_completion", target_session_key=" agent:x ",
                                          requester=REQUESTER, fail_closed=False)
    assert lister.calls == ["agent:x"]
    assert (decision.mode, decision.reason, decision.binding) == ("bound", "requester-match", thread)


def test_bound_delivery_router_treats_a_binding_past_its_deadline_as_gone() -> None:
    lister = _Lister([binding(conv("t1", parent="111"), expires_at=NOW_MS)])
    decision = BoundDeliveryRouter(lister, ManualClock(NOW_MS)).resolve_destination(
        "task_completion", "agent:x", REQUESTER, False)
    assert decision.reason == "no-active-binding"


def test_bound_delivery_router_does_not_look_up_an_empty_target_session() -> None:
    lister = _Lister([])
    decision = BoundDeliveryRouter(lister).resolve_destination("task_completion", "", REQUESTER, False)
    assert lister.calls == []
    assert decision.reason == "missing-target-session"
