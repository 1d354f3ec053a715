"""DiscordAdapter against the local Discord API (in this process) and real Redis: what each path sends, and what
each Discord failure turns into."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import pytest

from adapters.discord import keys
from adapters.discord.adapter import DiscordAdapter
from adapters.discord.runtime import DiscordRuntime
from adapters.protocol import DestinationGone, PermanentError, RetryableError
from bindings.clock import SYSTEM_CLOCK
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from tests.adapters.discord.conftest import DiscordWorld, bot_delivery, bound_delivery, chunk_of
from tests.fakes.discord_model import DEFAULT_MESSAGE

_STANDARD_LOG_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def log_fields(record: logging.LogRecord) -> dict[str, object]:
    """A log record's `extra` fields, which structured log output prints and `caplog.text` leaves out."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_LOG_FIELDS}


def thread_messages(world: DiscordWorld, thread_id: str) -> list[tuple[str, str, str | None]]:
    return [(m.content, m.author_username, m.avatar_url) for m in world.fake.messages(thread_id)]


def test_a_bot_send_carries_a_nonce_enforce_nonce_and_mentions_nobody(world: DiscordWorld) -> None:
    adapter = world.adapter()
    chunk = chunk_of(bot_delivery(world.parent.id, "hello @everyone"))
    first = adapter.send(chunk)
    again = adapter.send(chunk)  # a retry of the same chunk: same nonce, Discord returns the first message
    assert first == again
    [msg] = world.fake.messages(world.parent.id)
    assert msg.nonce == chunk.idempotency_key and msg.enforce_nonce
    assert msg.allowed_mentions == {"parse": []}
    assert msg.author_kind == "bot"


def test_a_bound_send_goes_through_the_webhook_into_the_thread_with_the_identity(world: DiscordWorld) -> None:
    svc = world.service()
    record = world.bind_child(svc)
    adapter = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    message_id = adapter.send(chunk_of(bound_delivery(record)))
    thread = record.conversation.conversation_id
    assert thread is not None
    [execute] = world.fake.requests("webhook_execute")
    assert parse_qs(execute.query) == {"wait": ["true"], "thread_id": [thread]}  # into the thread, answer awaited
    [msg] = world.fake.messages(thread)
    assert msg.id == message_id
    assert (msg.author_kind, msg.author_username, msg.avatar_url) == ("webhook", "research-agent",
                                                                      "https://example.com/a.png")
    assert msg.webhook_id == record.metadata["webhookId"]
    assert msg.allowed_mentions == {"parse": []}
    assert world.fake.messages(world.parent.id) == []


class AheadClock:
    """The system clock an hour ahead: a time the adapter stamps cannot be mistaken for one the bind stamped."""

    AHEAD_MS = 3600 * 1000

    def now_ms(self) -> int:
        return SYSTEM_CLOCK.now_ms() + self.AHEAD_MS


def test_sends_record_outbound_activity_and_touch_the_binding(world: DiscordWorld) -> None:
    record = world.bind_child(world.service())  # bound (and its activity stamped) now
    thread = record.conversation.conversation_id
    assert thread is not None and record.last_activity_at is not None
    clock = AheadClock()  # the sends happen "an hour later"
    later = SessionBindingService(world.redis, world.config, clock=clock)
    adapter = DiscordAdapter(world.config, world.redis, runtime=DiscordRuntime(world.config, world.redis, clock=clock),
                             bindings=later, clock=clock)
    sent_from = clock.now_ms()
    webhook_msg = adapter.send(chunk_of(bound_delivery(record)))
    bot_msg = adapter.send(chunk_of(bot_delivery(world.parent.id)))
    sent_until = clock.now_ms()
    hook_activity = adapter.rt.activity.get("default", thread)
    bot_activity = adapter.rt.activity.get("default", world.parent.id)
    assert hook_activity is not None and hook_activity.last_via == "webhook"
    assert hook_activity.last_message_id == webhook_msg
    assert sent_from <= hook_activity.last_outbound_at <= sent_until
    assert bot_activity is not None and bot_activity.last_via == "bot" and bot_activity.last_message_id == bot_msg
    assert sent_from <= bot_activity.last_outbound_at <= sent_until
    touched = later.get(record.binding_id)
    assert touched is not None and touched.last_activity_at is not None
    assert sent_from <= touched.last_activity_at <= sent_until  # the bind's stamp is an hour older


