"""The import graph of the project's own modules: no cycles, and the layers point one way.

`sla/` is the pure core (no temporalio), workflows and activities build on it, and `starter/` (CLI, API) sits on
top: nothing below it may import it. Every import counts, including those under `if TYPE_CHECKING:` and inside
function bodies: a cycle hidden that way is still two modules that cannot be understood one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sla", "workflows", "activities", "starter")
TOP_LEVEL = ("worker", "plugin")

def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules = {_module_name(ROOT / f"{name}.py"): ROOT / f"{name}.py" for name in TOP_LEVEL}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[_module_name(path)] = path
    return modules


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `module` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                while name and name not in known:  # `import a.b.c` of a package attribute: the nearest module
                    name = name.rpartition(".")[0]
                if name:
                    found.add(name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if candidate in known:  # `from sla import events`
                    found.add(candidate)
                elif base in known:
                    found.add(base)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {module: _imported(module, path, known) for module, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan), as a readable path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)

    cycles = []
    for group in groups:
        start = min(group)
        # shortest way back to `start` inside the group (breadth first)
        paths = {start: [start]}
        frontier = [start]
        cycle = None
        while frontier and cycle is None:
            following = []
            for node in frontier:
                for nxt in sorted(graph[node] & group):
                    if nxt == start:
                        cycle = paths[node] + [start]
                        break
                    if nxt not in paths:
                        paths[nxt] = paths[node] + [nxt]
                        following.append(nxt)
                if cycle:
                    break
            frontier = following
        cycles.append(cycle or sorted(group))
    return cycles


def test_the_graph_sees_every_kind_of_import(tmp_path) -> None:
    graph = import_graph()
    assert "sla.events" in graph["sla.engine"]  # `from sla import events as ev`
    assert "sla.official_calendar" in graph["sla.policy"]  # an import inside a function body
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from typing import TYPE_CHECKING\n"
        "import sla.kpi\n"
        "if TYPE_CHECKING:\n    from sla.engine import Evaluation\n"
        "def later():\n    from workflows import search_attributes as sa\n"
        "from . import names\n"
    )
    known = {"sla", "sla.kpi", "sla.engine", "sla.names", "workflows", "workflows.search_attributes"}
    assert _imported("sla.planted", planted, known) == {"sla.kpi", "sla.engine", "workflows.search_attributes",
                                                         "sla.names"}


def test_no_import_cycles() -> None:
    cycles = _cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_layers_point_one_way() -> None:
    wrong = []
    for module, targets in sorted(import_graph().items()):
        top = module.split(".")[0]
        if top in ("sla", "workflows", "activities"):
            wrong += [f"{module} imports {t}" for t in sorted(targets) if t.split(".")[0] == "starter"]
        if top == "activities":
            wrong += [f"{module} imports {t}" for t in sorted(targets) if t.split(".")[0] == "workflows"]
    assert not wrong, "imports against the layers: " + "; ".join(wrong)


def test_the_core_never_imports_temporalio() -> None:
    offenders = []
    for module, path in sorted(project_modules().items()):
        if module.split(".")[0] != "sla":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{module} imports {n}" for n in names if n.split(".")[0] == "temporalio"]
    assert not offenders, "sla/ must stay free of Temporal: " + "; ".join(offenders)


def test_a_planted_cycle_is_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
