"""A group upgraded to a supergroup: the bindings move to the new chat id in one step and the delivery is sent
there once; deliveries still naming the old id follow without asking Telegram again."""

from __future__ import annotations

from adapters.telegram.check import TelegramConversationCheck
from bindings.model import ConversationRef, SessionBindingRecord
from tests.adapters.telegram.conftest import TelegramWorld, chunk_of, delivery, ref


def test_a_send_to_a_migrated_group_moves_the_binding_and_lands_once_in_the_supergroup(world: TelegramWorld) -> None:
    group = world.fake.add_chat("group")
    record = world.bind_chat(group.id)
    adapter = world.adapter()
    adapter.send(chunk_of(delivery(record.conversation, "before", record=record)))
    supergroup = world.fake.migrate(group.id)

    message_id = adapter.send(chunk_of(delivery(record.conversation, "after", delivery_id="d-2", record=record)))
    assert message_id.startswith(f"{supergroup.id}:")
    assert [m.text for m in world.fake.messages(supergroup.id)] == ["after"]
    assert [m.text for m in world.fake.messages(group.id)] == ["before"]
    moved = world.service().get(record.binding_id)
    assert moved is not None and moved.status == "active"
    assert moved.conversation.conversation_id == str(supergroup.id)
    assert world.service().resolve_by_conversation(ref(str(group.id))) is None

    # a delivery routed before the migration still names the old chat: it goes straight to the new one
    adapter.send(chunk_of(delivery(record.conversation, "queued earlier", delivery_id="d-3", record=record)))
    assert [m.text for m in world.fake.messages(supergroup.id)] == ["after", "queued earlier"]
    statuses = [(r.chat_id, r.status) for r in world.fake.requests("sendMessage")]
    assert statuses == [(group.id, 200), (group.id, 400), (supergroup.id, 200), (supergroup.id, 200)]


def test_the_sweeper_check_moves_bindings_of_a_migrated_group_and_ends_those_of_lost_chats(
    world: TelegramWorld,
) -> None:
    group = world.fake.add_chat("group")
    kicked = world.fake.add_chat("supergroup", is_forum=True)
    moving = world.bind_chat(group.id, session="agent:a")
    topic = world.bind_child(session="agent:b", chat_id=kicked.id)
    adapter = world.adapter()
    adapter.send(chunk_of(delivery(moving.conversation, record=moving)))
    adapter.send(chunk_of(delivery(topic.conversation, delivery_id="d-2", record=topic)))
    new = world.fake.migrate(group.id)
    world.fake.set_chat(kicked.id, bot_status="kicked")
    world.redis.zadd("tether:telegram:chats", {f"default|{group.id}": 0, f"default|{kicked.id}": 0}, xx=True)

    ended: list[SessionBindingRecord] = []
    counts = TelegramConversationCheck(world.config, world.redis).run_once(ended.append)
    assert counts == {"checked": 2, "kept": 0, "migrated": 1, "deleted": 1, "ended": 1}
    assert ended == []  # no farewell into a chat the bot cannot reach
    svc = world.service()
    gone = svc.get(topic.binding_id)
    assert gone is not None and (gone.status, gone.end_reason) == ("ended", "chat-gone")
    assert svc.resolve_by_conversation(ConversationRef(channel="telegram", conversation_id=str(new.id))) is not None
    assert TelegramConversationCheck(world.config, world.redis).run_once(ended.append)["checked"] == 0
