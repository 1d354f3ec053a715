"""A Slack world for adapter tests: the local Slack Web API, a token file, a config file, and real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import redis

from adapters.payloads import Content, Delivery, Identity
from adapters.protocol import OutboundChunk
from adapters.slack.adapter import SlackAdapter
from adapters.slack.provision import SlackProvisioner
from adapters.slack.runtime import SlackRuntime
from adapters.slack.settings import SlackSettings
from bindings.config import TetherConfig, load_config
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.service import SessionBindingService
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_model import Channel, Message


@dataclass
class SlackWorld:
    fake: FakeSlack
    redis: redis.Redis
    config_path: Path
    token_path: Path
    config: TetherConfig
    channel: Channel

    def rotate_token(self, token: str) -> None:
        """What an operator does: Slack gets a new token, the file gets it too."""
        self.fake.set_token(token)
        self.token_path.write_text(token + "\n")

    def runtime(self, **changes: Any) -> SlackRuntime:
        settings = replace(SlackSettings.from_config(self.config), **changes)
        return SlackRuntime(self.config, self.redis, settings=settings)

    def adapter(self, **changes: Any) -> SlackAdapter:
        return SlackAdapter(self.config, self.redis, runtime=self.runtime(**changes))

    def provisioner(self, **changes: Any) -> SlackProvisioner:
        return SlackProvisioner(self.config, self.redis, runtime=self.runtime(**changes), sleep=lambda s: None)

    def service(self, **changes: Any) -> SessionBindingService:
        return SessionBindingService(self.redis, self.config, provisioners={"slack": self.provisioner(**changes)})

    def thread(self, text: str = "a thread to bind") -> Message:
        return self.fake.post(self.channel.id, text)

    def bind_child(self, svc: SessionBindingService, session: str = "agent:main:subagent:abc",
                   label: str = "research") -> SessionBindingRecord:
        return svc.bind(target_session_key=session, target_kind="subagent", placement="child", label=label,
                        conversation=ConversationRef(channel="slack", parent_conversation_id=self.channel.id))


def write_config(path: Path, api_base: str, token_path: Path, extra: str = "") -> None:
    path.write_text(
        "[channels.slack]\n"
        f'apiBase = "{api_base}"\n'
        "[channels.slack.threadBindings]\nspawnSubagentSessions = true\n"
        "[channels.slack.accounts.default]\n"
        f'token = "file:{token_path}"\n' + extra
    )


@pytest.fixture
def world(fake_slack: FakeSlack, real_redis: redis.Redis, tmp_path: Path) -> Iterator[SlackWorld]:
    token_path = tmp_path / "slack.token"
    token_path.write_text(fake_slack.token + "\n")
    config_path = tmp_path / "tether.toml"
    write_config(config_path, fake_slack.base_url, token_path)
    channel = fake_slack.add_channel("general")
    yield SlackWorld(fake_slack, real_redis, config_path, token_path, load_config(config_path), channel)


def thread_ref(channel_id: str, thread_ts: str) -> ConversationRef:
    return ConversationRef(channel="slack", conversation_id=thread_ts, parent_conversation_id=channel_id)


def delivery_to(ref: ConversationRef, text: str = "Task complete", delivery_id: str = "d-1", *,
                username: str | None = "research-agent", avatar_url: str | None = "https://example.com/a.png",
                binding_id: str | None = None, routed_at: int | None = None) -> Delivery:
    identity = Identity(username=username, avatar_url=avatar_url) if username or avatar_url else None
    return Delivery(delivery_id=delivery_id, event_id=f"e-{delivery_id}", mode="bound" if binding_id else "fallback",
                    reason="requester-match", destination=ref, content=Content(text=text), identity=identity,
                    binding_id=binding_id, routed_at=routed_at)


def chunk_of(delivery: Delivery, index: int = 0, text: str | None = None, count: int = 1) -> OutboundChunk:
    return OutboundChunk(delivery=delivery, index=index, count=count, text=text or delivery.content.text,
                         idempotency_key=f"{delivery.delivery_id}-{index}"[:25])
