"""Child placement on Slack: one thread root per bind, found again rather than posted twice after a lost answer."""

from __future__ import annotations

import pytest

from bindings.errors import ProvisioningError
from tests.adapters.slack.conftest import SlackWorld, chunk_of, delivery_to


def test_a_child_bind_posts_one_root_and_binds_its_thread(world: SlackWorld) -> None:
    record = world.bind_child(world.service(), label="research")
    [root] = world.fake.root_messages(world.channel.id)
    assert root.text == "🤖 research"
    assert root.metadata is not None and root.metadata["event_type"] == "tether_thread_root"
    assert record.conversation.conversation_id == root.ts
    assert record.conversation.parent_conversation_id == world.channel.id
    assert record.metadata["threadTs"] == root.ts
    world.adapter().send(chunk_of(delivery_to(record.conversation, "done", binding_id=record.binding_id)))
    assert [m.text for m in world.fake.messages(world.channel.id, thread_ts=root.ts)] == ["done"]
    assert len(world.fake.root_messages(world.channel.id)) == 1


def test_the_root_text_comes_from_thread_root_text(world: SlackWorld) -> None:
    svc = world.service(root_text="Session {label} {x}")
    world.bind_child(svc, label="build {cache}")
    assert [m.text for m in world.fake.root_messages(world.channel.id)] == ["Session build {cache} {x}"]


@pytest.mark.parametrize("fault", [{"kind": "lose-answer"}, {"kind": "5xx", "stored": True, "status": 502}])
def test_a_lost_answer_to_the_root_post_leaves_exactly_one_root(world: SlackWorld, fault: dict[str, object]) -> None:
    world.fake.inject(method="chat.postMessage", **fault)  # type: ignore[arg-type]
    record = world.bind_child(world.service())
    roots = world.fake.root_messages(world.channel.id)
    assert [r.ts for r in roots] == [record.conversation.conversation_id]
    assert world.fake.count_requests("chat.postMessage") == 1


def test_a_root_post_that_never_landed_is_posted_again_once(world: SlackWorld) -> None:
    world.fake.inject("5xx", method="chat.postMessage", status=500)
    record = world.bind_child(world.service())
    assert [r.ts for r in world.fake.root_messages(world.channel.id)] == [record.conversation.conversation_id]
    assert world.fake.count_requests("chat.postMessage") == 2


def test_lost_answers_every_time_still_make_one_root(world: SlackWorld) -> None:
    world.fake.inject("lose-answer", method="chat.postMessage", count=3)
    world.fake.inject("lose-answer", method="conversations.history", count=1)
    with pytest.raises(ProvisioningError, match="could not be read"):
        world.bind_child(world.service())
    assert len(world.fake.root_messages(world.channel.id)) == 1  # not posted again without knowing


def test_an_archived_parent_fails_the_bind_naming_the_error(world: SlackWorld) -> None:
    world.fake.set_channel(world.channel.id, is_archived=True)
    with pytest.raises(ProvisioningError, match="is_archived"):
        world.bind_child(world.service())
    assert world.fake.bot_messages() == []
