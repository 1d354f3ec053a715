"""The Telegram adapter against the local Bot API over real HTTP and the real redis-server: where messages land,
what they carry, how every error the Bot API gives is sorted, and that the bot token never leaks."""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import replace

import httpx
import pytest

from adapters.chunking import measure
from adapters.protocol import DestinationGone, PermanentError, RetryableError
from adapters.ratelimit import SharedLimiter
from adapters.telegram import keys
from adapters.telegram.activity import ActivityLog
from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.conversations import Target
from adapters.telegram.errors import OutcomeUnknown
from adapters.telegram.runtime import TelegramRuntime
from bindings.config import load_config
from tests.adapters.telegram.conftest import FAST, TelegramWorld, chunk_of, delivery, ref, write_config


def test_a_topic_message_lands_in_its_topic_as_plain_text_without_preview_and_never_in_general(
    world: TelegramWorld,
) -> None:
    record = world.bind_child()
    adapter = world.adapter()
    text = "Task complete: see https://example.com *not bold* <b>x</b>"
    message_id = adapter.send(chunk_of(delivery(record.conversation, text, record=record)))

    topic_id = int(record.metadata["topicId"])
    [m] = world.fake.messages(world.forum.id, topic_id)
    assert message_id == f"{world.forum.id}:{m.message_id}"
    assert (m.text, m.parse_mode, m.link_preview_disabled) == (text, None, True)
    assert world.fake.messages(world.forum.id, general=True) == []
    [sent] = world.fake.requests("sendMessage")
    assert (sent.chat_id, sent.thread_id) == (world.forum.id, topic_id)


def test_the_chat_itself_and_its_general_topic_get_no_thread_id(world: TelegramWorld) -> None:
    adapter = world.adapter()
    adapter.send(chunk_of(delivery(ref(str(world.forum.id)), "to the chat")))
    adapter.send(chunk_of(delivery(ref(f"{world.forum.id}:topic:1"), "to General", delivery_id="d-2")))
    assert [m.text for m in world.fake.messages(world.forum.id, general=True)] == ["to the chat", "to General"]
    assert [r.thread_id for r in world.fake.requests("sendMessage")] == [None, None]


def test_success_records_activity_remembers_the_conversation_and_touches_the_binding(world: TelegramWorld) -> None:
    record = world.bind_child()
    before = world.fake.now_ms()
    message_id = world.adapter().send(chunk_of(delivery(record.conversation, record=record)))
    activity = ActivityLog(world.redis).get("default", record.conversation.conversation_id or "")
    assert activity is not None and activity.last_message_id == message_id and activity.sends == 1
    assert activity.last_outbound_at >= before
    assert ActivityLog(world.redis).conversations("default", str(world.forum.id)) == {
        record.conversation.conversation_id}
    touched = world.service().get(record.binding_id)
    assert touched is not None and touched.last_activity_at is not None and touched.last_activity_at >= before


def test_long_texts_split_at_4096_utf16_units_and_every_chunk_is_accepted(world: TelegramWorld) -> None:
    adapter = world.adapter()
    text = ("word 😀 " * 1500).strip()  # 7 UTF-16 units a word: about 10,500 units
    chunks = adapter.split(text)
    assert len(chunks) == 3 and all(measure(c) <= 4096 for c in chunks)
    assert "".join(chunks) == text
    d = delivery(ref(str(world.forum.id)), text)
    for i, c in enumerate(chunks):
        adapter.send(chunk_of(d, i, c, len(chunks)))
    assert "".join(m.text for m in world.fake.messages(world.forum.id)) == text


def test_identity_prefix_goes_on_the_first_chunk_only_and_still_fits(world: TelegramWorld) -> None:
    world.reconfigure("identityPrefix = true\n")
    adapter = world.adapter()
    text = "x " * 4090  # 8,180 units
    chunks = adapter.split(text)
    d = delivery(ref(str(world.forum.id)), text, username="r" * 200)
    for i, c in enumerate(chunks):
        adapter.send(chunk_of(d, i, c, len(chunks)))
    landed = [m.text for m in world.fake.messages(world.forum.id)]
    assert landed[0] == "r" * 64 + ": " + chunks[0]
    assert landed[1:] == chunks[1:]
    assert all(measure(t) <= 4096 for t in landed)


