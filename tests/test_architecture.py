"""The packages' layout rules, checked on their source: no import cycle, dependencies pointing one way
(`workers → router → adapters → bindings`), and no platform named in `workers/` or `router/` except as data.

Every import counts: module level, inside functions, and under `TYPE_CHECKING` (a cycle hidden in a function is
still a cycle, and a type-only import still ties two modules together)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("bindings", "adapters", "router", "workers")  # each may import only itself and the ones before it


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for layer in LAYERS for p in (REPO / layer).rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """module -> the tether modules it imports (`from a.b import c` names module a.b.c when that is a module)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, …, a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_no_import_cycle_in_the_packages() -> None:
    assert find_cycle(import_graph()) is None


def test_dependencies_point_one_way() -> None:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    wrong = sorted(f"{src} imports {dst}" for src, dsts in import_graph().items() for dst in dsts
                   if rank[dst.split(".")[0]] > rank[src.split(".")[0]])
    assert wrong == []


def test_the_checks_find_what_they_look_for() -> None:
    """The cycle finder and the layer rule, on a made-up graph: each can fail."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# ---- no platform named in workers/ or router/ except as data ------------------------------------------------

SHARED_ADAPTER_PACKAGES = {"delivery", "ratelimit"}  # folders of adapters/ that are no platform


def platforms() -> set[str]:
    """Every platform tether has: one folder of adapters/ each, and every installed adapter's channel name."""
    from importlib.metadata import entry_points

    folders = {p.parent.name for p in (REPO / "adapters").glob("*/__init__.py")} - SHARED_ADAPTER_PACKAGES
    return folders | {ep.name for ep in entry_points(group="tether.adapters")}


def platform_mentions(source: str, names: set[str]) -> list[str]:
    """Where code (not data) names a platform: an import of its package, a comparison with its name (branching on
    a platform), or an identifier containing it. String constants elsewhere (defaults, help text, configuration
    examples) are data. Identifiers imported from other libraries (rich's `Console`) are theirs, not a platform's."""
    tree = ast.parse(source)
    foreign = {(a.asname or a.name).lower() for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and (node.module or "").split(".")[0] not in LAYERS for a in node.names}
    found: list[str] = []

    def named(text: str) -> str | None:
        low = text.lower()
        return next((n for n in sorted(names) if n in low), None) if low not in foreign else None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {node.lineno}: imports {m}" for m in modules
                      if m.split(".")[:1] == ["adapters"] and len(m.split(".")) > 1 and m.split(".")[1] in names]
        elif isinstance(node, ast.Compare):
            for part in [node.left, *node.comparators]:
                if isinstance(part, ast.Constant) and isinstance(part.value, str) and part.value.lower() in names:
                    found.append(f"line {node.lineno}: compares with {part.value!r}")
        elif isinstance(node, ast.MatchValue) and isinstance(node.value, ast.Constant):
            if str(node.value.value).lower() in names:
                found.append(f"line {node.lineno}: matches {node.value.value!r}")
        else:
            ident = (node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
                     else node.name if isinstance(node, ast.FunctionDef | ast.ClassDef)
                     else node.arg if isinstance(node, ast.arg | ast.keyword) and node.arg else None)
            if ident and (hit := named(ident)):
                found.append(f"line {getattr(node, 'lineno', '?')}: identifier {ident!r} names {hit}")
    return found


@pytest.mark.parametrize("package", ["workers", "router"])
def test_no_platform_is_named_in_workers_or_router_except_as_data(package: str) -> None:
    names = platforms()
    assert {"console", "discord"} <= names
    found = [f"{path.relative_to(REPO)} {m}" for path in sorted((REPO / package).rglob("*.py"))
             for m in platform_mentions(path.read_text(), names)]
    assert found == []


def test_the_platform_check_tells_code_from_data() -> None:
    names = {"discord"}
    assert platform_mentions('CHANNEL = "discord"\nhelp = "e.g. discord"\n', names) == []
    assert platform_mentions('if "discord" in config.channels:\n    pass\n', names) == [
        "line 1: compares with 'discord'"]
    assert platform_mentions("from adapters.discord.threads import check\n", names) == [
        "line 1: imports adapters.discord.threads"]
    assert platform_mentions("def check_discord_threads() -> None: ...\n", names) == [
        "line 1: identifier 'check_discord_threads' names discord"]
