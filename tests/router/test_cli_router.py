"""`tether enqueue` and `tether explain`."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from click.testing import CliRunner, Result

from adapters.delivery.rqwire import COMPLETIONS_QUEUE, tether_queue
from bindings.config import parse_config
from bindings.service import SessionBindingService
from router.routing import route
from tests.router.factories import SPAWN_ON_TOML, conv, event
from workers.cli import main

SPAWN_ON = parse_config(SPAWN_ON_TOML)


def _run(args: list[str], redis_url: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "--redis-url", redis_url], input=stdin, catch_exceptions=False)


def test_enqueue_reads_json_lines_reports_each_invalid_line_and_enqueues_the_valid_ones(
    real_redis: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    lines = [
        json.dumps(event("e1")),
        json.dumps(event("e2", requester={"channel": 7, "conversationId": "1"})),
        "",
        "{not json",
        json.dumps(event("e3", kind="task_started")),
        json.dumps(event("e4")),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = _run(["enqueue", str(path)], redis_url)

    assert result.exit_code == 1
    assert result.stdout.strip() == "enqueued 2 events, rejected 3"
    errors = result.stderr.splitlines()
    assert errors[0] == "line 2: requester.channel: expected `str | null`, got `int`"
    assert errors[1].startswith("line 4: event: not valid JSON")
    assert errors[2].startswith("line 5: kind: unsupported event kind 'task_started'")
    assert tether_queue(COMPLETIONS_QUEUE, real_redis).count == 2


def test_enqueue_reads_a_json_array_from_stdin_and_reports_in_json(real_redis: redis.Redis, redis_url: str) -> None:
    batch = [event("e1"), event("e2", content={"text": ""})]

    result = _run(["enqueue", "-", "--json"], redis_url, stdin=json.dumps(batch, indent=2))

    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert (out["enqueued"], out["rejected"], len(out["jobIds"])) == (1, 1, 1)
    assert out["errors"] == [{"line": None, "item": 2, "field": "content.text", "error": "must not be empty",
                             "index": 1}]


def test_enqueue_accepts_one_pretty_printed_event(real_redis: redis.Redis, redis_url: str) -> None:
    result = _run(["enqueue"], redis_url, stdin=json.dumps(event(), indent=2))
    assert (result.exit_code, result.stdout.strip()) == (0, "enqueued 1 event")
    job = tether_queue(COMPLETIONS_QUEUE, real_redis).jobs[0]
    assert job.args[0] == event()


def test_explain_shows_the_decision_binding_destination_and_delivery(real_redis: redis.Redis,
                                                                       redis_url: str) -> None:
    svc = SessionBindingService(real_redis, SPAWN_ON)
    thread = svc.bind(target_session_key="agent:main:subagent:abc", target_kind="subagent",
                      conversation=conv("thread-1", parent="111"))
    routed = route(real_redis, SPAWN_ON, event("e1"), job_id="j1", bindings=svc)
    route(real_redis, SPAWN_ON, event("e1"), job_id="j2", bindings=svc)

    out = json.loads(_run(["explain", "e1", "--json"], redis_url).stdout)
    assert (out["known"], out["jobId"], out["duplicates"]) == (True, "j1", 1)
    assert (out["decision"]["mode"], out["decision"]["reason"]) == ("bound", "requester-match")
    assert out["decision"]["binding"]["bindingId"] == thread.binding_id
    assert out["decision"]["destination"] == {"channel": "discord", "accountId": "default",
                                              "conversationId": "thread-1", "parentConversationId": "111"}
    [delivery] = out["deliveries"]
    assert (delivery["deliveryId"], delivery["status"], delivery["attempts"]) == (routed.delivery_id, "pending", 0)

    text = _run(["explain", "e1"], redis_url).stdout
    assert "bound / requester-match" in text
    assert f"binding    {thread.binding_id}" in text
    assert "destination discord/default/thread-1" in text
    assert "pending" in text


def test_explain_shows_a_dead_lettered_event(real_redis: redis.Redis, redis_url: str) -> None:
    route(real_redis, SPAWN_ON, event("e1", no_requester=True), job_id="j1")
    out = json.loads(_run(["explain", "e1", "--json"], redis_url).stdout)
    assert out["decision"]["reason"] == "no-active-binding"
    assert [d["reason"] for d in out["deadLetters"]] == ["no-destination"]


def test_explain_of_an_unknown_event_exits_1(real_redis: redis.Redis, redis_url: str) -> None:
    result = _run(["explain", "nope"], redis_url)
    assert result.exit_code == 1
    assert "unknown" in result.stdout
