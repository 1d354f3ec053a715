"""The Matrix adapter against a real Synapse (through the fault proxy): what lands in the room, read back from it."""

from __future__ import annotations

import pytest

from adapters.activity import ActivityLog
from adapters.matrix.adapter import MatrixAdapter
from adapters.protocol import DestinationGone, PermanentError, RetryableError
from bindings.model import ConversationRef
from tests.support.matrix_world import MatrixWorld, chunk_of, delivery_to, room_ref


def test_a_room_delivery_lands_in_the_main_timeline_as_the_bot(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    adapter = w.adapter()
    delivery = delivery_to(room_ref(w.room), "e-room", "all done")
    event_id = adapter.send(chunk_of(delivery))
    landed = w.main_timeline(w.room)
    assert [(e["event_id"], e["sender"], e["content"]["body"], e["content"]["msgtype"]) for e in landed] == [
        (event_id, w.home.bot.user_id, "all done", "m.text")]
    activity = ActivityLog(w.redis, "matrix").get("default", w.room)
    assert activity is not None and activity.last_message_id == event_id and activity.sends == 1
    assert w.proxy.stats.token_in_query == 0


def test_a_child_binding_gets_a_root_and_its_deliveries_land_in_the_thread_only(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    svc = w.service()
    record = w.bind_child(svc, label="research")
    root = record.conversation.conversation_id
    assert root and record.conversation.parent_conversation_id == w.room
    assert record.metadata == {"roomId": w.room, "rootEventId": root}
    adapter = w.adapter()
    event_id = adapter.send(chunk_of(delivery_to(record.conversation, "e-1", "Task complete", record=record)))
    replies = w.thread(w.room, root)
    assert [e["event_id"] for e in replies] == [event_id]
    assert replies[0]["content"]["m.relates_to"] == {
        "rel_type": "m.thread", "event_id": root, "is_falling_back": True, "m.in_reply_to": {"event_id": root}}
    assert [e["content"]["body"] for e in w.main_timeline(w.room)] == ["\N{ROBOT FACE} research"]
    touched = svc.get(record.binding_id)
    assert touched is not None and touched.last_activity_at is not None


def test_a_retried_bind_makes_one_root(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    w.proxy.add("lose-answer", times=1)  # the root's answer is lost once: the client sends it again
    svc = w.service()
    record = w.bind_child(svc, label="retry me")
    again = w.bind_child(svc, label="retry me")  # a caller that did not learn the first bind's outcome
    assert again.conversation.conversation_id == record.conversation.conversation_id
    assert [e["content"]["body"] for e in w.main_timeline(w.room)] == ["\N{ROBOT FACE} retry me"]


def test_a_lost_answer_is_resent_with_the_same_transaction_and_lands_once(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    record = w.bind_child(w.service())
    w.proxy.add("lose-answer", times=1)
    w.proxy.add("5xx-after", times=1)
    w.proxy.add("timeout", times=1, delay_s=0.1)
    event_id = w.adapter().send(chunk_of(delivery_to(record.conversation, "e-lost", record=record)))
    assert w.proxy.stats.faults == {"lose-answer": 1, "5xx-after": 1, "timeout": 1}
    root = record.conversation.conversation_id or ""
    assert [e["event_id"] for e in w.thread(w.room, root)] == [event_id]


def test_a_chunk_whose_attempts_all_failed_is_sent_later_as_the_same_event(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    record = w.bind_child(w.service())
    chunk = chunk_of(delivery_to(record.conversation, "e-late", record=record))
    w.proxy.add("5xx-after", times=None)  # every try creates the event (first time) and loses the answer
    with pytest.raises(RetryableError):
        w.adapter().send(chunk)
    w.proxy.clear()
    event_id = w.adapter().send(chunk)  # the engine's next attempt, in another process perhaps
    assert [e["event_id"] for e in w.thread(w.room, record.conversation.conversation_id or "")] == [event_id]


def test_a_5xx_before_the_homeserver_is_retried_and_lands_once(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    w.proxy.add("5xx", times=2)
    w.adapter().send(chunk_of(delivery_to(room_ref(w.room), "e-5xx")))
    assert len(w.main_timeline(w.room)) == 1


def test_long_text_is_cut_into_events_within_the_size_limit_and_reads_back_whole(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    record = w.bind_child(w.service())
    text = ("\N{GRINNING FACE} \"quoted\" words\n" * 4000) + "```python\n" + ("x = 1\n" * 3000) + "```\n"
    adapter = w.adapter()
    chunks = adapter.split(text)
    assert len(chunks) >= 3
    delivery = delivery_to(record.conversation, "e-long", text, record=record, username=None)
    for index, part in enumerate(chunks):
        adapter.send(chunk_of(delivery, index, part, count=len(chunks)))
    bodies = [e["content"]["body"] for e in w.thread(w.room, record.conversation.conversation_id or "")]
    assert bodies == chunks
    assert all(len(b.encode()) <= adapter.settings.max_body_bytes for b in bodies)


def test_identity_prefix_names_the_sub_agent_on_the_first_chunk(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    w.config_path.write_text(w.config_path.read_text().replace(
        "[channels.matrix]\n", '[channels.matrix]\nidentityPrefix = true\nmessageType = "m.notice"\n'))
    from bindings.config import load_config

    w.config = load_config(w.config_path)
    w.adapter().send(chunk_of(delivery_to(room_ref(w.room), "e-id", "done", username="research-agent")))
    [event] = w.main_timeline(w.room)
    assert event["content"]["body"] == "research-agent: done"
    assert event["content"]["msgtype"] == "m.notice"


def test_a_revoked_token_is_unauthorized(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    w.token_path.write_text("syt_not_a_token\n")
    with pytest.raises(PermanentError) as info:
        w.adapter().send(chunk_of(delivery_to(room_ref(w.room), "e-401")))
    assert info.value.reason == "unauthorized"
    assert "syt_not_a_token" not in str(info.value)


def test_a_rotated_token_file_is_used_at_the_next_request(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    adapter = w.adapter()
    adapter.send(chunk_of(delivery_to(room_ref(w.room), "e-before")))
    second = w.admin.login(w.home.bot)
    w.token_path.write_text(second.access_token + "\n")
    w.admin.logout(second)  # ... and revoke it: the adapter must be using it, so it must now fail
    with pytest.raises(PermanentError):
        adapter.send(chunk_of(delivery_to(room_ref(w.room), "e-after")))


def test_a_kicked_bot_finds_the_destination_gone(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    room = w.new_room("kick")
    w.admin.kick(w.home.human, room, w.home.bot)
    with pytest.raises(DestinationGone):
        w.adapter().send(chunk_of(delivery_to(room_ref(room), "e-kicked")))


def test_a_room_the_bot_never_joined_is_gone(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    with pytest.raises(DestinationGone):
        w.adapter().send(chunk_of(delivery_to(room_ref("!unknown:tether.test"), "e-unknown")))


def test_power_levels_that_forbid_the_bot_are_permanent(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    room = w.new_room("muted")
    w.admin.set_power(w.home.human, room, events_default=50)
    with pytest.raises(PermanentError) as info:
        w.adapter().send(chunk_of(delivery_to(room_ref(room), "e-muted")))
    assert info.value.reason == "forbidden"


def test_an_upgraded_room_is_followed_and_the_binding_moves_with_it(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    svc = w.service()
    record = w.bind_child(svc, label="moving")
    new_room = w.admin.upgrade(w.home.human, w.room)
    w.admin.invite(w.home.human, new_room, w.home.bot)  # a private room: the bot may join once invited
    adapter = w.adapter()
    event_id = adapter.send(chunk_of(delivery_to(record.conversation, "e-moved", record=record)))
    [moved] = svc.list_by_session(record.target_session_key)
    assert moved.status == "active" and moved.conversation.parent_conversation_id == new_room
    new_root = moved.conversation.conversation_id or ""
    assert [e["event_id"] for e in w.thread(new_room, new_root)] == [event_id]
    assert [e["content"]["body"] for e in w.main_timeline(new_room)] == ["\N{ROBOT FACE} moving"]
    old = svc.get(record.binding_id)
    assert old is not None and old.status == "ended" and old.end_reason == "room-upgraded"
    # a later chunk of the same delivery (the payload still names the old thread) goes to the new thread too
    again = adapter.send(chunk_of(delivery_to(record.conversation, "e-moved-2", record=record)))
    assert [e["event_id"] for e in w.thread(new_room, new_root)] == [event_id, again]


def test_capabilities_say_resend_with_the_same_key(matrix_world: MatrixWorld) -> None:
    adapter: MatrixAdapter = matrix_world.adapter()
    assert adapter.capabilities.idempotency_key and "child" in adapter.capabilities.placements
    assert adapter.reconcile(chunk_of(delivery_to(ConversationRef(channel="matrix", conversation_id="!r:x"),
                                                  "e"))) is None


def test_an_upgraded_room_the_bot_cannot_join_is_gone(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    record = w.bind_child(w.service(), label="stranded")
    w.admin.upgrade(w.home.human, w.room)  # private, and the bot is not invited to the replacement
    with pytest.raises(DestinationGone):
        w.adapter().send(chunk_of(delivery_to(record.conversation, "e-stranded", record=record)))


def test_a_token_rotated_on_the_same_device_keeps_the_transaction(matrix_world: MatrixWorld) -> None:
    """The README's advice, checked: log in again naming the device, and a resend still lands once."""
    w = matrix_world
    bot = w.admin.login(w.home.bot)  # the bot's own device for this test
    w.token_path.write_text(bot.access_token)
    chunk = chunk_of(delivery_to(room_ref(w.room), "e-rotate-same"))
    first = w.adapter().send(chunk)
    rotated = w.admin.login(bot, device_id=bot.device_id)
    assert rotated.access_token != bot.access_token and rotated.device_id == bot.device_id
    w.token_path.write_text(rotated.access_token)
    assert w.adapter().send(chunk) == first
    assert len(w.main_timeline(w.room)) == 1


def test_a_token_of_a_new_device_loses_the_transaction(matrix_world: MatrixWorld) -> None:
    """The README's warning, checked: a resend after a login on a new device is a second event."""
    w = matrix_world
    chunk = chunk_of(delivery_to(room_ref(w.room), "e-rotate-new"))
    first = w.adapter().send(chunk)
    w.token_path.write_text(w.admin.login(w.home.bot).access_token)  # no device_id: a new device
    assert w.adapter().send(chunk) != first
    assert len(w.main_timeline(w.room)) == 2


def test_two_processes_following_one_upgrade_make_one_root_and_one_binding(matrix_world: MatrixWorld) -> None:
    from adapters.matrix.rooms import Moves, follow_upgrade

    w = matrix_world
    svc = w.service()
    record = w.bind_child(svc, label="racing")
    new_room = w.admin.upgrade(w.home.human, w.room)
    w.admin.invite(w.home.human, new_room, w.home.bot)
    moved, active = [], []
    for adapter in (w.adapter(), w.adapter()):  # both saw the 403 before either recorded the move
        moved.append(follow_upgrade(adapter.rt, Moves(adapter.rt), svc, record.conversation, new_room,
                                    binding_id=record.binding_id, root_text="\N{ROBOT FACE} {label}"))
        active.append([r.binding_id for r in svc.list_by_session(record.target_session_key)])
    assert moved[0] == moved[1]
    assert len(active[0]) == 1 and active[1] == active[0]  # the second follower bound nothing anew
    assert [e["content"]["body"] for e in w.main_timeline(new_room)] == ["\N{ROBOT FACE} racing"]