@pytest.mark.parametrize("path", ["webhook", "bot"])
def test_an_archived_thread_is_unarchived_then_sent_to(world: DiscordWorld, path: str) -> None:
    world.fake.configure(archived_send="reject")  # answer 50083 instead of un-archiving on send
    svc = world.service()
    record = world.bind_child(svc)
    thread = record.conversation.conversation_id
    assert thread is not None
    world.fake.set_channel(thread, archived=True)
    adapter = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    delivery = bound_delivery(record) if path == "webhook" else bot_delivery(thread)
    adapter.send(chunk_of(delivery))
    assert len(world.fake.messages(thread)) == 1
    channel = world.fake.channel(thread)
    assert channel is not None and not channel.archived
    assert [r.status for r in world.fake.requests("channel_modify")] == [200]


def test_a_locked_thread_is_a_permanent_failure(world: DiscordWorld) -> None:
    svc = world.service()
    record = world.bind_child(svc)
    thread = record.conversation.conversation_id
    assert thread is not None
    world.fake.set_channel(thread, locked=True)
    adapter = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    with pytest.raises(PermanentError) as err:
        adapter.send(chunk_of(bound_delivery(record)))
    assert err.value.reason == "thread-locked"
    with pytest.raises(PermanentError):
        adapter.validate(record.conversation)


@pytest.mark.parametrize("path", ["webhook", "bot"])
def test_a_deleted_thread_is_destination_gone_and_nothing_reaches_the_parent(world: DiscordWorld, path: str) -> None:
    svc = world.service()
    record = world.bind_child(svc)
    thread = record.conversation.conversation_id
    assert thread is not None
    world.fake.delete_channel(thread)
    adapter = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    delivery = bound_delivery(record) if path == "webhook" else bot_delivery(thread)
    with pytest.raises(DestinationGone):
        adapter.send(chunk_of(delivery))
    with pytest.raises(DestinationGone):
        adapter.validate(record.conversation)
    assert world.fake.messages(world.parent.id) == []
    assert world.fake.messages(thread) == []


def test_a_deleted_webhook_is_replaced_and_the_message_still_comes_with_the_identity(world: DiscordWorld) -> None:
    svc = world.service()
    record = world.bind_child(svc)
    thread = record.conversation.conversation_id
    assert thread is not None
    world.fake.delete_webhook(record.metadata["webhookId"])
    adapter = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    adapter.send(chunk_of(bound_delivery(record)))
    [msg] = world.fake.messages(thread)
    assert msg.author_kind == "webhook" and msg.author_username == "research-agent"
    assert msg.webhook_id != record.metadata["webhookId"]
    stored = adapter.rt.webhooks.get("default", world.parent.id)
    assert stored is not None and stored.id == msg.webhook_id


def test_without_a_usable_webhook_the_bot_sends_to_the_same_thread_never_the_parent(world: DiscordWorld) -> None:
    svc = world.service()
    record = world.bind_child(svc)
    thread = record.conversation.conversation_id
    assert thread is not None
    world.fake.delete_webhook(record.metadata["webhookId"])
    world.fake.set_channel(world.parent.id, deny=["manage_webhooks"])
    adapter = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    adapter.send(chunk_of(bound_delivery(record)))
    [msg] = world.fake.messages(thread)
    assert msg.author_kind == "bot" and msg.nonce is not None
    assert world.fake.messages(world.parent.id) == []


@pytest.mark.parametrize("path", ["webhook", "bot"])
def test_a_response_lost_after_the_message_was_created_gives_one_message(world: DiscordWorld, path: str) -> None:
    svc = world.service()
    record = world.bind_child(svc)
    thread = record.conversation.conversation_id
    assert thread is not None
    route = "webhook_execute" if path == "webhook" else "message_create"
    world.fake.inject("response_lost", route=route)
    adapter = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    delivery = bound_delivery(record) if path == "webhook" else bot_delivery(thread)
    message_id = adapter.send(chunk_of(delivery))
    [msg] = world.fake.messages(thread)
    assert msg.id == message_id
    assert [f.kind for f in world.fake.fault_records()] == ["response_lost"]


