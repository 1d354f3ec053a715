"""Pytest fixtures of the Matrix tests: one real Synapse per test session, and per test a world around it — a
fault proxy in front of it, the bot's token file, a tether config pointing at the proxy, a fresh room, real Redis."""

from __future__ import annotations

import atexit
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.provision import MatrixProvisioner
from adapters.payloads import Content, Delivery, Identity, delivery_id_for
from adapters.protocol import OutboundChunk
from bindings.config import TetherConfig, load_config
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.service import SessionBindingService
from tests.fakes.matrix_proxy import MatrixProxy
from tests.support.synapse import Synapse, SynapseAdmin, User


@dataclass
class MatrixHome:
    """The homeserver with its people: an admin, the bot (exempt from message limits, as an operator would make
    it), a human, and a second bot left under the homeserver's low message limit (`limited`)."""

    server: Synapse
    admin: SynapseAdmin
    operator: User
    bot: User
    human: User
    limited: User


_shared: MatrixHome | None = None


def shared_home() -> MatrixHome:
    """The test process's one homeserver, started at first use (the `matrix_home` fixture and the conformance
    suite's harness share it) and stopped at the end of the session, or at exit."""
    global _shared
    if _shared is None:
        server = Synapse(Path(tempfile.mkdtemp(prefix="tether-synapse-")))
        atexit.register(server.stop)  # SIGTERM to its process group, SIGKILL if it does not go
        try:
            server.start()
            admin = SynapseAdmin(server)
            operator = admin.register("operator", admin=True)
            _shared = MatrixHome(server, admin, operator, admin.register("bot", unlimited=True),
                                 admin.register("human", unlimited=True), admin.register("limited"))
        except BaseException:
            server.stop()
            raise
    return _shared


def stop_shared_home() -> None:
    global _shared
    if _shared is not None:
        _shared.admin.close()
        _shared.server.stop()
        _shared = None


@pytest.fixture(scope="session")
def matrix_home() -> Iterator[MatrixHome]:
    try:
        yield shared_home()
    finally:
        stop_shared_home()


DEFAULT_LIMITS = """
[channels.matrix.rateLimit]
globalPerSecond = 500
perConversationPerSecond = 500
perConversationBurst = 100
maxWaitSeconds = 5
"""


@dataclass
class MatrixWorld:
    home: MatrixHome
    proxy: MatrixProxy
    redis: redis.Redis
    redis_url: str
    config_path: Path
    token_path: Path
    config: TetherConfig
    room: str

    @property
    def admin(self) -> SynapseAdmin:
        return self.home.admin

    def write_config(self, extra: str = "", *, user: User | None = None, limits: str = DEFAULT_LIMITS) -> None:
        user = user or self.home.bot
        self.token_path.write_text(user.access_token + "\n")
        self.config_path.write_text(
            "[channels.matrix]\n"
            f'homeserver = "{self.proxy.base_url}"\n'
            "[channels.matrix.threadBindings]\nspawnSubagentSessions = true\n"
            "[channels.matrix.accounts.default]\n"
            f'accessToken = "file:{self.token_path}"\n'
            f'userId = "{user.user_id}"\n' + limits + extra)
        self.config = load_config(self.config_path)

    def adapter(self) -> MatrixAdapter:
        return MatrixAdapter(self.config, self.redis)

    def service(self) -> SessionBindingService:
        return SessionBindingService(self.redis, self.config,
                                     provisioners={"matrix": MatrixProvisioner(self.config, self.redis)})

    def new_room(self, name: str = "room") -> str:
        return self.admin.create_room(self.home.human, name, invite=[self.home.bot])

    def bind_child(self, svc: SessionBindingService, session: str = "agent:main:subagent:abc",
                   label: str = "research", room: str | None = None) -> SessionBindingRecord:
        return svc.bind(target_session_key=session, target_kind="subagent", placement="child", label=label,
                        conversation=ConversationRef(channel="matrix", parent_conversation_id=room or self.room))

    def thread(self, room: str, root: str) -> list[dict[str, Any]]:
        return self.admin.thread(self.home.human, room, root)

    def main_timeline(self, room: str) -> list[dict[str, Any]]:
        return self.admin.main_timeline(self.home.human, room)


@pytest.fixture
def matrix_world(matrix_home: MatrixHome, real_redis: redis.Redis, redis_url: str,
                 tmp_path: Path) -> Iterator[MatrixWorld]:
    with MatrixProxy(matrix_home.server.base_url) as proxy:
        room = matrix_home.admin.create_room(matrix_home.human, "tether", invite=[matrix_home.bot])
        world = MatrixWorld(matrix_home, proxy, real_redis, redis_url, tmp_path / "tether.toml",
                            tmp_path / "matrix.token", TetherConfig(), room)
        world.write_config()
        yield world


def room_ref(room: str) -> ConversationRef:
    return ConversationRef(channel="matrix", conversation_id=room)


def delivery_to(conversation: ConversationRef, event_id: str, text: str = "Task complete", *,
                record: SessionBindingRecord | None = None, username: str | None = "research-agent") -> Delivery:
    return Delivery(
        delivery_id=delivery_id_for(event_id, conversation), event_id=event_id, destination=conversation,
        mode="bound" if record else "fallback", reason="requester-match" if record else "no-active-binding",
        content=Content(text=text), identity=Identity(username=username) if username else None,
        binding_id=record.binding_id if record else None,
        target_session_key=record.target_session_key if record else None)


def chunk_of(delivery: Delivery, index: int = 0, text: str | None = None, count: int = 1) -> OutboundChunk:
    from adapters.delivery.engine import idempotency_key

    return OutboundChunk(delivery=delivery, index=index, count=count, text=text or delivery.content.text,
                         idempotency_key=idempotency_key(delivery.delivery_id, index))
