"""Child placement as a user calls it: `SessionBindingService.from_url` (configuration from `TETHER_CONFIG`,
provisioners found through entry points) and `tether bind --child`, on every channel whose adapter supports it.

Each channel's case makes a world in which its platform can create a conversation, then binds through the public
API only, and checks that the record names a new conversation under the parent, that it resolves, and that the
platform really has it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from bindings import ConversationRef, SessionBindingService
from tests.fakes.discord_api import FakeDiscord
from workers.cli import main


@dataclass
class ChildWorld:
    channel: str
    parent: str
    exists: Callable[[str], bool]  # does the platform have this conversation?


def _console(tmp_path: Path) -> Iterator[ChildWorld]:
    (tmp_path / "tether.toml").write_text("")
    # A console thread exists once it has an id under its parent: there is no platform to ask.
    yield ChildWorld("console", "general", lambda cid: cid.startswith("general/thread-"))


def _discord(tmp_path: Path) -> Iterator[ChildWorld]:
    with FakeDiscord() as fake:
        token = tmp_path / "discord.token"
        token.write_text(fake.tokens[0] + "\n")
        (tmp_path / "tether.toml").write_text(
            f'[channels.discord]\napiBase = "{fake.base_url}"\n'
            f'[channels.discord.accounts.default]\ntoken = "file:{token}"\n')
        parent = fake.add_channel("general")

        def exists(cid: str) -> bool:
            thread = fake.channel(cid)
            return thread is not None and thread.parent_id == parent.id and thread.type == 11  # a public thread

        yield ChildWorld("discord", parent.id, exists)


WORLDS: dict[str, Callable[[Path], Iterator[ChildWorld]]] = {"console": _console, "discord": _discord}


@pytest.fixture(params=sorted(WORLDS))
def world(request: pytest.FixtureRequest, tmp_path: Path, real_redis: redis.Redis, redis_url: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[ChildWorld]:
    monkeypatch.setenv("TETHER_CONFIG", str(tmp_path / "tether.toml"))
    monkeypatch.setenv("TETHER_REDIS_URL", redis_url)
    yield from WORLDS[request.param](tmp_path)


def test_the_python_api_binds_a_new_child_conversation(world: ChildWorld, redis_url: str) -> None:
    svc = SessionBindingService.from_url(redis_url)
    rec = svc.bind(target_session_key="agent:main:subagent:x", target_kind="subagent", placement="child",
                   label="r2", conversation=ConversationRef(channel=world.channel,
                                                            parent_conversation_id=world.parent))
    cid = rec.conversation.conversation_id
    assert cid is not None and cid != world.parent and world.exists(cid)
    assert rec.conversation.parent_conversation_id == world.parent
    assert svc.resolve_by_conversation(rec.conversation) == rec


def test_the_cli_binds_a_new_child_conversation(world: ChildWorld) -> None:
    result = CliRunner().invoke(main, ["bind", "--session", "agent:main:subagent:x", "--channel", world.channel,
                                       "--parent", world.parent, "--child", "--label", "research", "--json"])
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)  # logs go to stderr; --json output alone on stdout
    cid = record["conversation"]["conversationId"]
    assert record["conversation"]["parentConversationId"] == world.parent and world.exists(cid)
    assert record["label"] == "research"


def test_two_child_binds_under_one_parent_make_two_conversations(world: ChildWorld, redis_url: str) -> None:
    svc = SessionBindingService.from_url(redis_url)
    made = {svc.bind(target_session_key=f"agent:main:subagent:{n}", target_kind="subagent", placement="child",
                     conversation=ConversationRef(channel=world.channel, parent_conversation_id=world.parent),
                     label=f"task {n}").conversation.conversation_id for n in range(2)}
    assert len(made) == 2
