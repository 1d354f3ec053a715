"""The Slack adapter against the local Slack Web API: where messages land, what they carry, what failures mean."""

from __future__ import annotations

import pytest

from adapters.protocol import DestinationGone, PermanentError, RetryableError
from adapters.slack.errors import OutcomeUnknown
from adapters.slack.reconcile import delivery_metadata
from tests.adapters.slack.conftest import SlackWorld, chunk_of, delivery_to, thread_ref


def test_a_chunk_lands_in_its_thread_with_metadata_identity_and_no_unfurl(world: SlackWorld) -> None:
    root = world.thread()
    adapter = world.adapter()
    ts = adapter.send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts), "Task complete")))
    [landed] = world.fake.messages(world.channel.id, thread_ts=root.ts)
    assert (landed.ts, landed.text) == (ts, "Task complete")
    assert landed.metadata == delivery_metadata("d-1", 0)
    assert (landed.username, landed.icon_url) == ("research-agent", "https://example.com/a.png")
    assert (landed.unfurl_links, landed.unfurl_media, landed.reply_broadcast) == (False, False, False)
    assert [m.text for m in world.fake.root_messages(world.channel.id)] == ["a thread to bind"]
    assert adapter.rt.activity.sends("default", root.ts) == 1


def test_a_channel_destination_posts_in_the_channel(world: SlackWorld) -> None:
    from bindings.model import ConversationRef

    ref = ConversationRef(channel="slack", conversation_id=world.channel.id)
    world.adapter().send(chunk_of(delivery_to(ref, "to the channel", username=None, avatar_url=None)))
    assert [m.text for m in world.fake.root_messages(world.channel.id)] == ["to the channel"]


def test_text_is_split_in_characters_above_max_chunk_chars(world: SlackWorld) -> None:
    adapter = world.adapter(max_chunk=100)
    chunks = adapter.split("é" * 150)
    assert len(chunks) == 2 and all(len(c) <= 100 for c in chunks) and "".join(chunks) == "é" * 150
    assert world.adapter().split("x" * 4000) == ["x" * 4000]


def test_the_token_is_read_at_every_request(world: SlackWorld) -> None:
    root = world.thread()
    adapter = world.adapter()
    adapter.send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts), delivery_id="d-a")))
    world.rotate_token("xoxb-rotated")
    adapter.send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts), delivery_id="d-b")))
    assert len(world.fake.messages(world.channel.id, thread_ts=root.ts)) == 2


def test_a_refused_identity_is_dropped_and_logged_once_per_account(world: SlackWorld,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    root = world.thread()
    world.fake.configure(refuse_customize=True)
    adapter = world.adapter()
    for n in range(2):
        adapter.send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts), f"m{n}", delivery_id=f"d-{n}")))
    landed = world.fake.messages(world.channel.id, thread_ts=root.ts)
    assert [(m.text, m.username) for m in landed] == [("m0", None), ("m1", None)]
    assert sum("chat:write.customize" in r.getMessage() for r in caplog.records) == 1
    assert world.fake.count_requests("chat.postMessage") == 3  # one refusal, then never asked again


@pytest.mark.parametrize(("setup", "expected", "reason"), [
    ("deleted-root", DestinationGone, "destination-gone"),
    ("deleted-channel", DestinationGone, "destination-gone"),
    ("archived", PermanentError, "channel-archived"),
    ("not-member", PermanentError, "not-in-channel"),
    ("revoked", PermanentError, "unauthorized"),
    ("wrong-token", PermanentError, "unauthorized"),
    ("no-scope", PermanentError, "missing-scope"),
    ("restricted", PermanentError, "restricted-action"),
    ("internal", RetryableError, "outcome-unknown"),
    ("service-unavailable", RetryableError, "server-error"),
])
def test_error_answers_map_to_delivery_failures(world: SlackWorld, setup: str, expected: type[Exception],
                                                reason: str) -> None:
    root = world.thread()
    fake = world.fake
    if setup == "deleted-root":
        fake.delete_message(world.channel.id, root.ts)
    elif setup == "deleted-channel":
        fake.set_channel(world.channel.id, deleted=True)
    elif setup == "archived":
        fake.set_channel(world.channel.id, is_archived=True)
    elif setup == "not-member":
        fake.set_channel(world.channel.id, is_member=False)
    elif setup == "revoked":
        fake.revoke_token(fake.token)
    elif setup == "wrong-token":
        world.token_path.write_text("xoxb-not-the-token\n")
    elif setup == "no-scope":
        fake.set_token(fake.token, ["channels:history"])
    elif setup == "restricted":
        fake.inject("error", error="restricted_action")
    elif setup == "internal":
        fake.inject("error", error="internal_error")
    else:
        fake.inject("error", error="service_unavailable")
    with pytest.raises(expected) as caught:
        world.adapter().send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts))))
    assert getattr(caught.value, "reason", None) == reason
    assert fake.token not in str(caught.value)
    assert fake.bot_messages() == []


def test_missing_scope_names_the_scope(world: SlackWorld) -> None:
    root = world.thread()
    world.fake.set_token(world.fake.token, ["channels:history"])
    with pytest.raises(PermanentError, match="chat:write"):
        world.adapter().send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts))))


