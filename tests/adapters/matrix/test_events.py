"""Pure parts of the Matrix adapter: chunks within an event's size, transaction ids, the error classifier, settings."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.matrix.errors import MatrixApiError, classify
from adapters.matrix.events import content, message_txn_id, root_txn_id, split_body
from adapters.matrix.settings import MAX_BODY_JSON_BYTES, MatrixSettings
from adapters.protocol import DestinationGone, PermanentError, RetryableError
from bindings.config import TetherConfig
from bindings.errors import ConfigError


def test_a_text_of_control_characters_is_cut_until_its_json_fits() -> None:
    text = "\x01" * 40_000  # six bytes each once JSON-escaped
    chunks = split_body(text, 30_000)
    assert "".join(chunks) == text
    assert all(len(msgspec.json.encode(c)) <= MAX_BODY_JSON_BYTES for c in chunks)


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=0, max_size=3000))
def test_every_chunk_fits_and_the_split_is_deterministic(text: str) -> None:
    chunks = split_body(text, 256)
    assert chunks == split_body(text, 256)
    assert all(len(c.encode("utf-8", "surrogatepass")) <= 256 for c in chunks)


def test_a_thread_reply_falls_back_to_a_reply_to_the_root() -> None:
    assert content("hi", "m.notice", "$root") == {
        "msgtype": "m.notice", "body": "hi",
        "m.relates_to": {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                         "m.in_reply_to": {"event_id": "$root"}}}
    assert "m.relates_to" not in content("hi", "m.text", None)


def test_transaction_ids_are_deterministic_and_distinct() -> None:
    assert message_txn_id("k1") == message_txn_id("k1") != message_txn_id("k2")
    assert root_txn_id("a", "!r", "s", "l") == root_txn_id("a", "!r", "s", "l") != root_txn_id("a", "!r", "s", "m")


@pytest.mark.parametrize(("status", "errcode", "expected", "reason"), [
    (429, "M_LIMIT_EXCEEDED", RetryableError, "rate-limited"),
    (502, "", RetryableError, "server-error"),
    (401, "M_UNKNOWN_TOKEN", PermanentError, "unauthorized"),
    (403, "M_FORBIDDEN", PermanentError, "forbidden"),
    (404, "M_NOT_FOUND", DestinationGone, "destination-gone"),
    (404, "M_UNRECOGNIZED", PermanentError, "not-found"),
    (413, "M_TOO_LARGE", PermanentError, "too-large"),
    (400, "M_BAD_JSON", PermanentError, "invalid-payload"),
])
def test_each_matrix_error_is_classified(status: int, errcode: str, expected: type, reason: str) -> None:
    error = classify(MatrixApiError(status, errcode, "x", "PUT /rooms/{room}/send/m.room.message/{txn}"))
    assert type(error) is expected and error.reason == reason


def _config(**channel: object) -> TetherConfig:
    return msgspec.convert({"channels": {"matrix": channel}}, TetherConfig)


def test_settings_name_the_bad_key() -> None:
    with pytest.raises(ConfigError, match=r"channels\.matrix\.homeserver"):
        MatrixSettings.from_config(_config())
    with pytest.raises(ConfigError, match=r"channels\.matrix\.messageType"):
        MatrixSettings.from_config(_config(homeserver="https://m.example", messageType="m.emote"))
    with pytest.raises(ConfigError, match=r"channels\.matrix\.maxChunkChars"):
        MatrixSettings.from_config(_config(homeserver="https://m.example", maxChunkChars=70_000))
    s = MatrixSettings.from_config(_config(homeserver="https://m.example/", messageType="m.notice"))
    assert (s.homeserver, s.message_type, s.root_text) == ("https://m.example", "m.notice", "\N{ROBOT FACE} {label}")


def test_the_provisioner_of_an_unconfigured_matrix_is_harmless_until_used() -> None:
    import fakeredis

    from adapters.matrix.provision import make_provisioner
    from bindings.errors import ConfigError as Missing
    from bindings.model import ConversationRef

    provisioner = make_provisioner(TetherConfig(), fakeredis.FakeRedis())
    with pytest.raises(Missing, match=r"channels\.matrix\.homeserver"):
        provisioner.provision(ConversationRef(channel="matrix", parent_conversation_id="!r:x"), label=None,
                              target_session_key="agent:main:subagent:x")


def test_the_identity_prefix_fits_its_reserve() -> None:
    from adapters.matrix.events import PREFIX_RESERVE_BYTES, identity_prefix

    assert identity_prefix("research  agent") == "research agent: "
    assert identity_prefix(None) == identity_prefix("   ") == ""
    long = identity_prefix("\N{ROBOT FACE}" * 40)
    assert len(long.encode()) <= PREFIX_RESERVE_BYTES and long.endswith(": ") and "\ufffd" not in long
