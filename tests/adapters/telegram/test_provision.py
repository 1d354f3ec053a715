"""Child placement on Telegram: a forum topic per bound session, and clear refusals when that cannot be done."""

from __future__ import annotations

import pytest

from adapters.telegram.settings import TelegramSettings
from bindings.errors import ProvisioningError
from tests.adapters.telegram.conftest import TelegramWorld


def test_child_bind_creates_a_named_topic_and_binds_it(world: TelegramWorld) -> None:
    record = world.bind_child(label="research papers")
    [made] = world.fake.requests("createForumTopic")
    topic_id = made.message_id
    assert record.conversation.conversation_id == f"{world.forum.id}:topic:{topic_id}"
    assert record.conversation.parent_conversation_id == str(world.forum.id)
    assert record.metadata == {"chatId": str(world.forum.id), "topicId": str(topic_id),
                               "topicName": "🤖 research papers"}
    assert topic_id is not None and world.fake.chat(world.forum.id).topics[topic_id].name == "🤖 research papers"


def test_topic_name_comes_from_the_template_and_is_cut_to_128_characters(world: TelegramWorld) -> None:
    world.reconfigure('topicName = "agent · {label} · run"\n')
    settings = TelegramSettings.from_config(world.config)
    assert settings.topic_title("  deep\n research ", "agent:x") == "agent · deep research · run"
    assert settings.topic_title(None, "agent:main:subagent:abc") == "agent · agent:main:subagent:abc · run"
    long = settings.topic_title("x" * 300, "s")
    assert len(long) == 128
    record = world.bind_child(label="y" * 300)
    assert len(record.metadata["topicName"]) == 128


def test_a_chat_that_is_not_a_forum_is_a_clear_provisioning_error(world: TelegramWorld) -> None:
    plain = world.fake.add_chat("supergroup")
    with pytest.raises(ProvisioningError, match=r"not a forum.*placement 'current'"):
        world.bind_child(chat_id=plain.id)


def test_a_bot_without_the_topic_right_is_told_which_right(world: TelegramWorld) -> None:
    weak = world.fake.add_chat("supergroup", is_forum=True, can_manage_topics=False)
    with pytest.raises(ProvisioningError, match="can_manage_topics"):
        world.bind_child(chat_id=weak.id)


@pytest.mark.parametrize("fault", [{"kind": "response_lost"}, {"kind": "status", "status": 502, "stage": "after"}])
def test_a_lost_answer_is_never_retried_blindly_and_names_the_topic(world: TelegramWorld,
                                                                    fault: dict[str, object]) -> None:
    world.fake.inject(route="createForumTopic", **fault)  # type: ignore[arg-type]
    with pytest.raises(ProvisioningError, match=f"chat {world.forum.id}: a topic named '🤖 research' may have"):
        world.bind_child(label="research")
    assert len(world.fake.requests("createForumTopic")) == 1
    assert len(world.fake.chat(world.forum.id).topics) == 1  # the one the lost answer made, and no second
    assert world.service().count_active() == 0


def test_no_binding_is_made_when_provisioning_fails(world: TelegramWorld) -> None:
    world.fake.set_chat(world.forum.id, bot_status="kicked")
    with pytest.raises(ProvisioningError):
        world.bind_child()
    assert world.service().count_active() == 0
