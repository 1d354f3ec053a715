"""Every `--json` output of the CLI: one key style (camelCase, as the wire format), and the keys scripts parse,
pinned. A key that changes here is a change of the public contract: say so in the README."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from adapters.delivery.handoff import hand_off
from adapters.delivery.rqwire import COMPLETIONS_QUEUE, tether_queue
from tests.adapters import fixtures
from tests.adapters.fixtures import Drain
from tests.adapters.support import CHANNEL, make_delivery, script
from workers.cli import main

config = fixtures.config
probe_env = fixtures.probe_env
drain = fixtures.drain

CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
USER_DATA = {"metadata"}  # maps whose keys are the user's, not tether's

RECORD = {"bindingId", "targetSessionKey", "targetKind", "conversation", "status", "boundAt", "expiresAt",
          "lastActivityAt", "maxAgeMs", "idleTimeoutMs", "label", "metadata", "endedAt", "endReason"}
CONVERSATION = {"channel", "accountId", "conversationId", "parentConversationId"}
LETTER = {"id", "eventId", "deliveryId", "reason", "attempts", "lastError", "destination", "deadAt", "source",
          "decision", "delivery", "event"}
LEDGER = {"deliveryId", "eventId", "channel", "status", "attempts", "chunks", "chunksDone", "inflightChunk", "fence",
          "owner", "leaseUntil", "nextAttemptAt", "messageIds", "lastError", "deadReason", "jobId", "replays",
          "delivery", "createdAt", "updatedAt", "deliveredAt", "deadAt"}
STATUS = {"redis", "queues", "workers", "deadLetters", "activeBindings", "oldestWaitingEvent"}
QUEUE = {"name", "depth", "oldestEnqueuedAt", "oldestAgeS", "scheduled", "failed"}
EXPLANATION = {"eventId", "known", "firstSeenAt", "jobId", "duplicates", "decision", "history", "deliveries",
               "deadLetters"}
ENQUEUED = {"enqueued", "rejected", "jobIds", "errors"}


def bad_keys(value: Any, path: str = "$") -> list[str]:
    """Every key, at any depth, that is not camelCase (the user's own maps excepted)."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if not CAMEL.match(k):
                found.append(f"{path}.{k}")
            if k not in USER_DATA:
                found += bad_keys(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += bad_keys(v, f"{path}[{i}]")
    return found


@pytest.fixture
def cli(probe_env: redis.Redis, redis_url: str) -> Iterator[Any]:
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(main, [*args, "--json"], env={"TETHER_REDIS_URL": redis_url},
                               catch_exceptions=False)
        assert result.exit_code in (0, 1), result.output
        out = json.loads(result.stdout)
        assert bad_keys(out) == [], f"tether {' '.join(args)} --json"
        return out

    yield run


def test_binding_commands_print_records_with_the_pinned_keys(cli: Any) -> None:
    [bound] = cli("bind", "--session", "s1", "--channel", CHANNEL, "--conversation", "room-1", "--meta", "a_b=1")
    assert set(bound) == RECORD and set(bound["conversation"]) == CONVERSATION
    assert bound["metadata"] == {"a_b": "1"}  # the user's keys, unchanged
    assert [set(r) for r in cli("bindings", "list", "--session", "s1")] == [set(bound)]
    assert [set(r) for r in cli("bindings", "resolve", "--channel", CHANNEL, "--conversation", "room-1")] == \
        [set(bound)]
    [ended] = cli("unbind", "--session", "s1", "--reason", "done")
    assert set(ended) == set(bound)


def test_status_has_one_key_style(cli: Any, probe_env: redis.Redis) -> None:
    tether_queue(COMPLETIONS_QUEUE, probe_env).enqueue("router.jobs.route_completion", {"eventId": "x"})
    out = cli("status")
    assert set(out) == STATUS
    assert all(set(q) == QUEUE for q in out["queues"])
    assert set(out["oldestWaitingEvent"]) == {"enqueuedAt", "ageS"}


def test_dead_letter_commands_print_letters_with_the_pinned_keys(cli: Any, probe_env: redis.Redis,
                                                                 drain: Drain) -> None:
    d = make_delivery(event_id="ev-1")
    script(probe_env, "permanent:forbidden")
    hand_off(probe_env, d)
    drain()
    [letter] = cli("dlq", "list")
    assert set(letter) == LETTER
    shown = cli("dlq", "show", d.delivery_id)
    assert set(shown) == {"letter", "ledger"} and set(shown["letter"]) == LETTER and set(shown["ledger"]) == LEDGER
    replayed = cli("dlq", "replay", d.delivery_id)
    assert set(replayed) == {"replayed", "results"}
    assert set(cli("dlq", "purge", "--all")) == {"purged"}


def test_enqueue_and_explain_print_the_pinned_keys(cli: Any, tmp_path: Any) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({
        "eventId": "e1", "kind": "task_completion", "targetSessionKey": "agent:main:subagent:abc",
        "requester": {"channel": CHANNEL, "conversationId": "room-1"}, "content": {"text": "done"},
        "createdAt": 1764000000000}) + "\n" + '{"eventId": 3}\n')
    out = cli("enqueue", str(events))
    assert set(out) == ENQUEUED and (out["enqueued"], out["rejected"]) == (1, 1)
    assert set(cli("explain", "e1")) == EXPLANATION
