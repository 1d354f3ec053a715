"""Moving bindings to new conversation ids in one step (a platform renamed its conversations), on real and fake
Redis: ids, sessions and deadlines stay, the old ids no longer resolve, parents move with their children."""

from __future__ import annotations

import pytest
import redis

from bindings.errors import InvalidInput
from tests.bindings.support import OTHER_SESSION, SESSION, conv, service


def test_every_mapped_conversation_moves_with_its_parent(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    chat = svc.bind(target_session_key=SESSION, target_kind="subagent",
                    conversation=conv("-400", channel="telegram"))
    topic = svc.bind(target_session_key=OTHER_SESSION, target_kind="subagent",
                     conversation=conv("-400:topic:7", channel="telegram", parent="-400"))
    moved = svc.rebind_conversations("telegram", "default", {"-400": "-1009", "-400:topic:7": "-1009:topic:7"})

    assert {(r.binding_id, r.conversation.conversation_id, r.conversation.parent_conversation_id, r.status)
            for r in moved} == {(chat.binding_id, "-1009", None, "active"),
                                (topic.binding_id, "-1009:topic:7", "-1009", "active")}
    assert svc.resolve_by_conversation(conv("-400", channel="telegram")) is None
    assert svc.resolve_by_conversation(conv("-400:topic:7", channel="telegram")) is None
    found = svc.resolve_by_conversation(conv("-1009", channel="telegram"))
    assert found is not None and found.binding_id == chat.binding_id and found.expires_at == chat.expires_at
    assert [r.binding_id for r in svc.list_by_session(OTHER_SESSION)] == [topic.binding_id]
    assert svc.list_by_session(OTHER_SESSION)[0].conversation.conversation_id == "-1009:topic:7"
    assert svc.count_active() == 2


def test_other_channels_accounts_and_unmapped_conversations_stay(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    discord = svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("-400"))
    other_account = svc.bind(target_session_key=SESSION, target_kind="subagent",
                             conversation=conv("-400", channel="telegram", account_id="second"))
    unmapped = svc.bind(target_session_key=SESSION, target_kind="subagent",
                        conversation=conv("-401", channel="telegram"))
    assert svc.rebind_conversations("telegram", "default", {"-400": "-1009"}) == []
    for record in (discord, other_account, unmapped):
        assert svc.resolve_by_conversation(record.conversation) is not None


def test_a_binding_already_on_the_new_id_wins_and_the_moved_one_ends_replaced(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    old = svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("-400", channel="telegram"))
    new = svc.bind(target_session_key=OTHER_SESSION, target_kind="subagent",
                   conversation=conv("-1009", channel="telegram"))
    [ended] = svc.rebind_conversations("telegram", "default", {"-400": "-1009"})
    assert (ended.binding_id, ended.status, ended.end_reason) == (old.binding_id, "ended", "replaced")
    found = svc.resolve_by_conversation(conv("-1009", channel="telegram"))
    assert found is not None and found.binding_id == new.binding_id


def test_rebinding_twice_is_a_no_op_and_is_recorded_as_an_event(any_redis: redis.Redis) -> None:
    svc = service(any_redis)
    svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("-400", channel="telegram"))
    assert len(svc.rebind_conversations("telegram", "default", {"-400": "-1009"})) == 1
    assert svc.rebind_conversations("telegram", "default", {"-400": "-1009"}) == []
    rebinds = [e for e in svc.events() if e.get("type") == "rebind"]
    assert [(e["from"], e["conversationId"]) for e in rebinds] == [("-400", "-1009")]


@pytest.mark.parametrize("moves", [{"": "-1"}, {"-1": ""}, {"-1": "-1"}])
def test_bad_mappings_are_refused(any_redis: redis.Redis, moves: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        service(any_redis).rebind_conversations("telegram", "default", moves)
