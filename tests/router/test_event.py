"""The completion event wire format (DESIGN §7): strict, size-limited, errors naming the field path."""

from __future__ import annotations

import json

import msgspec
import pytest

from adapters.payloads import Content, Identity
from bindings.errors import InvalidInput
from bindings.model import ConversationRef
from router.event import CompletionEvent, Requester, encode_event, parse_event, peek_event_id

DESIGN_EXAMPLE = b"""{"eventId": "v1:agent:main:subagent:abc:run-1", "kind": "task_completion",
 "targetSessionKey": "agent:main:subagent:abc",
 "requester": {"channel": "discord", "accountId": "default", "conversationId": "111", "parentConversationId": null},
 "spawnMode": "session", "failClosed": false,
 "content": {"text": "Task complete: \\u2026"},
 "identity": {"username": "research-agent", "avatarUrl": null},
 "createdAt": 1764000000000, "metadata": {}}"""


def _invalid(raw: bytes | dict[str, object], **kwargs: int) -> InvalidInput:
    data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    with pytest.raises(InvalidInput) as err:
        parse_event(data, **kwargs)
    return err.value


def _base(**changes: object) -> dict[str, object]:
    obj: dict[str, object] = json.loads(DESIGN_EXAMPLE)
    obj.update(changes)
    return obj


def test_the_design_example_decodes_field_by_field() -> None:
    ev = parse_event(DESIGN_EXAMPLE)
    assert ev == CompletionEvent(
        event_id="v1:agent:main:subagent:abc:run-1",
        kind="task_completion",
        target_session_key="agent:main:subagent:abc",
        requester=Requester(channel="discord", account_id="default", conversation_id="111"),
        spawn_mode="session",
        fail_closed=False,
        content=Content(text="Task complete: …"),
        identity=Identity(username="research-agent"),
        created_at=1_764_000_000_000,
        metadata={},
    )


def test_a_python_built_event_encodes_to_the_camel_case_wire_format() -> None:
    ev = parse_event(DESIGN_EXAMPLE)
    wire = json.loads(encode_event(ev))
    assert set(wire) >= {"eventId", "kind", "targetSessionKey", "requester", "content", "identity", "createdAt"}
    assert wire["requester"]["conversationId"] == "111"
    assert parse_event(encode_event(ev)) == ev


def test_unknown_fields_are_tolerated_for_newer_producers() -> None:
    ev = parse_event(json.dumps(_base(priority="high", requester={"channel": "discord", "conversationId": "1",
                                                                  "threadTs": "x"})).encode())
    assert ev.requester == Requester(channel="discord", conversation_id="1")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"createdAt": "1764000000000"}, "createdAt"),
        ({"createdAt": 1.5e12}, "createdAt"),
        ({"failClosed": 1}, "failClosed"),
        ({"requester": {"channel": 7, "conversationId": "1"}}, "requester.channel"),
        ({"requester": "discord:111"}, "requester"),
        ({"identity": {"username": ["x"]}}, "identity.username"),
        ({"content": {"text": 5}}, "content.text"),
        ({"content": {}}, "content.text"),
        ({"metadata": []}, "metadata"),
        ({"eventId": None}, "eventId"),
    ],
)
def test_types_are_never_coerced_and_the_error_names_the_field_path(changes: dict[str, object], field: str) -> None:
    assert _invalid(_base(**changes)).field == field


def test_a_missing_required_field_is_named() -> None:
    obj = _base()
    del obj["eventId"]
    err = _invalid(obj)
    assert (err.field, err.message) == ("eventId", "required field is missing")


@pytest.mark.parametrize("kind", ["task_started", "", "TASK_COMPLETION"])
def test_only_task_completion_is_accepted_and_the_error_names_kind(kind: str) -> None:
    err = _invalid(_base(kind=kind))
    assert err.field == "kind"
    assert "task_completion" in err.message


@pytest.mark.parametrize(("changes", "field"), [({"eventId": "  "}, "eventId"), ({"eventId": "x" * 513}, "eventId"),
                                                ({"content": {"text": ""}}, "content.text"),
                                                ({"createdAt": -1}, "createdAt")])
def test_semantic_checks_name_their_field(changes: dict[str, object], field: str) -> None:
    assert _invalid(_base(**changes)).field == field


def test_an_event_over_the_size_limit_is_rejected_whole() -> None:
    big = json.dumps(_base(content={"text": "x" * 70_000})).encode()
    err = _invalid(big)
    assert err.field == "event"
    assert "65536" in err.message
    assert parse_event(big, max_bytes=len(big)).content.text == "x" * 70_000


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"null", b""])
def test_a_document_that_is_not_a_json_object_is_rejected_whole(raw: bytes) -> None:
    assert _invalid(raw).field == "event"


def test_encode_event_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(InvalidInput) as err:
        encode_event({"eventId": object()})
    assert err.value.field == "event"


def test_peek_event_id_finds_the_id_of_an_invalid_event_when_there_is_one() -> None:
    assert peek_event_id(msgspec.json.encode({"eventId": "e1", "kind": 3})) == "e1"
    assert peek_event_id(b"{broken") is None
    assert peek_event_id(b'{"eventId": 12}') is None


def test_the_requester_is_normalised_like_a_binding_conversation() -> None:
    ref = Requester(channel=" Discord ", account_id="Main Bot", conversation_id=" 111 ", parent_conversation_id="111")
    assert ref.to_ref() == ConversationRef(channel="discord", account_id="main-bot", conversation_id="111")
    assert Requester(conversation_id="111").to_ref() == ConversationRef(channel="", conversation_id="111")
