"""placement="child": the channel's provisioner creates the conversation during bind; without one, a clear error."""

from __future__ import annotations

import pytest
import redis

from bindings.errors import InvalidInput, ProvisioningError
from bindings.model import ConversationRef
from bindings.provisioner import ProvisionedConversation
from tests.bindings.support import SESSION, conv, service


class FakeThreads:
    """Stands in for a platform adapter: makes numbered threads and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[ConversationRef, str | None, str]] = []

    def provision(
        self, parent: ConversationRef, *, label: str | None, target_session_key: str
    ) -> ProvisionedConversation:
        self.calls.append((parent, label, target_session_key))
        thread_id = f"thread-{len(self.calls)}"
        return ProvisionedConversation(conversation_id=thread_id, metadata={"threadId": thread_id, "webhookId": "w1"})


class Refusing:
    def provision(
        self, parent: ConversationRef, *, label: str | None, target_session_key: str
    ) -> ProvisionedConversation:
        raise ConnectionError("platform down")


def test_child_bind_creates_the_conversation_through_the_provisioner(any_redis: redis.Redis) -> None:
    threads = FakeThreads()
    svc = service(any_redis, provisioners={"Discord": threads})
    rec = svc.bind(
        target_session_key=SESSION,
        target_kind="subagent",
        conversation=conv(None, channel=" DISCORD", parent=" 111 "),
        placement="child",
        label="research",
        metadata={"note": "x"},
    )
    assert threads.calls == [(conv(None, parent="111"), "research", SESSION)]
    assert rec.conversation == conv("thread-1", parent="111")
    assert rec.metadata == {"note": "x", "threadId": "thread-1", "webhookId": "w1"}
    assert rec.label == "research"
    assert svc.resolve_by_conversation(conv("thread-1")) == rec


def test_child_bind_without_a_provisioner_fails_clearly_and_writes_nothing(any_redis: redis.Redis) -> None:
    svc = service(any_redis, provisioners={"slack": FakeThreads()})
    with pytest.raises(ProvisioningError, match="'discord'") as err:
        svc.bind(
            target_session_key=SESSION, target_kind="subagent", conversation=conv(None, parent="111"), placement="child"
        )
    assert "provisioner" in str(err.value)
    assert any_redis.dbsize() == 0


def test_a_failing_provisioner_is_a_provisioning_error_and_nothing_is_written(any_redis: redis.Redis) -> None:
    svc = service(any_redis, provisioners={"discord": Refusing()})
    with pytest.raises(ProvisioningError, match="ConnectionError"):
        svc.bind(
            target_session_key=SESSION, target_kind="subagent", conversation=conv(None, parent="111"), placement="child"
        )
    assert any_redis.dbsize() == 0


def test_bad_input_is_rejected_before_anything_is_provisioned(any_redis: redis.Redis) -> None:
    threads = FakeThreads()
    svc = service(any_redis, provisioners={"discord": threads})
    with pytest.raises(InvalidInput):
        svc.bind(
            target_session_key=SESSION,
            target_kind="subagent",
            conversation=conv(None, parent="111"),
            placement="child",
            ttl_ms=-1,
        )
    assert threads.calls == []


def test_registered_provisioners_are_discovered_once_on_the_first_child_bind(
    any_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = FakeThreads()
    discovered: list[object] = []

    def discover(config: object, client: object) -> dict[str, FakeThreads]:
        discovered.append(client)
        return {"discord": threads}

    monkeypatch.setattr("bindings.service.discover_provisioners", discover)
    svc = service(any_redis)  # provisioners=None: use the registered ones
    svc.bind(target_session_key=SESSION, target_kind="subagent", conversation=conv("current-1"))
    assert discovered == []
    for _ in range(2):
        svc.bind(
            target_session_key=SESSION, target_kind="subagent", conversation=conv(None, parent="111"), placement="child"
        )
    assert discovered == [any_redis]
    assert len(threads.calls) == 2


def test_an_explicit_empty_mapping_means_no_provisioners_not_discovery(
    any_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bindings.service.discover_provisioners", lambda *a: {"discord": FakeThreads()})
    svc = service(any_redis, provisioners={})
    with pytest.raises(ProvisioningError, match="registered: none"):
        svc.bind(
            target_session_key=SESSION, target_kind="subagent", conversation=conv(None, parent="111"), placement="child"
        )
