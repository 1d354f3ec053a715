"""The sweeper process ends expired bindings with a farewell through normal delivery, and reaps expired leases."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from adapters.delivery.ledger import Ledger
from bindings.clock import ManualClock
from bindings.config import parse_config
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from workers.farewell import farewell_delivery
from workers.sweeper import Sweeper

HOUR_MS = 3_600_000


def test_an_idle_binding_is_ended_and_its_conversation_gets_one_farewell(real_redis: redis.Redis) -> None:
    clock = ManualClock()
    config = parse_config("[session.threadBindings]\nidleHours = 1\n")
    svc = SessionBindingService(real_redis, config, clock=clock)
    record = svc.bind(target_session_key="agent:main:subagent:x", target_kind="subagent",
                      conversation=ConversationRef(channel="console", conversation_id="general/t1",
                                                   parent_conversation_id="general"), label="research")
    sweeper = Sweeper(real_redis, config, clock=clock)
    assert sweeper.run_once()["bindingsEnded"] == 0

    clock.advance(HOUR_MS + 1)
    summary = sweeper.run_once()
    assert (summary["bindingsEnded"], summary["farewells"]) == (1, 1)
    assert svc.list_by_session("agent:main:subagent:x") == []

    ended = svc.get(record.binding_id)
    assert ended is not None and ended.end_reason == "idle-expired"
    farewell = farewell_delivery(ended, clock.now_ms())
    ledger_record = Ledger(real_redis).get(farewell.delivery_id)
    assert ledger_record is not None and ledger_record.status == "pending"
    assert ledger_record.delivery is not None
    assert ledger_record.delivery.destination == record.conversation  # the thread, never the parent
    assert ledger_record.delivery.content.text.startswith("Session ended after a period of inactivity: research.")

    assert sweeper.run_once()["farewells"] == 0  # a second sweep ends nothing and says nothing again


def test_a_replaced_binding_gets_no_farewell(real_redis: redis.Redis) -> None:
    config = parse_config("")
    svc = SessionBindingService(real_redis, config)
    conv = ConversationRef(channel="console", conversation_id="general/t1")
    first = svc.bind(target_session_key="a", target_kind="subagent", conversation=conv)
    svc.bind(target_session_key="b", target_kind="subagent", conversation=conv)
    replaced = svc.get(first.binding_id)
    assert replaced is not None and replaced.end_reason == "replaced"
    from workers.farewell import send_farewell

    assert send_farewell(real_redis, replaced, 0) is None


class _CountingCheck:
    """A platform's conversation check that ends one given binding on its first pass."""

    built = 0

    def __init__(self, svc: SessionBindingService, binding_id: str) -> None:
        type(self).built += 1
        self.channel = "console"
        self.svc = svc
        self.binding_id = binding_id
        self.passes = 0
        self.closed = False

    def run_once(self, on_ended: Any) -> dict[str, int]:
        self.passes += 1
        ended = self.svc.unbind(binding_id=self.binding_id, reason="thread-archived")
        for record in ended:
            on_ended(record)
        return {"checked": 1, "archived": len(ended)}

    def close(self) -> None:
        self.closed = True


def test_the_sweeper_runs_the_installed_check_of_each_configured_channel_built_once(
    real_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters import registry

    config = parse_config("[channels.console]\n")
    svc = SessionBindingService(real_redis, config)
    record = svc.bind(target_session_key="agent:main:subagent:y", target_kind="subagent",
                      conversation=ConversationRef(channel="console", conversation_id="general/t2"))
    _CountingCheck.built = 0
    monkeypatch.setitem(registry._registered_checks, "console",
                        lambda cfg, client: _CountingCheck(svc, record.binding_id))
    monkeypatch.setitem(registry._registered_checks, "elsewhere", lambda cfg, client: pytest.fail("not configured"))

    sweeper = Sweeper(real_redis, config)
    first, second = sweeper.run_once(), sweeper.run_once()

    assert _CountingCheck.built == 1
    assert (first["console.archived"], second["console.archived"]) == (1, 0)
    check = sweeper.checks[0]
    assert isinstance(check, _CountingCheck) and check.passes == 2
    ended = svc.get(record.binding_id)
    assert ended is not None and ended.end_reason == "thread-archived"
    sweeper.close()
    assert check.closed


def test_discord_offers_its_thread_check_through_the_entry_point() -> None:
    from adapters.discord.thread_check import DiscordThreadCheck
    from adapters.protocol import ConversationCheck
    from adapters.registry import conversation_check_factory

    factory = conversation_check_factory("discord")
    assert factory is not None
    check = factory(parse_config('[channels.discord.accounts.default]\ntoken = "env:NOPE"\n'), redis.Redis())
    assert isinstance(check, DiscordThreadCheck) and isinstance(check, ConversationCheck)
    check.close()
