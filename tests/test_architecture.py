"""The import structure holds: one direction between the parts, no circles, light edges and interfaces.

Read from the code itself (every import statement, lazy ones and type-checking ones included), so a
change that makes a part depend on the wrong one fails here with the offending import named.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ivr"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ``ivr`` module this file imports, wherever the import statement stands."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "ivr"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "ivr":
                continue
            for alias in node.names:  # ``from . import dialplan`` imports a module
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return {m for m in found if m in MODULES and m != name}


FILES = {p for p in PACKAGE.rglob("*.py")}
MODULES = {_module_name(p): p for p in FILES}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _unit(module: str) -> str:
    """The part a module belongs to: ``ivr.engine.model`` → ``engine``; ``ivr.dialplan`` → ``dialplan``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ivr"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _ignoring_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The file graph without ``__init__`` edges (a package importing its own parts is not a circle)."""
    return {m: {t for t in ts if MODULES[t].name != "__init__.py"} for m, ts in graph.items()
            if MODULES[m].name != "__init__.py"}


def test_no_two_files_import_each_other_directly_or_through_others():
    assert _cycles(_ignoring_packages(GRAPH)) == []


def test_no_circle_between_parts():
    units: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        units[_unit(module)] |= {_unit(t) for t in targets} - {_unit(module)}
    assert _cycles(dict(units)) == []


def _offending(importer_prefix: str, allowed) -> list[str]:
    return sorted(f"{m} imports {t}" for m, ts in GRAPH.items() if m.startswith(importer_prefix)
                  for t in ts if not allowed(m, t))


@pytest.mark.parametrize("edge", ["agi", "audiosocket", "ami"])
def test_each_asterisk_edge_imports_only_itself(edge):
    prefix = f"ivr.edges.{edge}"
    assert _offending(prefix, lambda m, t: t.startswith(prefix) or t in ("ivr", "ivr.edges")) == []


def test_the_interfaces_import_nothing_of_the_ivr():
    assert GRAPH["ivr.interfaces"] == set()


#: What each generic part must not depend on (the line's profile, the composition root, the tools).
FORBIDDEN = {
    "ivr.engine": ("ivr.ants3400", "ivr.edges.audiosocket", "ivr.edges.ami", "ivr.edges.agi.session",
                   "ivr.edges.agi.server", "ivr.listening", "ivr.routing", "ivr.tracking", "ivr.server",
                   "ivr.admin", "ivr.store", "ivr.cli", "ivr.sim"),
    "ivr.understanding": ("ivr.ants3400", "ivr.edges", "ivr.engine", "ivr.listening", "ivr.calls", "ivr.server"),
    "ivr.listening": ("ivr.ants3400", "ivr.engine", "ivr.calls", "ivr.routing", "ivr.tracking", "ivr.server"),
    "ivr.routing": ("ivr.ants3400", "ivr.engine", "ivr.calls", "ivr.listening", "ivr.server", "ivr.edges"),
    "ivr.tracking.client": ("ivr.ants3400", "ivr.engine", "ivr.calls", "ivr.routing", "ivr.server"),
    "ivr.calls": ("ivr.ants3400", "ivr.engine", "ivr.listening", "ivr.routing", "ivr.server", "ivr.admin"),
    "ivr.admin": ("ivr.ants3400", "ivr.server", "ivr.engine", "ivr.edges", "ivr.listening", "ivr.routing"),
    "ivr.ants3400": ("ivr.engine", "ivr.calls", "ivr.listening", "ivr.routing", "ivr.server", "ivr.edges"),
    "ivr.dialplan": ("ivr.engine", "ivr.calls", "ivr.edges", "ivr.server"),
    "ivr.playback": ("ivr.engine", "ivr.calls", "ivr.edges", "ivr.server"),
    # Versions, the audit trail and access rules are plain data and rules: the store, the server, the
    # console and the CLI use them, never the other way round.
    "ivr.versions": ("ivr.server", "ivr.store", "ivr.admin", "ivr.cli", "ivr.engine", "ivr.calls", "ivr.edges",
                     "ivr.routing", "ivr.ants3400"),
}


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_dependencies_point_one_way(part):
    assert _offending(part, lambda m, t: not t.startswith(FORBIDDEN[part])) == []


def _loaded_by(module: str) -> tuple[list[str], list[str]]:
    code = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = json.loads(out.stdout)
    return [m for m in loaded if m == "ivr" or m.startswith("ivr.")], loaded


@pytest.mark.parametrize("module, at_most", [
    ("ivr.tracking.client", 4),          # ivr, ivr.tracking, the client, the interfaces
    ("ivr.understanding.numbers", 3),    # the French number reader
    ("ivr.understanding.digits", 5),
    ("ivr.interfaces", 2),
])
def test_small_modules_load_only_a_handful_of_ivr_modules(module, at_most):
    ours, _ = _loaded_by(module)
    assert len(ours) <= at_most, ours


def test_the_interfaces_load_nothing_heavy():
    _, everything = _loaded_by("ivr.interfaces")
    heavy = {"pydantic", "aiohttp", "structlog", "numpy", "vosk", "panoramisk", "asyncio"}
    assert heavy.isdisjoint(m.split(".")[0] for m in everything)


def test_the_product_reads_the_environment_only_through_its_settings():
    # Settings are typed, documented and reported in one place (ivr/config.py); the test tools (the lab,
    # the simulator's peers, the benchmarks) start processes with an environment of their own.
    tools = {"lab", "sim", "bench"}
    readers = []
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).parts[0]
        if part in tools or path == PACKAGE / "config.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") \
                    and isinstance(node.value, ast.Name) and node.value.id == "os":
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert readers == []
