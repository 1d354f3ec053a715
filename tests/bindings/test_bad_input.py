"""Bad input raises InvalidInput naming the field, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from bindings.errors import InvalidInput
from bindings.model import ConversationRef
from tests.bindings.support import SESSION, conv, service

GOOD: dict[str, Any] = {
    "target_session_key": SESSION,
    "target_kind": "subagent",
    "conversation": conv("thread-1"),
}

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("empty target key", {"target_session_key": ""}, "target_session_key"),
    ("blank target key", {"target_session_key": "  "}, "target_session_key"),
    ("unknown kind", {"target_kind": "robot"}, "target_kind"),
    ("reserved kind acp", {"target_kind": "acp"}, "target_kind"),
    (
        "conversation without channel",
        {"conversation": ConversationRef(channel=" ", conversation_id="1")},
        "conversation.channel",
    ),
    ("current placement without conversation id", {"conversation": conv(None)}, "conversation.conversation_id"),
    ("current placement with blank conversation id", {"conversation": conv("  ")}, "conversation.conversation_id"),
    (
        "child placement without parent",
        {"conversation": conv(None), "placement": "child"},
        "conversation.parent_conversation_id",
    ),
    (
        "child placement with a conversation id",
        {"conversation": conv("t", parent="111"), "placement": "child"},
        "conversation.conversation_id",
    ),
    ("unknown placement", {"placement": "sideways"}, "placement"),
    ("negative ttl", {"ttl_ms": -1}, "ttl_ms"),
    ("non-integer ttl", {"ttl_ms": 1.5}, "ttl_ms"),
    ("negative max age", {"max_age_ms": -1}, "max_age_ms"),
    ("metadata not of strings", {"metadata": {"threadId": 1}}, "metadata"),
    ("label not a string", {"label": 7}, "label"),
    ("conversation not a ConversationRef", {"conversation": {"channel": "discord"}}, "conversation"),
]


@pytest.mark.parametrize(("changes", "field"), [(c, f) for _, c, f in CASES], ids=[n for n, _, _ in CASES])
def test_bind_rejects_bad_input_naming_the_field_and_writes_nothing(
    any_redis: redis.Redis, changes: dict[str, Any], field: str
) -> None:
    svc = service(any_redis, provisioners={})
    with pytest.raises(InvalidInput) as err:
        svc.bind(**{**GOOD, **changes})
    assert err.value.field == field
    assert field in str(err.value)
    assert any_redis.dbsize() == 0


def test_other_calls_reject_bad_input_naming_the_field(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    bad: list[tuple[Any, str]] = [
        (lambda: svc.list_by_session(" "), "target_session_key"),
        (lambda: svc.resolve_by_conversation(conv(None)), "conversation.conversation_id"),
        (lambda: svc.resolve_by_conversation(ConversationRef(channel="", conversation_id="1")), "conversation.channel"),
        (lambda: svc.unbind(), "binding_id"),
        (lambda: svc.unbind(binding_id="x", target_session_key=SESSION), "binding_id"),
        (lambda: svc.unbind(target_session_key=""), "target_session_key"),
        (lambda: svc.unbind(binding_id="x", reason=" "), "reason"),
        (lambda: svc.touch("x", at=-5), "at"),
    ]
    for call, field in bad:
        with pytest.raises(InvalidInput) as err:
            call()
        assert err.value.field == field
    assert any_redis.dbsize() == 0
