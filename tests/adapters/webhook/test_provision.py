"""Child placement: a signed `tether.conversation.create` whose answer names the conversation, or a clear refusal."""

from __future__ import annotations

import pytest

from bindings.errors import ProvisioningError
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from tests.adapters.webhook.conftest import WebhookWorld
from tests.fakes.webhook_receiver import Fault

PARENT = ConversationRef(channel="webhook", parent_conversation_id="lobby")


def service(world: WebhookWorld) -> SessionBindingService:
    return SessionBindingService(world.redis, world.config, provisioners={"webhook": world.provisioner()})


def test_a_child_binding_gets_the_conversation_the_receiver_created(world: WebhookWorld) -> None:
    record = service(world).bind(target_session_key="agent:main:subagent:abc", target_kind="subagent",
                                 conversation=PARENT, placement="child", label="research")
    assert record.conversation.conversation_id == "conv-1"
    assert record.conversation.parent_conversation_id == "lobby"
    [r] = world.receiver.requests()
    assert r.type == "tether.conversation.create" and r.webhook_id.startswith("conv_")
    assert r.data["label"] == "research" and r.data["targetSessionKey"] == "agent:main:subagent:abc"
    assert r.data["conversation"]["parentConversationId"] == "lobby"


def test_a_provisioning_whose_answer_was_lost_is_retried_with_the_same_id_and_deduped(world: WebhookWorld) -> None:
    world.receiver.fault(Fault(kind="drop", type="tether.conversation.create"))
    created = world.provisioner().provision(PARENT, label="research", target_session_key="s")
    ids = {r.webhook_id for r in world.receiver.requests()}
    assert len(world.receiver.requests()) == 2 and len(ids) == 1
    assert created.conversation_id == "conv-1" and world.receiver.state.conversations == {"conv-1": "lobby"}


def test_the_same_bind_request_sends_the_same_id_another_a_different_one(world: WebhookWorld) -> None:
    p = world.provisioner()
    p.provision(PARENT, label="a", target_session_key="s")
    p.provision(PARENT, label="a", target_session_key="s")
    p.provision(PARENT, label="b", target_session_key="s")
    a1, a2, b = (r.webhook_id for r in world.receiver.requests())
    assert a1 == a2 != b


@pytest.mark.parametrize("status", [404, 405, 501])
def test_an_endpoint_without_provisioning_refuses_child_placement_clearly(world: WebhookWorld, status: int) -> None:
    world.receiver.fault(Fault(kind="status", status=status, count=-1))
    with pytest.raises(ProvisioningError, match=r"does not create conversations.*placement=\"current\""):
        service(world).bind(target_session_key="agent:main:subagent:abc", target_kind="subagent",
                            conversation=PARENT, placement="child")
    assert len(world.receiver.requests()) == 1


def test_an_answer_without_a_conversation_id_is_refused(world: WebhookWorld) -> None:
    world.receiver.state.provisioning = False
    world.receiver.fault(Fault(kind="status", status=200, body="{}", type="tether.conversation.create"))
    with pytest.raises(ProvisioningError, match="names no conversationId"):
        world.provisioner().provision(PARENT, label=None, target_session_key="s")


def test_an_unknown_account_is_a_provisioning_error(world: WebhookWorld) -> None:
    with pytest.raises(ProvisioningError, match="elsewhere"):
        world.provisioner().provision(ConversationRef(channel="webhook", account_id="elsewhere",
                                                      parent_conversation_id="x"), label=None, target_session_key="s")
