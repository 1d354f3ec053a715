"""Normalisation (DESIGN §3), one table: channel, accountId, conversationId, parentConversationId."""

from __future__ import annotations

import pytest

from bindings.errors import InvalidInput
from bindings.model import ConversationRef
from bindings.normalize import normalize_account_id, normalize_channel, normalize_conversation

A64 = "a" * 64

# (given: channel, accountId, conversationId, parentConversationId) -> expected, same order
TABLE: list[tuple[tuple[str, str | None, str | None, str | None], tuple[str, str, str | None, str | None]]] = [
    (("discord", "default", "111", None), ("discord", "default", "111", None)),
    # channel: trimmed and lower-cased
    ((" Discord\t", "default", "111", None), ("discord", "default", "111", None)),
    (("SLACK", "default", "C1", None), ("slack", "default", "C1", None)),
    # accountId: trimmed; empty -> default; lower-cased
    (("discord", None, "111", None), ("discord", "default", "111", None)),
    (("discord", "", "111", None), ("discord", "default", "111", None)),
    (("discord", "   ", "111", None), ("discord", "default", "111", None)),
    (("discord", "  Ops ", "111", None), ("discord", "ops", "111", None)),
    # runs of characters outside [a-z0-9_-] -> one "-"; leading/trailing "-" stripped
    (("discord", "My Bot!!v2", "111", None), ("discord", "my-bot-v2", "111", None)),
    (("discord", "team.alpha", "111", None), ("discord", "team-alpha", "111", None)),
    (("discord", "under_score-ok", "111", None), ("discord", "under_score-ok", "111", None)),
    (("discord", "--edge--", "111", None), ("discord", "edge", "111", None)),
    (("discord", "@@@x###", "111", None), ("discord", "x", "111", None)),
    (("discord", "Zürich", "111", None), ("discord", "z-rich", "111", None)),
    (("discord", "!!!", "111", None), ("discord", "default", "111", None)),  # nothing left -> default
    # at most 64 characters
    (("discord", A64 + "bbb", "111", None), ("discord", A64, "111", None)),
    # conversationId: trimmed only, case kept; empty -> absent
    (("discord", "default", "  AbC-123 ", None), ("discord", "default", "AbC-123", None)),
    (("discord", "default", "   ", None), ("discord", "default", None, None)),
    # parentConversationId: trimmed; empty or equal to conversationId -> absent
    (("discord", "default", "222", " 111 "), ("discord", "default", "222", "111")),
    (("discord", "default", "222", "  "), ("discord", "default", "222", None)),
    (("discord", "default", "222", " 222"), ("discord", "default", "222", None)),
    (("discord", "default", None, "111"), ("discord", "default", None, "111")),
    (("discord", "default", "Ab", "ab"), ("discord", "default", "Ab", "ab")),  # case-sensitive comparison
]


@pytest.mark.parametrize(("given", "expected"), TABLE, ids=[repr(g) for g, _ in TABLE])
def test_normalize_conversation(
    given: tuple[str, str | None, str | None, str | None], expected: tuple[str, str, str | None, str | None]
) -> None:
    channel, account, conversation, parent = given
    ref = ConversationRef(
        channel=channel,
        account_id=account,  # type: ignore[arg-type]  # None: as a caller that skipped it may pass
        conversation_id=conversation,
        parent_conversation_id=parent,
    )
    got = normalize_conversation(ref)
    assert (got.channel, got.account_id, got.conversation_id, got.parent_conversation_id) == expected


def test_normalisation_is_idempotent() -> None:
    for given, _ in TABLE:
        channel, account, conversation, parent = given
        once = normalize_conversation(
            ConversationRef(
                channel=channel,
                account_id=account or "",
                conversation_id=conversation,
                parent_conversation_id=parent,
            )
        )
        assert normalize_conversation(once) == once


@pytest.mark.parametrize("channel", ["", "   ", "\n"])
def test_a_conversation_without_a_channel_is_invalid_input_naming_the_field(channel: str) -> None:
    with pytest.raises(InvalidInput) as err:
        normalize_conversation(ConversationRef(channel=channel, conversation_id="111"))
    assert err.value.field == "conversation.channel"


def test_the_parts_are_exported_for_callers_that_normalise_one_value() -> None:
    assert normalize_channel(" Telegram ") == "telegram"
    assert normalize_account_id(None) == "default"
    assert normalize_account_id(" A b ") == "a-b"