@pytest.mark.parametrize("died", ["before-bookkeeping", "after-bookkeeping"])
def test_a_webhook_chunk_sent_by_a_worker_that_died_is_found_not_resent(world: DiscordWorld, died: str) -> None:
    """The first worker sent the chunk, then died before the ledger recorded it; its successor reconciles."""
    svc = world.service()
    record = world.bind_child(svc)
    thread = record.conversation.conversation_id
    assert thread is not None
    first = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    chunk = chunk_of(bound_delivery(record, text="only once"))
    sent = first.send(chunk)
    if died == "before-bookkeeping":
        world.redis.delete(keys.claim(sent))
    successor = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    assert successor.reconcile(chunk) == sent
    assert successor.send(chunk) == sent  # the engine would not even ask; if it did, nothing new is sent
    other = successor.send(chunk_of(bound_delivery(record, text="only once", delivery_id="d-other")))
    assert other != sent
    assert [m.content for m in world.fake.messages(thread)] == ["only once", "only once"]


def test_two_chunks_with_the_same_text_never_reconcile_to_the_same_message(world: DiscordWorld) -> None:
    svc = world.service()
    record = world.bind_child(svc)
    thread = record.conversation.conversation_id
    assert thread is not None
    adapter = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    one = chunk_of(bound_delivery(record, text="same", delivery_id="d-one"))
    two = chunk_of(bound_delivery(record, text="same", delivery_id="d-two"))
    sent_one = adapter.send(one)
    adapter.attempts.begin(two.idempotency_key, thread, "webhook")  # two was "tried" but never reached Discord
    assert adapter.reconcile(two) is None  # the only "same" message is one's, already claimed
    assert adapter.send(two) != sent_one
    assert len(world.fake.messages(thread)) == 2


def test_server_errors_on_the_bot_path_are_retried_with_the_same_nonce(world: DiscordWorld) -> None:
    world.fake.inject("status", route="message_create", status=502, times=2)
    world.fake.inject("status", route="message_create", status=500, stage="after")
    adapter = world.adapter()
    adapter.rt.api.sleep = lambda s: None
    adapter.send(chunk_of(bot_delivery(world.parent.id)))
    assert len(world.fake.messages(world.parent.id)) == 1
    assert [r.status for r in world.fake.requests("message_create")] == [502, 502, 500, 200]


def test_persistent_server_errors_end_the_attempt_as_retryable(world: DiscordWorld) -> None:
    world.fake.inject("status", route="message_create", status=503, times=None)
    adapter = world.adapter()
    adapter.rt.api.sleep = lambda s: None
    with pytest.raises(RetryableError):
        adapter.send(chunk_of(bot_delivery(world.parent.id)))


def test_a_rotated_token_file_is_used_by_the_next_request(world: DiscordWorld) -> None:
    adapter = world.adapter()
    adapter.send(chunk_of(bot_delivery(world.parent.id, delivery_id="d-1")))
    world.rotate_token("rotated-token")
    adapter.send(chunk_of(bot_delivery(world.parent.id, delivery_id="d-2")))
    assert [r.token for r in world.fake.requests("message_create")] == ["test-bot-token", "rotated-token"]
    assert [r.status for r in world.fake.requests("message_create")] == [200, 200]


def test_a_wrong_token_is_permanent_unauthorized_and_counts_as_invalid(world: DiscordWorld) -> None:
    world.fake.set_token("some-other-token")
    adapter = world.adapter()
    with pytest.raises(PermanentError) as err:
        adapter.send(chunk_of(bot_delivery(world.parent.id)))
    assert err.value.reason == "unauthorized"
    assert adapter.rt.limiter.invalid_count() == 1


@pytest.mark.parametrize(("deny", "reason"), [(["view"], "missing-access"), (["send"], "missing-permissions")])
def test_missing_access_and_permissions_are_permanent(world: DiscordWorld, deny: list[str], reason: str) -> None:
    world.fake.set_channel(world.parent.id, deny=deny)
    with pytest.raises(PermanentError) as err:
        world.adapter().send(chunk_of(bot_delivery(world.parent.id)))
    assert err.value.reason == reason


