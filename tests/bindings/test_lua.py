"""The one Lua loader: scripts run by SHA, load themselves into a Redis that lost them, work on pipelines, and a
script's error reply arrives as one of tether's exceptions."""

from __future__ import annotations

from typing import Literal

import pytest
import redis

from bindings.errors import InvalidInput, NotFound
from bindings.lua import LuaScript, ScriptError, ScriptSet

SCRIPTS: ScriptSet[Literal["release"]] = ScriptSet("adapters.discord", {"release": ("compare_delete",)})


def test_a_script_runs_and_reloads_itself_after_redis_lost_its_scripts(any_redis: redis.Redis) -> None:
    any_redis.set("lock", "me")
    assert SCRIPTS.run(any_redis, "release", ["lock"], ["someone-else"]) == 0
    any_redis.script_flush()
    assert SCRIPTS.run(any_redis, "release", ["lock"], ["me"]) == 1
    assert any_redis.get("lock") is None


def test_on_a_pipeline_the_call_is_queued_and_the_pipeline_loads_the_script(any_redis: redis.Redis) -> None:
    any_redis.script_flush()
    any_redis.set("lock", "me")
    pipe = any_redis.pipeline()
    assert SCRIPTS.run(pipe, "release", ["lock"], ["me"]) is pipe
    assert pipe.execute() == [1]


def test_concatenated_files_make_one_script_and_other_packages_files_are_named_with_a_colon() -> None:
    both: ScriptSet[Literal["x"]] = ScriptSet("bindings", {"x": ("lib", "adapters.discord:compare_delete")})
    source = both.source("x")
    assert source.index("lib.lua") < source.index("KEYS[1]  the key")


@pytest.mark.parametrize(
    ("reply", "expected", "text"),
    [
        ("return redis.error_reply('INVALID mode unknown mode x')", InvalidInput, "mode: unknown mode x"),
        ("return redis.error_reply('NOTFOUND no record r-1')", NotFound, "no record r-1"),
        ("return redis.error_reply('something odd')", ScriptError, "Lua script test:boom: something odd"),
        ("return redis.call('INCR', KEYS[1], 'extra')", ScriptError, "Lua script test:boom:"),
    ],
)
def test_error_replies_become_tether_exceptions(any_redis: redis.Redis, reply: str,
                                                 expected: type[Exception], text: str) -> None:
    with pytest.raises(expected) as caught:
        LuaScript("test:boom", reply)(any_redis, ["k"], [])
    assert text in str(caught.value)


def test_the_discord_rate_limit_block_refuses_an_unknown_mode_naming_the_field(any_redis: redis.Redis) -> None:
    from adapters.discord.ratelimit import SCRIPTS as DISCORD

    with pytest.raises(InvalidInput) as caught:
        DISCORD.run(any_redis, "rl_block", ["b", "g"], [0, "sideways", 1000, 0])
    assert caught.value.field == "mode"
