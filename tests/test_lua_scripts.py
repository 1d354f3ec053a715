"""Every Lua script of every package goes through the one loader (`bindings.lua`) and is headed by its KEYS/ARGV."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from bindings.lua import ScriptSet

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bindings", "router", "adapters", "workers")
# Modules declaring a ScriptSet; a new one must be listed here (the test below finds any .lua left out).
SCRIPT_MODULES = (
    "bindings.scripts",
    "adapters.delivery.ledger",
    "router.store",
    "adapters.ratelimit",
    "adapters.discord.ratelimit",
    "adapters.discord.webhooks",
    "workers.api.idempotency",
)


def _script_sets() -> list[ScriptSet[str]]:
    found = []
    for name in SCRIPT_MODULES:
        module = importlib.import_module(name)
        found += [v for v in vars(module).values() if isinstance(v, ScriptSet)]
    return found


def _lua_files() -> set[str]:
    out = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.lua"):
            rel = path.relative_to(REPO).with_suffix("")
            out.add(f"{'.'.join(rel.parts[:-1])}:{rel.parts[-1]}")
    return out


def _used_files() -> dict[str, bool]:
    """`package:file` of every file a ScriptSet uses -> whether it is a script's own file (its last one)."""
    used: dict[str, bool] = {}
    for scripts in _script_sets():
        for name in scripts.names:
            parts = scripts._files[name]
            for i, part in enumerate(parts):
                full = part if ":" in part else f"{scripts.package}:{part}"
                used[full] = used.get(full, False) or i == len(parts) - 1
    return used


def test_every_lua_file_is_loaded_through_a_script_set() -> None:
    assert _lua_files() - set(_used_files()) == set()


@pytest.mark.parametrize("full", sorted(_lua_files()))
def test_every_script_is_headed_by_its_keys_and_argv(full: str) -> None:
    package, _, name = full.partition(":")
    path = REPO / package.replace(".", "/") / f"{name}.lua"
    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("--"):
            break
        header.append(line)
    assert header, f"{path.name} starts without a comment saying what it does"
    if _used_files().get(full):
        text = "\n".join(header)
        assert "KEYS" in text and "ARGV" in text, f"{path.name}: the header must name its KEYS and ARGV"


def test_no_module_registers_a_script_of_its_own() -> None:
    offenders = []
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if path.relative_to(REPO).as_posix() == "bindings/lua.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in ("register_script", "eval", "evalsha"):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} .{node.attr}")
    assert offenders == []
