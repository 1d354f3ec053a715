"""Telegram conversation ids, as OpenClaw names them."""

from __future__ import annotations

import pytest

from adapters.telegram.conversations import Target, parse_conversation
from bindings.errors import InvalidInput


@pytest.mark.parametrize(("text", "target"), [
    ("-1001234567890:topic:42", Target("-1001234567890", 42)),
    ("-1001234567890", Target("-1001234567890", None)),
    ("123456", Target("123456", None)),
    ("-1001234567890:topic:1", Target("-1001234567890", None)),  # General is the chat itself
])
def test_parse(text: str, target: Target) -> None:
    assert parse_conversation(text) == target


@pytest.mark.parametrize("text", ["", "general", "-100:topic:", "-100:thread:4", "@channel", "1:topic:x"])
def test_bad_ids_name_the_field(text: str) -> None:
    with pytest.raises(InvalidInput, match="conversation_id"):
        parse_conversation(text)


def test_a_target_knows_its_conversation_and_moves_to_a_new_chat() -> None:
    topic = Target("-400", 7)
    assert topic.conversation_id == "-400:topic:7" and topic.is_group
    assert topic.moved_to("-1009").conversation_id == "-1009:topic:7"
    assert not Target("42", None).is_group