def test_an_invalid_payload_is_permanent(world: DiscordWorld) -> None:
    with pytest.raises(PermanentError) as err:
        world.adapter().send(chunk_of(bot_delivery(world.parent.id, text="")))
    assert err.value.reason == "invalid-payload"


def test_long_text_is_split_and_every_chunk_is_accepted(world: DiscordWorld) -> None:
    adapter = world.adapter()
    text = "word " * 900 + "\n```py\n" + "print(1)\n" * 300 + "```"
    chunks = adapter.split(text)
    assert len(chunks) > 1
    delivery = bot_delivery(world.parent.id, text)
    for i, part in enumerate(chunks):
        adapter.send(chunk_of(delivery, i, part, len(chunks)))
    assert [m.content for m in world.fake.messages(world.parent.id) if m.type == DEFAULT_MESSAGE] == chunks


def test_a_reserved_word_in_the_username_falls_back_to_the_webhook_name(world: DiscordWorld) -> None:
    svc = world.service()
    record = world.bind_child(svc)
    adapter = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    adapter.send(chunk_of(bound_delivery(record, username="my discord helper")))
    thread = record.conversation.conversation_id
    assert thread is not None
    [msg] = world.fake.messages(thread)
    assert msg.author_username == "tether"


def test_secrets_stay_out_of_logs_errors_and_binding_records(world: DiscordWorld,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    svc = world.service()
    record = world.bind_child(svc)
    thread = record.conversation.conversation_id
    assert thread is not None
    adapter = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    adapter.send(chunk_of(bound_delivery(record, delivery_id="d-ok")))
    adapter.send(chunk_of(bot_delivery(world.parent.id, delivery_id="d-bot-ok")))
    world.fake.inject("response_lost", route="webhook_execute")
    adapter.send(chunk_of(bound_delivery(record)))
    world.fake.set_token("other")
    with pytest.raises(PermanentError) as err:
        adapter.send(chunk_of(bot_delivery(world.parent.id)))
    [hook] = world.fake.webhooks(world.parent.id)
    secrets = [hook.token, "test-bot-token"]
    # The logs did speak of the webhook and of the refused request (by id and route), just not of their secrets.
    assert any(getattr(r, "webhookId", None) == hook.id for r in caplog.records)
    assert any(getattr(r, "status", None) == 401 for r in caplog.records)
    logged = "\n".join(f"{r.getMessage()} {log_fields(r)}" for r in caplog.records)  # message and every extra
    text = logged + str(err.value) + repr(record) + str(svc.get(record.binding_id))
    assert not any(s in text for s in secrets)


def test_validate_accepts_an_archived_thread_which_the_next_send_reopens(world: DiscordWorld) -> None:
    thread = world.fake.add_thread(world.parent.id, archived=True)
    adapter = world.adapter()
    adapter.validate(ConversationRef(channel="discord", conversation_id=thread.id))
    adapter.send(chunk_of(bot_delivery(thread.id)))
    channel = world.fake.channel(thread.id)
    assert channel is not None and not channel.archived


def test_a_chunk_first_tried_as_the_bot_stays_on_the_bot_path(world: DiscordWorld) -> None:
    """A webhook that appears between two attempts must not turn a resend into a second, different message."""
    svc = world.service()
    world.fake.set_channel(world.parent.id, deny=["manage_webhooks"])
    record = world.bind_child(svc)  # no webhook: the first attempt goes out as the bot
    thread = record.conversation.conversation_id
    assert thread is not None
    adapter = DiscordAdapter(world.config, world.redis, runtime=world.runtime(), bindings=svc)
    adapter.rt.api.sleep = lambda s: None
    chunk = chunk_of(bound_delivery(record))
    world.fake.inject("response_lost", route="message_create", times=4)
    with pytest.raises(RetryableError):
        adapter.send(chunk)
    world.fake.set_channel(world.parent.id, deny=[])
    adapter.rt.webhooks.ensure("default", world.parent.id)
    adapter.send(chunk)
    [msg] = world.fake.messages(thread)
    assert msg.author_kind == "bot"
