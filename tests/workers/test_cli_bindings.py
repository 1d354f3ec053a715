"""`tether bind / unbind / bindings list|resolve`: bindings by hand, tables for people, JSON for programs."""

from __future__ import annotations

import json

import pytest
import redis
from click.testing import CliRunner

from workers.cli import main


@pytest.fixture
def cli(real_redis: redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TETHER_REDIS_URL", redis_url)
    monkeypatch.delenv("TETHER_CONFIG", raising=False)
    return CliRunner()


def _json(result: object) -> object:
    return json.loads(result.output)  # type: ignore[attr-defined]


def test_bind_prints_the_record_and_list_resolve_find_it(cli: CliRunner) -> None:
    bound = cli.invoke(main, ["bind", "--session", "agent:main:subagent:x", "--channel", " Discord ",
                              "--conversation", "T1", "--parent", "P1", "--meta", "threadId=T1", "--json"])
    assert bound.exit_code == 0, bound.output
    [record] = _json(bound)
    assert record["conversation"] == {"channel": "discord", "accountId": "default", "conversationId": "T1",
                                      "parentConversationId": "P1"}
    assert record["status"] == "active"

    listed = cli.invoke(main, ["bindings", "list", "--session", "agent:main:subagent:x", "--json"])
    assert [r["bindingId"] for r in _json(listed)] == [record["bindingId"]]
    resolved = cli.invoke(main, ["bindings", "resolve", "--channel", "discord", "--conversation", "T1", "--json"])
    assert _json(resolved)[0]["bindingId"] == record["bindingId"]


def test_resolve_of_an_unbound_conversation_exits_1(cli: CliRunner) -> None:
    result = cli.invoke(main, ["bindings", "resolve", "--channel", "discord", "--conversation", "nope"])
    assert result.exit_code == 1
    assert "no active binding" in result.output


def test_unbind_by_session_returns_the_ended_records_with_the_reason(cli: CliRunner) -> None:
    for conv in ("T1", "T2"):
        bound = cli.invoke(main, ["bind", "--session", "s1", "--channel", "discord", "--conversation", conv])
        assert bound.exit_code == 0
    ended = cli.invoke(main, ["unbind", "--session", "s1", "--reason", "done", "--json"])
    assert ended.exit_code == 0, ended.output
    assert sorted((r["conversation"]["conversationId"], r["status"], r["endReason"]) for r in _json(ended)) == [
        ("T1", "ended", "done"), ("T2", "ended", "done")]
    assert _json(cli.invoke(main, ["bindings", "list", "--session", "s1", "--json"])) == []


def test_unbind_needs_exactly_one_selector(cli: CliRunner) -> None:
    result = cli.invoke(main, ["unbind"])
    assert result.exit_code == 2
    assert "exactly one of --id or --session" in result.output


def test_bad_input_is_an_error_naming_the_field(cli: CliRunner) -> None:
    result = cli.invoke(main, ["bind", "--session", "  ", "--channel", "discord", "--conversation", "T1"])
    assert result.exit_code == 1
    assert "target_session_key" in result.output or "targetSessionKey" in result.output


def test_child_placement_without_a_provisioner_is_a_clear_error(cli: CliRunner) -> None:
    result = cli.invoke(main, ["bind", "--session", "s", "--channel", "nowhere", "--parent", "general", "--child"])
    assert result.exit_code == 1
    assert "no conversation provisioner" not in result.output  # said in the user's words, not the class name
    assert "'nowhere'" in result.output and "placement 'current'" in result.output
