"""The sweeper's check of bound threads: archived → unbind with farewell, deleted → unbind without, errors → keep."""

from __future__ import annotations

from adapters.discord.provision import DiscordProvisioner
from adapters.discord.thread_check import check_bound_threads
from bindings.clock import ManualClock
from bindings.model import SessionBindingRecord
from bindings.service import SessionBindingService
from tests.adapters.discord.conftest import DiscordWorld


def _service(world: DiscordWorld, clock: ManualClock) -> SessionBindingService:
    return SessionBindingService(world.redis, world.config, clock=clock,
                                 provisioners={"discord": DiscordProvisioner(world.config, world.redis, clock=clock)})


def _check(world: DiscordWorld, svc: SessionBindingService, farewells: list[SessionBindingRecord]) -> dict[str, int]:
    return check_bound_threads(svc, world.redis, world.config, on_farewell=farewells.append)


def test_nothing_is_checked_before_it_is_due(world: DiscordWorld) -> None:
    clock = ManualClock(world.fake.now_ms())
    svc = _service(world, clock)
    world.bind_child(svc)
    assert _check(world, svc, [])["checked"] == 0


def test_an_archived_thread_ends_its_binding_with_a_farewell(world: DiscordWorld) -> None:
    clock = ManualClock(world.fake.now_ms())
    svc = _service(world, clock)
    record = world.bind_child(svc)
    assert record.conversation.conversation_id is not None
    world.fake.set_channel(record.conversation.conversation_id, archived=True)
    clock.advance(61_000)
    farewells: list[SessionBindingRecord] = []
    counts = _check(world, svc, farewells)
    assert counts["archived"] == 1
    assert [(r.binding_id, r.end_reason) for r in farewells] == [(record.binding_id, "thread-archived")]
    ended = svc.get(record.binding_id)
    assert ended is not None and ended.status == "ended" and ended.end_reason == "thread-archived"
    clock.advance(61_000)
    assert _check(world, svc, farewells)["checked"] == 0  # no longer watched


def test_a_deleted_thread_ends_its_binding_without_a_farewell(world: DiscordWorld) -> None:
    clock = ManualClock(world.fake.now_ms())
    svc = _service(world, clock)
    record = world.bind_child(svc)
    assert record.conversation.conversation_id is not None
    world.fake.delete_channel(record.conversation.conversation_id)
    clock.advance(61_000)
    farewells: list[SessionBindingRecord] = []
    assert _check(world, svc, farewells)["deleted"] == 1
    assert farewells == []
    ended = svc.get(record.binding_id)
    assert ended is not None and ended.end_reason == "thread-delete"


def test_a_transient_failure_keeps_the_binding_and_looks_again_later(world: DiscordWorld) -> None:
    clock = ManualClock(world.fake.now_ms())
    svc = _service(world, clock)
    record = world.bind_child(svc)
    world.fake.inject("status", route="channel_get", status=503, times=None)
    clock.advance(61_000)
    runtime = world.runtime()
    runtime.api.sleep = lambda s: None
    runtime.threads.clock = clock
    counts = check_bound_threads(svc, world.redis, world.config, on_farewell=lambda r: None, runtime=runtime)
    assert counts["kept"] == 1
    still = svc.get(record.binding_id)
    assert still is not None and still.status == "active"
    world.fake.clear_faults()
    assert check_bound_threads(svc, world.redis, world.config, runtime=runtime)["checked"] == 0  # rescheduled
    clock.advance(61_000)
    assert check_bound_threads(svc, world.redis, world.config, runtime=runtime)["kept"] == 1


def test_an_open_thread_is_kept_and_an_unbound_one_dropped(world: DiscordWorld) -> None:
    clock = ManualClock(world.fake.now_ms())
    svc = _service(world, clock)
    kept = world.bind_child(svc, session="agent:main:subagent:a")
    gone = world.bind_child(svc, session="agent:main:subagent:b")
    svc.unbind(binding_id=gone.binding_id, reason="done")
    clock.advance(61_000)
    counts = _check(world, svc, [])
    assert (counts["kept"], counts["dropped"]) == (1, 1)
    still = svc.get(kept.binding_id)
    assert still is not None and still.status == "active"
