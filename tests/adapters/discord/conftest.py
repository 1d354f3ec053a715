"""A Discord world for adapter tests: the local Discord API, a token file, a config file, and real Redis."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
import redis
from rq.worker import Worker

from adapters.delivery.rqwire import COMPLETIONS_QUEUE, deliver_queue_name, tether_queue
from adapters.discord.adapter import DiscordAdapter
from adapters.discord.provision import DiscordProvisioner
from adapters.discord.runtime import DiscordRuntime, DiscordSettings
from adapters.payloads import Content, Delivery, Identity
from adapters.protocol import OutboundChunk
from bindings.config import TetherConfig, load_config
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.service import SessionBindingService
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_model import Channel
from tests.support.waiting import wait_for
from tests.support.worker_processes import DELIVERY, Spawn, kill_worker, worker_main


@dataclass
class DiscordWorld:
    fake: FakeDiscord
    redis: redis.Redis
    redis_url: str
    config_path: Path
    token_path: Path
    config: TetherConfig
    parent: Channel

    def rotate_token(self, token: str) -> None:
        """What an operator does: the platform gets a new token, the file gets it too."""
        self.fake.set_token(token)
        self.token_path.write_text(token + "\n")

    def runtime(self, **rate_limit: object) -> DiscordRuntime:
        settings = DiscordSettings.from_config(self.config)
        if rate_limit:
            from dataclasses import replace

            settings = replace(settings, rate_limit=replace(settings.rate_limit, **rate_limit))  # type: ignore[arg-type]
        return DiscordRuntime(self.config, self.redis, settings=settings)

    def service(self) -> SessionBindingService:
        return SessionBindingService(self.redis, self.config,
                                     provisioners={"discord": DiscordProvisioner(self.config, self.redis)})

    def adapter(self, **rate_limit: object) -> DiscordAdapter:
        return DiscordAdapter(self.config, self.redis, runtime=self.runtime(**rate_limit))

    def bind_child(self, svc: SessionBindingService, session: str = "agent:main:subagent:abc",
                   label: str = "research") -> SessionBindingRecord:
        return svc.bind(target_session_key=session, target_kind="subagent", placement="child", label=label,
                        conversation=ConversationRef(channel="discord", parent_conversation_id=self.parent.id))


def write_config(path: Path, api_base: str, token_path: Path, extra: str = "", *,
                 spawn_subagent_sessions: bool = True) -> None:
    path.write_text(
        "[channels.discord]\n"
        f'apiBase = "{api_base}"\n'
        f"[channels.discord.threadBindings]\nspawnSubagentSessions = {str(spawn_subagent_sessions).lower()}\n"
        "[channels.discord.accounts.default]\n"
        f'token = "file:{token_path}"\n' + extra
    )


@pytest.fixture
def world(fake_discord: FakeDiscord, real_redis: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[DiscordWorld]:
    token_path = tmp_path / "discord.token"
    token_path.write_text(fake_discord.tokens[0] + "\n")
    config_path = tmp_path / "tether.toml"
    write_config(config_path, fake_discord.base_url, token_path)
    parent = fake_discord.add_channel("general")
    yield DiscordWorld(fake_discord, real_redis, redis_url, config_path, token_path, load_config(config_path), parent)


def bot_delivery(conversation_id: str, text: str = "hello", delivery_id: str = "d-bot") -> Delivery:
    return Delivery(delivery_id=delivery_id, event_id=f"e-{delivery_id}", mode="fallback", reason="no-active-binding",
                    destination=ConversationRef(channel="discord", conversation_id=conversation_id),
                    content=Content(text=text))


def bound_delivery(record: SessionBindingRecord, text: str = "Task complete", delivery_id: str = "d-bound",
                   username: str | None = "research-agent",
                   avatar_url: str | None = "https://example.com/a.png") -> Delivery:
    return Delivery(delivery_id=delivery_id, event_id=f"e-{delivery_id}", mode="bound", reason="requester-match",
                    destination=record.conversation, content=Content(text=text), binding_id=record.binding_id,
                    identity=Identity(username=username, avatar_url=avatar_url),
                    target_session_key=record.target_session_key)


def chunk_of(delivery: Delivery, index: int = 0, text: str | None = None, count: int = 1) -> OutboundChunk:
    return OutboundChunk(delivery=delivery, index=index, count=count, text=text or delivery.content.text,
                         idempotency_key=f"{delivery.delivery_id}-{index}"[:25])


# ---- worker processes (`tether worker discord|router`) against the world ---------------------------------------



def use_worker_config(world: DiscordWorld, *, spawn_subagent_sessions: bool = True) -> TetherConfig:
    """Write the world's configuration with short delivery timings, for the worker processes started next."""
    write_config(world.config_path, world.fake.base_url, world.token_path, DELIVERY,
                 spawn_subagent_sessions=spawn_subagent_sessions)
    world.config = load_config(world.config_path)
    return world.config


@pytest.fixture
def worker_config(world: DiscordWorld) -> TetherConfig:
    return use_worker_config(world)


@pytest.fixture
def spawn(world: DiscordWorld, worker_config: TetherConfig) -> Iterator[Spawn]:
    """Start worker processes (`discord` by default, or `router`); waits until each one listens."""
    ctx = multiprocessing.get_context("spawn")
    procs: list[tuple[str, BaseProcess]] = []

    def start(name: str = "discord") -> BaseProcess:
        proc = ctx.Process(target=worker_main, args=(world.redis_url, str(world.config_path), name))
        proc.start()
        procs.append((name, proc))
        queue = tether_queue(COMPLETIONS_QUEUE if name == "router" else deliver_queue_name(name), world.redis)
        count = sum(1 for n, p in procs if p.is_alive() and n == name)
        wait_for(lambda: len(Worker.all(connection=world.redis, queue=queue)) >= count, timeout_s=30,
                 what=f"the {name} worker to listen")
        return proc

    yield start
    for _, proc in procs:
        kill_worker(proc)
