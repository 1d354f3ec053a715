"""`tether dlq list|show|replay|purge` against the real redis-server: JSON listings with the contract's fields,
idempotent replay (also `--all` on an empty queue), `--reroute` through the router, purge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from adapters.delivery import keys
from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue, router_dead_letter_id
from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, tether_queue
from bindings.config import TetherConfig
from tests.adapters import fixtures
from tests.adapters.fixtures import Drain
from tests.adapters.support import CHANNEL, make_delivery, script, sent
from workers.cli import main

# The delivery engine's fixtures, shared with tests/adapters/delivery.
config = fixtures.config
probe_env = fixtures.probe_env
drain = fixtures.drain


@pytest.fixture
def cli(probe_env: redis.Redis, redis_url: str) -> Iterator[Any]:
    runner = CliRunner()

    def run(*args: str) -> Result:
        env = {"TETHER_REDIS_URL": redis_url, "COLUMNS": "250"}
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    yield run


def dead_delivery(client: redis.Redis, drain: Drain, event_id: str = "ev-1", text: str = "hello") -> str:
    d = make_delivery(event_id=event_id, text=text)
    script(client, "permanent:forbidden")
    hand_off(client, d)
    drain()
    assert DeadLetterQueue(client).get(d.delivery_id) is not None
    return d.delivery_id


EVENT = {
    "eventId": "v1:agent:main:subagent:abc:run-1", "kind": "task_completion",
    "targetSessionKey": "agent:main:subagent:abc",
    "requester": {"channel": CHANNEL, "accountId": "default", "conversationId": "room-1"},
    "content": {"text": "Task complete: report ready."}, "identity": {"username": "research-agent"},
    "createdAt": 1764000000000,
}


def test_list_json_has_the_contract_fields(probe_env: redis.Redis, drain: Drain, cli: Any) -> None:
    did = dead_delivery(probe_env, drain)
    result = cli("dlq", "list", "--json")
    assert result.exit_code == 0
    letters = json.loads(result.output)
    assert len(letters) == 1
    letter = letters[0]
    assert {"id", "eventId", "deliveryId", "reason", "attempts", "lastError", "destination", "deadAt"} <= set(letter)
    assert (letter["id"], letter["deliveryId"], letter["eventId"]) == (did, did, "ev-1")
    assert (letter["reason"], letter["attempts"]) == ("forbidden", 1)
    assert letter["destination"]["channel"] == CHANNEL and "MTIzNDU2" not in letter["lastError"]


def test_list_filters_and_the_table(probe_env: redis.Redis, drain: Drain, cli: Any) -> None:
    dead_delivery(probe_env, drain)
    assert json.loads(cli("dlq", "list", "--json", "--reason", "no-destination").output) == []
    assert len(json.loads(cli("dlq", "list", "--json", "--source", "delivery").output)) == 1
    table = cli("dlq", "list").output
    assert "forbidden" in table and "probe/default:room-1" in table


def test_show_prints_the_letter_with_its_ledger_record(probe_env: redis.Redis, drain: Drain, cli: Any) -> None:
    did = dead_delivery(probe_env, drain)
    shown = json.loads(cli("dlq", "show", did, "--json").output)
    assert shown["letter"]["id"] == did and shown["ledger"]["status"] == "dead"
    assert cli("dlq", "show", "nope").exit_code != 0


def test_replay_all_with_nothing_to_replay_exits_zero(cli: Any) -> None:
    result = cli("dlq", "replay", "--all")
    assert result.exit_code == 0
    assert "replayed 0" in result.output


def test_replay_by_id_delivers_once_and_a_second_replay_sends_nothing(probe_env: redis.Redis, drain: Drain,
                                                                      cli: Any) -> None:
    did = dead_delivery(probe_env, drain)
    result = cli("dlq", "replay", did)
    assert result.exit_code == 0 and "replayed 1 of 1" in result.output
    drain()
    record = Ledger(probe_env).get(did)
    assert record is not None and record.status == "delivered" and len(sent(probe_env)) == 1
    again = cli("dlq", "replay", did)
    assert again.exit_code == 1 and "missing" in again.output  # the letter is gone once replayed
    drain()
    assert len(sent(probe_env)) == 1


def test_replay_all_replays_every_letter_and_says_how_many(probe_env: redis.Redis, drain: Drain, cli: Any) -> None:
    for n in range(3):
        dead_delivery(probe_env, drain, event_id=f"ev-{n}")
    result = cli("dlq", "replay", "--all", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["replayed"] == 3
    drain()
    assert len(sent(probe_env)) == 3 and DeadLetterQueue(probe_env).count() == 0


def test_a_router_dead_letter_is_routed_again(probe_env: redis.Redis, cli: Any) -> None:
    raw = json.dumps(EVENT)
    letter_id = router_dead_letter_id(EVENT["eventId"], raw)  # type: ignore[arg-type]
    DeadLetterQueue(probe_env).put(DeadLetter(
        id=letter_id, event_id=str(EVENT["eventId"]), delivery_id=None, reason="no-adapter:probe", attempts=1,
        last_error=None, destination=None, dead_at=1, source="router", event=raw))
    result = cli("dlq", "replay", letter_id)
    assert result.exit_code == 0 and "replayed 1 of 1" in result.output
    assert tether_queue(COMPLETIONS_QUEUE, probe_env).count == 1
    assert DeadLetterQueue(probe_env).count() == 0


def test_replay_reroute_of_a_delivery_letter_routes_again_and_delivers_once(
        probe_env: redis.Redis, drain: Drain, cli: Any, config: TetherConfig) -> None:
    from router.routing import route

    script(probe_env, "permanent:forbidden")
    route(probe_env, config, dict(EVENT), job_id="route-1")
    drain()
    letters = DeadLetterQueue(probe_env).letters()
    assert [lt.reason for lt in letters] == ["forbidden"]
    result = cli("dlq", "replay", "--reroute", letters[0].id)
    assert result.exit_code == 0 and "replayed 1 of 1" in result.output
    job = tether_queue(COMPLETIONS_QUEUE, probe_env).jobs[0]
    route(probe_env, config, job.args[0], job_id=job.id)  # the router worker runs the requeued event
    drain()
    assert [s.text for s in sent(probe_env)] == ["Task complete: report ready."]
    record = Ledger(probe_env).get(letters[0].id)
    assert record is not None and record.status == "delivered"


def test_purge_removes_letters_and_lets_the_dead_record_expire(probe_env: redis.Redis, drain: Drain,
                                                                cli: Any) -> None:
    did = dead_delivery(probe_env, drain)
    other = dead_delivery(probe_env, drain, event_id="ev-2")
    assert "purged 1" in cli("dlq", "purge", did).output
    assert probe_env.ttl(keys.delivery(did)) > 0
    assert json.loads(cli("dlq", "purge", "--all", "--json").output) == {"purged": 1}
    assert DeadLetterQueue(probe_env).count() == 0 and probe_env.ttl(keys.delivery(other)) > 0
