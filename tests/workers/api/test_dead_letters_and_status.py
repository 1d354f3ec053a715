"""`/v1/dead-letters` and `/v1/status` answer what `tether dlq … --json` and `tether status --json` print."""

from __future__ import annotations

import msgspec
from click.testing import CliRunner
from starlette.testclient import TestClient

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue
from bindings.model import ConversationRef
from workers.api import ApiContext
from workers.cli import main


def letter(letter_id: str, reason: str = "no-destination", channel: str = "console") -> DeadLetter:
    return DeadLetter(id=letter_id, event_id=f"ev-{letter_id}", delivery_id=None, reason=reason, attempts=1,
                      last_error="boom", destination=ConversationRef(channel=channel, conversation_id="c"),
                      dead_at=1_700_000_000_000, source="router", event=None)


def cli_json(redis_url: str, *args: str) -> object:
    result = CliRunner().invoke(main, [*args, "--json", "--redis-url", redis_url])
    return msgspec.json.decode(result.stdout)


def test_list_filters_as_the_cli_and_prints_the_same_json(api: TestClient, api_ctx: ApiContext,
                                                          redis_url: str) -> None:
    dlq = DeadLetterQueue(api_ctx.client)
    for lt in (letter("a"), letter("b", "no-adapter:x"), letter("c", channel="discord")):
        dlq.put(lt)

    everything = api.get("/v1/dead-letters")
    filtered = api.get("/v1/dead-letters", params={"reason": "no-adapter:", "limit": "5"})
    by_channel = api.get("/v1/dead-letters", params={"channel": "discord"})

    assert everything.json() == cli_json(redis_url, "dlq", "list")
    assert [lt["id"] for lt in filtered.json()] == ["b"]
    assert [lt["id"] for lt in by_channel.json()] == ["c"]


def test_bad_filters_are_named(api: TestClient) -> None:
    for params, field in (({"limit": "many"}, "limit"), ({"limit": "-1"}, "limit"), ({"source": "elsewhere"},
                                                                                      "source")):
        response = api.get("/v1/dead-letters", params=params)
        assert (response.status_code, response.json()["field"]) == (422, field)


def test_show_one_and_404(api: TestClient, api_ctx: ApiContext, redis_url: str) -> None:
    DeadLetterQueue(api_ctx.client).put(letter("a"))

    assert api.get("/v1/dead-letters/a").json() == cli_json(redis_url, "dlq", "show", "a")
    assert api.get("/v1/dead-letters/zzz").status_code == 404


def test_replay_reports_each_letter_and_the_missing_ones(api: TestClient, api_ctx: ApiContext) -> None:
    DeadLetterQueue(api_ctx.client).put(letter("a"))  # a router letter without its event: not replayable

    named = api.post("/v1/dead-letters/replay", json={"ids": ["a", "nope"]})
    both = api.post("/v1/dead-letters/replay", json={"ids": ["a"], "all": True})
    empty_all = api.post("/v1/dead-letters/replay", json={"all": True, "reroute": True})

    assert named.status_code == 200
    assert [(r["id"], r["outcome"]) for r in named.json()["results"]] == [("a", "not-replayable"),
                                                                         ("nope", "missing")]
    assert (both.status_code, both.json()["field"]) == (422, "ids")
    assert empty_all.status_code == 200 and empty_all.json()["replayed"] == 0


def test_status_is_the_cli_status(api: TestClient, redis_url: str) -> None:
    api.post("/v1/events", json={"eventId": "e", "kind": "task_completion", "content": {"text": "t"}})

    ours = api.get("/v1/status").json()
    cli = cli_json(redis_url, "status")

    assert isinstance(cli, dict)
    assert {k: v for k, v in ours.items() if k not in ("redis", "queues", "oldestWaitingEvent")} == \
        {k: v for k, v in cli.items() if k not in ("redis", "queues", "oldestWaitingEvent")}
    assert [q["name"] for q in ours["queues"]] == [q["name"] for q in cli["queues"]]
    assert set(ours["oldestWaitingEvent"]) == {"enqueuedAt", "ageS"}