def test_a_lost_answer_is_found_in_the_thread_instead_of_posting_again(world: SlackWorld) -> None:
    root = world.thread()
    world.fake.inject("lose-answer", method="chat.postMessage")
    ts = world.adapter().send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts))))
    assert [m.ts for m in world.fake.messages(world.channel.id, thread_ts=root.ts)] == [ts]


def test_a_5xx_that_stored_the_message_is_found_too(world: SlackWorld) -> None:
    root = world.thread()
    world.fake.inject("5xx", method="chat.postMessage", status=503, stored=True)
    ts = world.adapter().send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts))))
    assert [m.ts for m in world.fake.messages(world.channel.id, thread_ts=root.ts)] == [ts]


def test_a_timeout_that_stored_nothing_is_retryable_and_reconcile_says_not_sent(world: SlackWorld) -> None:
    root = world.thread()
    world.fake.inject("timeout", method="chat.postMessage", delay_s=1.5)
    adapter = world.adapter(timeout_s=1)
    chunk = chunk_of(delivery_to(thread_ref(world.channel.id, root.ts)))
    with pytest.raises(OutcomeUnknown):
        adapter.send(chunk)
    assert adapter.reconcile(chunk) is None
    ts = adapter.send(chunk)
    assert adapter.reconcile(chunk) == ts
    assert len(world.fake.messages(world.channel.id, thread_ts=root.ts)) == 1


def test_reconcile_tells_chunks_of_one_delivery_apart(world: SlackWorld) -> None:
    root = world.thread()
    adapter = world.adapter()
    delivery = delivery_to(thread_ref(world.channel.id, root.ts), "a|b")
    first = adapter.send(chunk_of(delivery, 0, "a", count=2))
    assert adapter.reconcile(chunk_of(delivery, 0, "a", count=2)) == first
    assert adapter.reconcile(chunk_of(delivery, 1, "b", count=2)) is None


def test_reconcile_of_a_deleted_thread_is_destination_gone(world: SlackWorld) -> None:
    root = world.thread()
    world.fake.delete_message(world.channel.id, root.ts)
    with pytest.raises(DestinationGone):
        world.adapter().reconcile(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts))))


def test_a_429_blocks_the_channel_for_every_process_and_the_send_then_succeeds(world: SlackWorld) -> None:
    root = world.thread()
    world.fake.configure(fractional_retry_after=True)
    world.fake.inject("429", method="chat.postMessage", retry_after_s=0.3)
    adapter = world.adapter()
    ts = adapter.send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts))))
    assert [m.ts for m in world.fake.messages(world.channel.id, thread_ts=root.ts)] == [ts]
    assert world.fake.count_requests("chat.postMessage", status=429) == 1


def test_429_after_429_hands_the_attempt_back_to_the_engine(world: SlackWorld) -> None:
    root = world.thread()
    world.fake.configure(fractional_retry_after=True)
    world.fake.inject("429", method="chat.postMessage", retry_after_s=0.05, count=-1)
    with pytest.raises(RetryableError) as caught:
        world.adapter(max_rate_limited=2).send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts))))
    assert caught.value.reason == "rate-limited"
    assert world.fake.count_requests("chat.postMessage", status=429) == 3


def test_posts_into_one_channel_are_paced_before_sending(world: SlackWorld) -> None:
    root = world.thread()
    world.fake.configure(post_per_channel=(20.0, 3))  # Slack tolerates a little more burst than tether uses
    from adapters.ratelimit import Rate

    adapter = world.adapter(post_rate=Rate(per_s=20.0, burst=2))
    for n in range(8):
        adapter.send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts), delivery_id=f"d-{n}")))
    assert world.fake.count_requests("chat.postMessage", status=429) == 0
    assert len(world.fake.messages(world.channel.id, thread_ts=root.ts)) == 8


def test_validate_sees_a_deleted_root_and_an_archived_channel(world: SlackWorld) -> None:
    root, other = world.thread(), world.thread("another")
    adapter = world.adapter()
    adapter.validate(thread_ref(world.channel.id, root.ts))
    world.fake.delete_message(world.channel.id, root.ts)
    with pytest.raises(DestinationGone):
        adapter.validate(thread_ref(world.channel.id, root.ts))
    world.fake.set_channel(world.channel.id, is_archived=True)
    with pytest.raises(PermanentError, match="is_archived"):
        adapter.validate(thread_ref(world.channel.id, other.ts))


def test_a_429_that_never_posted_tells_the_engine_nothing_was_sent(world: SlackWorld) -> None:
    root = world.thread()
    world.fake.configure(fractional_retry_after=True)
    world.fake.inject("429", method="chat.postMessage", retry_after_s=0.05, count=-1)
    with pytest.raises(RetryableError) as caught:
        world.adapter(max_rate_limited=1).send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts))))
    assert caught.value.unsent is True  # the next attempt posts plainly, without reading the thread first


def test_a_lost_answer_is_not_unsent(world: SlackWorld) -> None:
    root = world.thread()
    world.fake.inject("lose-answer", method="chat.postMessage")
    world.fake.inject("lose-answer", method="conversations.replies")
    with pytest.raises(OutcomeUnknown) as caught:
        world.adapter().send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts))))
    assert caught.value.unsent is False
