"""The binding store's Lua scripts: read from the `.lua` files beside this module, each prefixed with `lib.lua`,
registered once per client, called through `BindingScripts.run`.

Every script takes "now" from the caller's clock (ARGV), never Redis TIME, so an injected clock rules expiry.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import redis
from redis.commands.core import Script

ScriptName = Literal["bind", "resolve", "list_session", "touch", "unbind_ids", "unbind_session", "sweep"]
SCRIPT_NAMES: tuple[ScriptName, ...] = (
    "bind",
    "resolve",
    "list_session",
    "touch",
    "unbind_ids",
    "unbind_session",
    "sweep",
)

# One id and the flat HGETALL of its record, as the scripts return them.
RawRecord = tuple[str, list[Any]]


@cache
def source(name: str) -> str:
    here = files("bindings")
    return here.joinpath("lib.lua").read_text() + "\n" + here.joinpath(f"{name}.lua").read_text()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def raw_record(item: Sequence[Any]) -> RawRecord:
    return _text(item[0]), list(item[1])


class BindingScripts:
    def __init__(self, client: redis.Redis) -> None:
        self._scripts: dict[str, Script] = {name: client.register_script(source(name)) for name in SCRIPT_NAMES}

    def run(
        self,
        name: ScriptName,
        keys: Sequence[str],
        args: Sequence[str | int],
        client: redis.Redis | redis.client.Pipeline | None = None,
    ) -> Any:
        """EVALSHA (EVAL on NOSCRIPT); with a pipeline as `client`, queues the call and returns the pipeline."""
        return self._scripts[name](keys=list(keys), args=list(args), client=client)

    def load(self, name: ScriptName) -> None:
        """SCRIPT LOAD now, so that a `queue_evalsha` of it finds it (until Redis loses its scripts)."""
        script = self._scripts[name]
        script.registered_client.script_load(script.script)

    def queue_evalsha(self, name: ScriptName, keys: Sequence[str], args: Sequence[str | int],
                      pipe: redis.client.Pipeline) -> None:
        """Queue a bare EVALSHA on `pipe`. Unlike `run` with a pipeline, this adds no SCRIPT EXISTS round trip
        before the pipeline; a script Redis does not have comes back as a NoScriptError reply of that call."""
        pipe.evalsha(self._scripts[name].sha, len(keys), *keys, *args)
