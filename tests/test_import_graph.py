"""Dependencies point one way: no two modules of korea_qa import each other, directly or round
a longer circle.

Every import statement counts, wherever it stands: at the top, inside a function (an import
deferred to break a circle still ties the two modules together) and under TYPE_CHECKING (a
type taken from a module is a dependency on it). Where one module only needs the shape of
another, it says so with a Protocol of its own (`store.retrieval.Snapshot`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "korea_qa"

# Circles allowed for a while (none today). Delete an entry when its circle is gone: the test
# fails on an entry that no longer matches, so this list only shrinks.
ALLOWED: list[set[str]] = []


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module, name: str, is_package: bool) -> Iterator[str]:
    """Every module name an import statement anywhere in the module names (a module, or a
    module and the names taken from it, which may be modules too)."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = imported(tree, name, path.name == "__init__.py")
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while not component or node not in component:
                component.add(stack.pop())
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_but_the_allowed_ones() -> None:
    found = circles(import_graph())
    new = [sorted(c) for c in found if c not in ALLOWED]
    assert new == [], f"import circles: {new}"
    gone = [sorted(c) for c in ALLOWED if c not in found]
    assert gone == [], f"no longer circles, delete them from ALLOWED: {gone}"


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between the packages under korea_qa (`korea_qa.library`, ...) and the
    modules at its root, each module standing for the package it is in."""
    def top(name: str) -> str:
        return ".".join(name.split(".")[:2])

    packages: dict[str, set[str]] = {top(name): set() for name in graph}
    for name, targets in graph.items():
        packages[top(name)] |= {top(t) for t in targets} - {top(name)}
    return packages


def test_packages_depend_one_way() -> None:
    # The layers of docs/DESIGN.md: a stage's package never reaches back into one that
    # depends on it, even through modules that do not form a circle themselves.
    assert circles(package_graph(import_graph())) == []


def test_the_graph_sees_every_kind_of_import() -> None:
    # What makes the test able to fail: a circle through a deferred or a typing-only import.
    graph = import_graph()
    assert "korea_qa.analysis.aliases" in graph["korea_qa.analysis.tokenize"]  # top of the module
    assert "korea_qa.evaluate.beir_milvus" in graph["korea_qa.evaluate.beir"]  # in a function
    assert "korea_qa.store.milvus.rows" in graph["korea_qa.store.milvus.store"]  # `from . import`
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from .b import B\ndef f():\n    from ..c import d\n")
    assert set(imported(tree, "korea_qa.x.a", False)) == {
        "typing", "typing.TYPE_CHECKING", "korea_qa.x.b", "korea_qa.x.b.B", "korea_qa.c",
        "korea_qa.c.d"}
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    # Two packages, each importing the other through different modules: a circle here.
    two = package_graph({"korea_qa.p.a": {"korea_qa.q.b"}, "korea_qa.q.b": set(),
                         "korea_qa.q.c": {"korea_qa.p.d"}, "korea_qa.p.d": set()})
    assert circles(two) == [{"korea_qa.p", "korea_qa.q"}]
