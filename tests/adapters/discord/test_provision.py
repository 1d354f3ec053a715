"""Child placement: `bind(..., placement="child")` creates a public thread and shares one webhook per channel."""

from __future__ import annotations

import multiprocessing

import pytest

from adapters.discord.provision import DiscordProvisioner, thread_name
from bindings.config import load_config
from bindings.connection import connect
from bindings.errors import ProvisioningError
from bindings.model import ConversationRef, to_json
from tests.adapters.discord.conftest import DiscordWorld
from tests.fakes.discord_model import PUBLIC_THREAD, THREAD_CREATED_MESSAGE


def test_a_child_bind_creates_a_public_thread_named_after_the_label(world: DiscordWorld) -> None:
    svc = world.service()
    record = world.bind_child(svc, label="Research: " + "x" * 200)
    thread_id = record.conversation.conversation_id
    assert thread_id is not None
    thread = world.fake.channel(thread_id)
    assert thread is not None
    assert thread.type == PUBLIC_THREAD and thread.parent_id == world.parent.id
    assert thread.name == ("Research: " + "x" * 200)[:100]
    assert record.conversation.parent_conversation_id == world.parent.id
    assert record.metadata["threadId"] == thread_id
    assert record.metadata["parentId"] == world.parent.id
    # Discord's own "thread created" notice is the only thing in the parent channel.
    assert [m.type for m in world.fake.messages(world.parent.id, include_system=True)] == [THREAD_CREATED_MESSAGE]


def test_the_webhook_is_created_once_and_reused_by_later_bindings(world: DiscordWorld) -> None:
    svc = world.service()
    first = world.bind_child(svc, session="agent:main:subagent:a")
    second = world.bind_child(svc, session="agent:main:subagent:b")
    assert first.metadata["webhookId"] == second.metadata["webhookId"]
    assert len(world.fake.webhooks(world.parent.id)) == 1
    assert [r.route for r in world.fake.requests() if r.route == "webhook_create"] == ["webhook_create"]


def test_an_existing_tether_webhook_is_found_not_duplicated(world: DiscordWorld) -> None:
    existing = world.fake.add_webhook(world.parent.id, name="tether")
    record = world.bind_child(world.service())
    assert record.metadata["webhookId"] == existing.id
    assert len(world.fake.webhooks(world.parent.id)) == 1


def test_the_webhook_token_is_never_in_the_binding(world: DiscordWorld) -> None:
    svc = world.service()
    record = world.bind_child(svc)
    [hook] = world.fake.webhooks(world.parent.id)
    assert hook.token not in to_json(record).decode()
    stored = svc.get(record.binding_id)
    assert stored is not None and hook.token not in to_json(stored).decode()


def test_without_manage_webhooks_the_binding_still_gets_its_thread(world: DiscordWorld) -> None:
    world.fake.set_channel(world.parent.id, deny=["manage_webhooks"])
    record = world.bind_child(world.service())
    assert record.conversation.conversation_id is not None
    assert "webhookId" not in record.metadata


def test_a_refused_thread_is_a_provisioning_error_and_no_binding(world: DiscordWorld) -> None:
    world.fake.set_channel(world.parent.id, deny=["create_threads"])
    svc = world.service()
    with pytest.raises(ProvisioningError, match="50013"):
        world.bind_child(svc)
    assert svc.list_by_session("agent:main:subagent:abc") == []


def test_thread_names_are_tidy_and_never_empty() -> None:
    assert thread_name("  two   words ", "k") == "two words"
    assert thread_name(None, "agent:main:subagent:abc") == "agent:main:subagent:abc"
    assert thread_name("", "  ") == "session"
    assert len(thread_name("y" * 500, "k")) == 100


def _provision_in_process(config_path: str, redis_url: str, parent_id: str, index: int) -> str:
    import os

    os.environ["TETHER_CONFIG"] = config_path
    provisioner = DiscordProvisioner(load_config(), connect(redis_url))
    made = provisioner.provision(ConversationRef(channel="discord", parent_conversation_id=parent_id),
                                 label=f"worker {index}", target_session_key=f"agent:main:subagent:{index}")
    return made.metadata["webhookId"]


def test_processes_binding_threads_of_one_channel_at_once_share_one_webhook(world: DiscordWorld) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        ids = pool.starmap(_provision_in_process,
                           [(str(world.config_path), world.redis_url, world.parent.id, i) for i in range(4)])
    assert len(set(ids)) == 1
    assert len(world.fake.webhooks(world.parent.id)) == 1
    assert len([c for c in world.fake.channels.values() if c.parent_id == world.parent.id]) == 4
