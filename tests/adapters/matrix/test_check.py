"""The sweeper's check of bound Matrix threads, against the real homeserver."""

from __future__ import annotations

from adapters.matrix.check import MatrixThreadCheck, make_check
from adapters.protocol import ConversationCheck
from bindings.model import SessionBindingRecord
from tests.support.matrix_world import MatrixWorld


def _due_now(w: MatrixWorld) -> MatrixThreadCheck:
    check = MatrixThreadCheck(w.config, w.redis, interval_s=60)
    for member in w.redis.zrange("tether:matrix:threads", 0, -1):
        w.redis.zadd("tether:matrix:threads", {member: 0})
    return check


def test_a_healthy_thread_is_kept_and_looked_at_again_later(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    record = w.bind_child(w.service())
    ended: list[SessionBindingRecord] = []
    check = _due_now(w)
    counts = check.run_once(ended.append)
    assert counts["checked"] == 1 and counts["kept"] == 1 and not ended
    assert check.svc.get(record.binding_id).status == "active"  # type: ignore[union-attr]
    assert MatrixThreadCheck(w.config, w.redis).run_once(ended.append)["checked"] == 0  # not due again yet


def test_a_redacted_root_ends_the_binding_thread_delete(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    svc = w.service()
    record = w.bind_child(svc)
    w.admin.redact(w.home.human, w.room, record.conversation.conversation_id or "")
    counts = _due_now(w).run_once(lambda r: None)
    assert counts["deleted"] == 1
    ended = svc.get(record.binding_id)
    assert ended is not None and ended.status == "ended" and ended.end_reason == "thread-delete"


def test_a_kicked_bot_ends_the_binding_room_left(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    svc = w.service()
    record = w.bind_child(svc)
    w.admin.kick(w.home.human, w.room, w.home.bot)
    assert _due_now(w).run_once(lambda r: None)["closed"] == 1
    ended = svc.get(record.binding_id)
    assert ended is not None and ended.end_reason == "room-left"


def test_an_upgraded_room_moves_the_binding_when_the_bot_can_join(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    svc = w.service()
    record = w.bind_child(svc, label="upgrade")
    new_room = w.admin.upgrade(w.home.human, w.room)
    w.admin.invite(w.home.human, new_room, w.home.bot)
    assert _due_now(w).run_once(lambda r: None)["moved"] == 1
    [now] = [r for r in svc.list_by_session(record.target_session_key) if r.status == "active"]
    assert now.conversation.parent_conversation_id == new_room


def test_a_thread_without_an_active_binding_is_dropped(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    svc = w.service()
    record = w.bind_child(svc)
    svc.unbind(binding_id=record.binding_id)
    assert _due_now(w).run_once(lambda r: None)["dropped"] == 1
    assert w.redis.zcard("tether:matrix:threads") == 0


def test_the_check_is_a_conversation_check(matrix_world: MatrixWorld) -> None:
    check = make_check(matrix_world.config, matrix_world.redis)
    assert isinstance(check, ConversationCheck) and check.channel == "matrix"
    check.close()


def test_the_sweeper_runs_the_matrix_check_found_by_its_entry_point(matrix_world: MatrixWorld) -> None:
    from workers.sweeper import Sweeper

    w = matrix_world
    svc = w.service()
    record = w.bind_child(svc)
    w.admin.redact(w.home.human, w.room, record.conversation.conversation_id or "")
    _due_now(w)
    summary = Sweeper(w.redis, w.config).run_once()
    assert summary["matrix.deleted"] == 1
    ended = svc.get(record.binding_id)
    assert ended is not None and ended.end_reason == "thread-delete"
