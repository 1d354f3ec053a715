"""A Telegram world for adapter tests: the local Bot API, a token file, a config file, and the real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from adapters.payloads import Content, Delivery, Identity
from adapters.protocol import OutboundChunk
from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.provision import TelegramProvisioner
from bindings.config import TetherConfig, load_config
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.service import SessionBindingService
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_model import Chat

SESSION = "agent:main:subagent:abc"
# tether's limits far above the local API's defaults, so tests that are not about limits do not wait on them
FAST = """
[channels.telegram.rateLimit]
perConversationPerSecond = 100
perConversationBurst = 100
perGroupPerMinute = 6000
globalPerSecond = 1000
"""


@dataclass
class TelegramWorld:
    fake: FakeTelegram
    redis: redis.Redis
    redis_url: str
    config_path: Path
    token_path: Path
    config: TetherConfig
    forum: Chat

    def reconfigure(self, extra: str, rates: str = "") -> TetherConfig:
        """Rewrite the config with `extra`; `rates`: a `[channels.telegram.rateLimit]` table (default `FAST`)."""
        write_config(self.config_path, self.fake.base_url, self.token_path, extra + (rates or FAST))
        self.config = load_config(self.config_path)
        return self.config

    def rotate_token(self, token: str) -> None:
        self.fake.set_token(token)
        self.token_path.write_text(token + "\n")

    def service(self) -> SessionBindingService:
        return SessionBindingService(self.redis, self.config,
                                     provisioners={"telegram": TelegramProvisioner(self.config, self.redis)})

    def adapter(self) -> TelegramAdapter:
        return TelegramAdapter(self.config, self.redis)

    def bind_child(self, svc: SessionBindingService | None = None, session: str = SESSION, label: str = "research",
                   chat_id: int | None = None) -> SessionBindingRecord:
        svc = svc or self.service()
        parent = str(chat_id if chat_id is not None else self.forum.id)
        return svc.bind(target_session_key=session, target_kind="subagent", placement="child", label=label,
                        conversation=ConversationRef(channel="telegram", parent_conversation_id=parent))

    def bind_chat(self, chat_id: int, session: str = SESSION) -> SessionBindingRecord:
        return self.service().bind(target_session_key=session, target_kind="subagent",
                                   conversation=ConversationRef(channel="telegram", conversation_id=str(chat_id)))


def write_config(path: Path, api_base: str, token_path: Path, extra: str = "") -> None:
    head, _, tables = extra.partition("[")
    path.write_text(
        "[channels.telegram]\n"
        f'apiBase = "{api_base}"\n' + head + ("[" + tables if tables else "") +
        "\n[channels.telegram.threadBindings]\nspawnSubagentSessions = true\n"
        "[channels.telegram.accounts.default]\n"
        f'token = "file:{token_path}"\n'
    )


@pytest.fixture
def world(real_redis: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[TelegramWorld]:
    with FakeTelegram(fractional_retry_after=True) as fake:
        token_path = tmp_path / "telegram.token"
        token_path.write_text(fake.tokens[0] + "\n")
        config_path = tmp_path / "tether.toml"
        write_config(config_path, fake.base_url, token_path, FAST)
        forum = fake.add_chat("supergroup", title="agents", is_forum=True)
        yield TelegramWorld(fake, real_redis, redis_url, config_path, token_path, load_config(config_path), forum)


def delivery(conversation: ConversationRef, text: str = "Task complete", *, delivery_id: str = "d-1",
             record: SessionBindingRecord | None = None, username: str | None = "research-agent") -> Delivery:
    return Delivery(delivery_id=delivery_id, event_id=f"e-{delivery_id}", destination=conversation,
                    mode="bound" if record else "fallback", reason="requester-match" if record else "no-active-binding",
                    content=Content(text=text), identity=Identity(username=username) if username else None,
                    binding_id=record.binding_id if record else None,
                    target_session_key=record.target_session_key if record else None)


def chunk_of(d: Delivery, index: int = 0, text: str | None = None, count: int = 1) -> OutboundChunk:
    return OutboundChunk(delivery=d, index=index, count=count, text=d.content.text if text is None else text,
                         idempotency_key=f"{d.delivery_id}-{index}")


def ref(conversation_id: str) -> ConversationRef:
    return ConversationRef(channel="telegram", conversation_id=conversation_id)
