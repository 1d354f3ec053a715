"""The sweeper's conversation check for Slack: archived channels and deleted thread roots end their bindings."""

from __future__ import annotations

import redis

from adapters.slack.provision import SlackProvisioner
from adapters.slack.thread_check import SlackConversationCheck
from bindings.clock import ManualClock
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from tests.adapters.slack.conftest import SlackWorld, chunk_of, delivery_to, thread_ref


def check(world: SlackWorld, clock: ManualClock) -> SlackConversationCheck:
    return SlackConversationCheck(world.config, world.redis, clock=clock, interval_s=60)


def test_the_check_is_found_through_its_entry_point(world: SlackWorld) -> None:
    from importlib.metadata import entry_points

    [ep] = [ep for ep in entry_points(group="tether.conversation_checks") if ep.name == "slack"]
    made = ep.load()(world.config, world.redis)
    assert made.channel == "slack"
    made.close()


def test_open_threads_are_kept_and_gone_ones_end_their_bindings(world: SlackWorld, real_redis: redis.Redis) -> None:
    clock = ManualClock(1_700_000_000_000)
    svc = SessionBindingService(real_redis, world.config, clock=clock,
                                provisioners={"slack": SlackProvisioner(world.config, real_redis, clock=clock)})
    kept = world.bind_child(svc, session="agent:main:subagent:a", label="a")
    deleted = world.bind_child(svc, session="agent:main:subagent:b", label="b")
    other = world.fake.add_channel("other")
    archived = svc.bind(target_session_key="agent:main:subagent:c", target_kind="subagent", placement="child",
                        label="c", conversation=ConversationRef(channel="slack", parent_conversation_id=other.id))
    world.fake.delete_message(world.channel.id, str(deleted.conversation.conversation_id))
    world.fake.set_channel(other.id, is_archived=True)
    ended: list[str] = []
    sweeper = check(world, clock)
    assert sweeper.run_once(lambda r: ended.append(r.binding_id))["checked"] == 0  # not due yet
    clock.advance(61_000)
    counts = sweeper.run_once(lambda r: ended.append(r.binding_id))
    assert counts == {"checked": 3, "archived": 1, "deleted": 1, "kept": 1, "dropped": 0}
    assert svc.get(kept.binding_id).status == "active"  # type: ignore[union-attr]
    assert svc.get(deleted.binding_id).end_reason == "thread-delete"  # type: ignore[union-attr]
    assert svc.get(archived.binding_id).end_reason == "thread-archived"  # type: ignore[union-attr]
    assert ended == []  # Slack would refuse a farewell into an archived channel; nobody reads a deleted thread
    clock.advance(61_000)
    assert sweeper.run_once(lambda r: None)["checked"] == 1
    sweeper.close()


def test_a_thread_delivered_to_is_watched(world: SlackWorld) -> None:
    root = world.thread()
    adapter = world.adapter()
    adapter.send(chunk_of(delivery_to(thread_ref(world.channel.id, root.ts))))
    assert [at.thread_ts for _, at in adapter.rt.threads.due(10)] == []  # due after the interval
    assert world.redis.zcard("tether:slack:threads") == 1


def test_the_sweeper_runs_the_slack_check_of_a_configured_slack_channel(world: SlackWorld,
                                                                         real_redis: redis.Redis) -> None:
    from adapters.slack.threads import ThreadIndex, Where
    from workers.sweeper import Sweeper

    record = world.bind_child(world.service())
    thread_ts = str(record.conversation.conversation_id)
    ThreadIndex(real_redis).reschedule("default", Where(world.channel.id, thread_ts), after_s=-1)  # due now
    world.fake.delete_message(world.channel.id, thread_ts)
    summary = Sweeper(real_redis, world.config).run_once()
    assert summary["slack.deleted"] == 1
    assert world.service().get(record.binding_id).end_reason == "thread-delete"  # type: ignore[union-attr]
