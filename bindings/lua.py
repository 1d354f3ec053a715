"""One Lua script loader for every package of tether.

A package declares its scripts once, at import, as a `ScriptSet`: each script a list of `.lua` files concatenated
in order (a shared library of functions first, then the script itself), read from the package's directory, or from
another package's with `"package:file"`. Every script file starts with a comment naming its KEYS and ARGV; every key
a script touches is passed in KEYS (tests/test_lua_scripts.py checks the headers).

A script's SHA is computed once per process. Calls go out as EVALSHA; on NOSCRIPT (a fresh or restarted Redis) the
body is loaded and the call repeated, so each Redis connection pool loads a script at most once per Redis lifetime.
On a pipeline the script is handed to the pipeline, which loads missing scripts before it executes.

Error replies of a script become tether's exceptions (`script_error`): a script answers
`redis.error_reply('INVALID <field> <message>')` for bad input (→ `InvalidInput`), `'NOTFOUND <message>'` for a
missing record (→ `NotFound`); any other error reply, or a Lua runtime error, is a `ScriptError` naming the script.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any, Generic, TypeVar

import redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError, ResponseError

from bindings.errors import InvalidInput, NotFound, TetherError

Name = TypeVar("Name", bound=str)
Arg = str | int | float | bytes
Client = redis.Redis | Pipeline


class ScriptError(TetherError):
    """A Lua script failed in a way it does not map to one of tether's errors (a bug, or Redis refusing a call)."""

    def __init__(self, script: str, message: str) -> None:
        super().__init__(f"Lua script {script}: {message}")
        self.script = script


def script_error(script: str, exc: ResponseError) -> TetherError:
    """The tether exception for a script's error reply (see the module docstring for the codes)."""
    message = str(exc)
    code, _, rest = message.partition(" ")
    if code == "INVALID":
        field, _, detail = rest.partition(" ")
        return InvalidInput(field, detail)
    if code == "NOTFOUND":
        return NotFound(rest)
    return ScriptError(script, message)


@cache
def read_lua(package: str, name: str) -> str:
    """The text of `<package>/<name>.lua` (read once per process)."""
    return files(package).joinpath(f"{name}.lua").read_text()


class LuaScript:
    """One script: its name, body and SHA. Pipelines' script loading reads `.sha` and `.script`."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.script = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, client: Client, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run on `client`; on a pipeline, queue the call (the pipeline loads the script first) and return it."""
        if isinstance(client, Pipeline):
            client.scripts.add(self)  # type: ignore[arg-type]
            return client.evalsha(self.sha, len(keys), *keys, *args)
        try:
            try:
                return client.evalsha(self.sha, len(keys), *keys, *args)
            except NoScriptError:
                client.script_load(self.script)
                return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            raise
        except ResponseError as exc:
            raise script_error(self.name, exc) from exc


class ScriptSet(Generic[Name]):
    """The scripts of one package, by name: `{name: [file, ...]}`, files concatenated in order."""

    def __init__(self, package: str, scripts: Mapping[Name, Sequence[str]]) -> None:
        self.package = package
        self._files = {name: tuple(parts) for name, parts in scripts.items()}
        self._scripts: dict[Name, LuaScript] = {}

    @property
    def names(self) -> tuple[Name, ...]:
        return tuple(self._files)

    def source(self, name: Name) -> str:
        parts = []
        for part in self._files[name]:
            package, sep, file = part.partition(":")
            parts.append(read_lua(package, file) if sep else read_lua(self.package, part))
        return "\n".join(parts)

    def script(self, name: Name) -> LuaScript:
        found = self._scripts.get(name)
        if found is None:
            found = self._scripts[name] = LuaScript(f"{self.package}:{name}", self.source(name))
        return found

    def run(self, client: Client, name: Name, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """EVALSHA `name` on `client` (EVAL-free: loaded once on NOSCRIPT); error replies raise tether errors."""
        return self.script(name)(client, keys, args)

    def load(self, client: redis.Redis, name: Name) -> None:
        """SCRIPT LOAD now, so that a bare EVALSHA of it (`queue_evalsha`) finds it (until Redis loses its scripts)."""
        client.script_load(self.script(name).script)

    def queue_evalsha(self, pipe: Pipeline, name: Name, keys: Sequence[str], args: Sequence[Arg]) -> None:
        """Queue a bare EVALSHA on `pipe`. Unlike `run` with a pipeline, this adds no SCRIPT EXISTS round trip
        before the pipeline; a script Redis does not have comes back as a NoScriptError reply of that call."""
        pipe.evalsha(self.script(name).sha, len(keys), *keys, *args)
