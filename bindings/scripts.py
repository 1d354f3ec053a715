"""The binding store's Lua scripts (`.lua` files beside this module, each prefixed with `lib.lua`), loaded through
the shared loader (`bindings.lua`) and called through `BindingScripts`, which holds the store's client.

Every script takes "now" from the caller's clock (ARGV), never Redis TIME, so an injected clock rules expiry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import redis

from bindings.lua import Arg, ScriptSet
from bindings.replies import as_text

ScriptName = Literal["bind", "resolve", "list_session", "touch", "unbind_ids", "unbind_session", "sweep", "rebind"]
SCRIPT_NAMES: tuple[ScriptName, ...] = (
    "bind",
    "resolve",
    "list_session",
    "touch",
    "unbind_ids",
    "unbind_session",
    "sweep",
    "rebind",
)
SCRIPTS: ScriptSet[ScriptName] = ScriptSet("bindings", {name: ("lib", name) for name in SCRIPT_NAMES})

# One id and the flat HGETALL of its record, as the scripts return them.
RawRecord = tuple[str, list[Any]]


def source(name: ScriptName) -> str:
    return SCRIPTS.source(name)


def raw_record(item: Sequence[Any]) -> RawRecord:
    return as_text(item[0]), list(item[1])


class BindingScripts:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def run(
        self,
        name: ScriptName,
        keys: Sequence[str],
        args: Sequence[Arg],
        client: redis.Redis | redis.client.Pipeline | None = None,
    ) -> Any:
        """EVALSHA (loading the script on NOSCRIPT); with a pipeline as `client`, queues the call and returns the
        pipeline."""
        return SCRIPTS.run(self.client if client is None else client, name, keys, args)

    def load(self, name: ScriptName) -> None:
        """SCRIPT LOAD now, so that a `queue_evalsha` of it finds it (until Redis loses its scripts)."""
        SCRIPTS.load(self.client, name)

    def queue_evalsha(self, name: ScriptName, keys: Sequence[str], args: Sequence[Arg],
                      pipe: redis.client.Pipeline) -> None:
        """Queue a bare EVALSHA on `pipe`; no SCRIPT EXISTS round trip (see `ScriptSet.queue_evalsha`)."""
        SCRIPTS.queue_evalsha(pipe, name, keys, args)
