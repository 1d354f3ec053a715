"""The router's Redis key names are part of its storage format: pinned here."""

from __future__ import annotations

from router import keys


def test_router_key_names() -> None:
    assert keys.event("v1:a:run-1") == "tether:{r}:ev:v1:a:run-1"
    assert keys.decision_history("v1:a:run-1") == "tether:{r}:hist:v1:a:run-1"
    assert keys.decisions_stream() == "tether:{r}:decisions"
    assert keys.counters() == "tether:{r}:counters"
    assert keys.decision_counter("bound", "requester-match") == "decision:bound:requester-match"
    assert keys.outcome_counter("duplicate") == "outcome:duplicate"
