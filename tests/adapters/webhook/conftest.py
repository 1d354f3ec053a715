"""A webhook world for adapter tests: a local Standard Webhooks receiver, a secret file, a config file, real Redis."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import redis

from adapters.payloads import Content, Delivery, Identity
from adapters.protocol import OutboundChunk
from adapters.webhook.adapter import WebhookAdapter
from adapters.webhook.provision import WebhookProvisioner
from adapters.webhook.sender import WebhookSender
from adapters.webhook.settings import WebhookSettings
from bindings.config import TetherConfig, load_config
from bindings.model import ConversationRef
from tests.fakes.webhook_receiver import WebhookReceiver


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@dataclass
class WebhookWorld:
    receiver: WebhookReceiver
    redis: redis.Redis
    redis_url: str
    config_path: Path
    secret_path: Path
    secret: str
    config: TetherConfig

    def write_config(self, extra: str = "", account: str = "") -> None:
        self.config_path.write_text(config_toml(self.receiver.url, self.secret_path, extra, account))
        self.config = load_config(self.config_path)

    def point_at(self, url: str) -> None:
        """Send to another URL from now on (the configuration is edited and read again)."""
        self.config_path.write_text(self.config_path.read_text().replace(self.receiver.url, url))
        self.config = load_config(self.config_path)

    def sender(self, timeout_s: float = 5.0) -> WebhookSender:
        settings = replace(WebhookSettings.from_config(self.config), timeout_s=timeout_s)
        return WebhookSender(self.config, self.redis, settings=settings)

    def adapter(self, timeout_s: float = 5.0) -> WebhookAdapter:
        return WebhookAdapter(self.config, self.redis, sender=self.sender(timeout_s))

    def provisioner(self) -> WebhookProvisioner:
        return WebhookProvisioner(self.sender())


def config_toml(url: str, secret_path: Path, extra: str = "", account: str = "") -> str:
    return ("[channels.webhook]\n" + extra +
            "[channels.webhook.accounts.default]\n"
            f'url = "{url}"\n'
            f'secret = "file:{secret_path}"\n' + account)


@pytest.fixture
def world(real_redis: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[WebhookWorld]:
    secret = new_secret()
    secret_path = tmp_path / "webhook.secret"
    secret_path.write_text(secret + "\n")
    with WebhookReceiver(secret, provisioning=True) as receiver:
        config_path = tmp_path / "tether.toml"
        w = WebhookWorld(receiver, real_redis, redis_url, config_path, secret_path, secret, TetherConfig())
        w.write_config()
        yield w


def delivery(text: str = "Task complete", delivery_id: str = "d-1", conversation: str | None = "room-1",
             account: str = "default", binding_id: str | None = None) -> Delivery:
    return Delivery(delivery_id=delivery_id, event_id=f"e-{delivery_id}", mode="bound", reason="requester-match",
                    destination=ConversationRef(channel="webhook", account_id=account, conversation_id=conversation,
                                                parent_conversation_id="lobby"),
                    content=Content(text=text), identity=Identity(username="research-agent"), binding_id=binding_id,
                    target_session_key="agent:main:subagent:abc")


def chunk_of(d: Delivery, index: int = 0, count: int = 1, text: str | None = None) -> OutboundChunk:
    from adapters.delivery.engine import idempotency_key

    return OutboundChunk(delivery=d, index=index, count=count, text=text if text is not None else d.content.text,
                         idempotency_key=idempotency_key(d.delivery_id, index))
