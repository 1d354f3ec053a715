"""The sweeper process ends expired bindings with a farewell through normal delivery, and reaps expired leases."""

from __future__ import annotations

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