@pytest.mark.parametrize(("state", "error", "reason"), [
    ("deleted", DestinationGone, "thread-delete"),
    ("unknown", DestinationGone, "thread-delete"),
    ("closed", PermanentError, "topic-closed"),
])
def test_topic_errors(world: TelegramWorld, state: str, error: type[Exception], reason: str) -> None:
    topic = world.fake.add_topic(world.forum.id, "t")
    topic_id = 999 if state == "unknown" else topic.id
    if state == "deleted":
        world.fake.set_topic(world.forum.id, topic.id, "deleted")
    elif state == "closed":
        world.fake.set_topic(world.forum.id, topic.id, "closed")
    with pytest.raises(error) as caught:
        world.adapter().send(chunk_of(delivery(ref(f"{world.forum.id}:topic:{topic_id}"))))
    got = caught.value
    assert (got.end_reason if isinstance(got, DestinationGone) else got.reason) == reason  # type: ignore[attr-defined]
    assert world.fake.messages(world.forum.id) == []


@pytest.mark.parametrize("how", ["unknown-chat", "kicked", "left", "blocked"])
def test_chats_out_of_reach_are_destination_gone_ending_the_binding_chat_gone(world: TelegramWorld, how: str) -> None:
    if how == "unknown-chat":
        chat_id = -1009999
    elif how == "blocked":
        chat_id = world.fake.add_chat("private").id
        world.fake.set_chat(chat_id, blocked=True)
    else:
        chat_id = world.fake.add_chat("group").id
        world.fake.set_chat(chat_id, bot_status=how)
    with pytest.raises(DestinationGone) as caught:
        world.adapter().send(chunk_of(delivery(ref(str(chat_id)))))
    assert caught.value.end_reason == "chat-gone"


def test_401_is_permanent_unauthorized(world: TelegramWorld) -> None:
    world.fake.set_token("1:revoked-elsewhere")
    with pytest.raises(PermanentError) as caught:
        world.adapter().send(chunk_of(delivery(ref(str(world.forum.id)))))
    assert caught.value.reason == "unauthorized"


def test_too_long_and_bad_destinations_are_permanent(world: TelegramWorld) -> None:
    adapter = world.adapter()
    with pytest.raises(PermanentError) as too_long:
        adapter.send(chunk_of(delivery(ref(str(world.forum.id)), "a" * 4097)))
    assert too_long.value.reason == "message-too-long"
    with pytest.raises(PermanentError) as bad:
        adapter.send(chunk_of(delivery(ref("general-chat"))))
    assert bad.value.reason == "invalid-destination"


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 502}, {"kind": "status", "status": 500,
                                                                          "stage": "after"},
                                   {"kind": "response_lost"}, {"kind": "disconnect"}])
def test_a_send_without_an_answer_is_outcome_unknown_and_is_not_repeated_by_the_client(
    world: TelegramWorld, fault: dict[str, object]
) -> None:
    world.fake.inject(route="sendMessage", **fault)  # type: ignore[arg-type]
    with pytest.raises(OutcomeUnknown):
        world.adapter().send(chunk_of(delivery(ref(str(world.forum.id)))))
    assert len(world.fake.requests("sendMessage")) == 1


def test_a_timeout_is_outcome_unknown(world: TelegramWorld) -> None:
    world.fake.inject("latency", route="sendMessage", delay_s=0.6)
    rt = TelegramRuntime(world.config, world.redis)
    rt.api._http.timeout = httpx.Timeout(0.2)
    with pytest.raises(OutcomeUnknown):
        TelegramAdapter(world.config, world.redis, runtime=rt).send(chunk_of(delivery(ref(str(world.forum.id)))))


def test_an_unreachable_api_is_retryable(world: TelegramWorld) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    write_config(world.config_path, closed, world.token_path, FAST)
    config = load_config(world.config_path)
    rt = TelegramRuntime(config, world.redis)
    rt.api.sleep = lambda s: None
    with pytest.raises(RetryableError) as caught:
        TelegramAdapter(config, world.redis, runtime=rt).send(chunk_of(delivery(ref("-100123"))))
    assert not isinstance(caught.value, OutcomeUnknown) and caught.value.reason == "server-error"


def test_a_429_is_honoured_before_the_chunk_is_sent_again(world: TelegramWorld) -> None:
    world.fake.inject("rate_limit", route="sendMessage", retry_after_s=0.4)
    adapter = world.adapter()
    started = time.monotonic()
    adapter.send(chunk_of(delivery(ref(str(world.forum.id)))))
    assert time.monotonic() - started >= 0.4
    limited, sent = world.fake.requests("sendMessage")
    assert (limited.status, sent.status) == (429, 200)
    assert sent.at_ms - limited.at_ms >= 400


def test_a_429_blocks_the_chat_for_every_process_but_not_the_whole_bot(world: TelegramWorld) -> None:
    world.fake.inject("rate_limit", route="sendMessage", retry_after_s=2)
    rt = TelegramRuntime(world.config, world.redis)
    rt.api.settings = replace(rt.api.settings, max_rate_limited=0)  # give up at the first 429
    with pytest.raises(RetryableError) as caught:
        TelegramAdapter(world.config, world.redis, runtime=rt).send(chunk_of(delivery(ref(str(world.forum.id)))))
    assert caught.value.reason == "rate-limited" and caught.value.retry_after_s == 2
    other = SharedLimiter(world.redis)  # as another worker process sees it
    chat_key, group_key, bot_key = rt.send_limits("default", Target(str(world.forum.id), None))
    assert other.try_acquire([chat_key]) > 1.5
    assert other.try_acquire([group_key]) > 1.5
    assert other.try_acquire([bot_key]) == 0.0


def test_private_chats_count_against_no_group_limit(world: TelegramWorld) -> None:
    rt = TelegramRuntime(world.config, world.redis)
    assert [k for k, _ in rt.send_limits("default", Target("4242", None))] == [
        keys.chat_rate("default", "4242"), keys.global_rate("default")]


def test_token_rotation_is_used_by_the_next_request(world: TelegramWorld) -> None:
    adapter = world.adapter()
    adapter.send(chunk_of(delivery(ref(str(world.forum.id)), "before")))
    world.rotate_token("987654:rotated-token")
    adapter.send(chunk_of(delivery(ref(str(world.forum.id)), "after", delivery_id="d-2")))
    assert [(r.token, r.status) for r in world.fake.requests("sendMessage")] == [
        ("123456:test-bot-token", 200), ("987654:rotated-token", 200)]


def test_the_token_never_appears_in_logs_or_errors_even_with_httpx_and_httpcore_at_debug(
    world: TelegramWorld, caplog: pytest.LogCaptureFixture
) -> None:
    token = world.fake.tokens[0]
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    adapter = world.adapter()
    errors: list[str] = []
    adapter.send(chunk_of(delivery(ref(str(world.forum.id)))))
    world.fake.inject("response_lost", route="sendMessage")
    world.fake.inject("status", route="sendMessage", status=503)
    for _ in range(2):
        with pytest.raises(RetryableError) as caught:
            adapter.send(chunk_of(delivery(ref(str(world.forum.id)))))
        errors.append(f"{caught.value!r} {caught.value}")
    world.fake.set_token("1:other")
    with pytest.raises(PermanentError) as unauthorized:
        adapter.send(chunk_of(delivery(ref(str(world.forum.id)))))
    errors.append(f"{unauthorized.value!r} {unauthorized.value}")
    assert "HTTP Request: POST" in caplog.text  # httpx did log its requests ...
    assert "/bot[redacted]/sendMessage" in caplog.text
    assert token not in caplog.text  # ... without the token
    assert all(token not in e and "1:other" not in e for e in errors)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def test_validate_checks_the_chat(world: TelegramWorld) -> None:
    adapter = world.adapter()
    adapter.validate(ref(str(world.forum.id)))
    with pytest.raises(DestinationGone):
        adapter.validate(ref("-100424242"))
