"""The architecture holds, checked rather than hoped for (issue 18.4):

* the layers of DESIGN.md and the contracts inside ``reconciler.engine`` and ``reconciler.sandbox``
  (``.importlinter``, run by ``lint-imports``); the sandbox shares no code with the client, so a
  protocol mistake cannot cancel out;
* no import circle anywhere in the package (TYPE_CHECKING imports count: a circle hidden behind
  one is still two modules that cannot be understood apart);
* no module over 600 lines (a module that long holds several jobs; split it along its seams);
* every sandbox family reads its parameters through the one parser, ``sandbox/params.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "reconciler"
MAX_MODULE_LINES = 600


def test_import_layers_hold() -> None:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = subprocess.run([command], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- import circles


def strongly_connected(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of modules that reach each other by imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(sorted(group))
    return groups


def shortest_path(graph: Mapping[str, Iterable[str]], start: str, goal: str, within: set[str]) -> list[str]:
    """Breadth first, inside one strongly connected group (a path back always exists there)."""
    previous: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier and goal not in previous:
        following: list[str] = []
        for module in frontier:
            for child in sorted(graph[module]):
                if child in within and child not in previous:
                    previous[child] = module
                    following.append(child)
        frontier = following
    path: list[str] = []
    step: str | None = goal
    while step is not None:
        path.append(step)
        step = previous[step]
    return path[::-1]


def import_circles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every circle, as closed chains ``a → b → … → a``: for each import inside a strongly
    connected group, the shortest way back; the same circle found from two of its imports is
    listed once."""
    circles: dict[tuple[str, ...], list[str]] = {}
    for group in strongly_connected(graph):
        members = set(group)
        if len(group) == 1 and group[0] not in graph[group[0]]:
            continue  # a lone module that does not import itself
        for importer in group:
            for imported in sorted(set(graph[importer]) & members):
                chain = [importer, *shortest_path(graph, imported, importer, members)]
                loop = chain[:-1]
                turn = loop.index(min(loop))
                key = tuple(loop[turn:] + loop[:turn])
                circles.setdefault(key, [*key, key[0]])
    return sorted(circles.values())


def package_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("reconciler")  # TYPE_CHECKING imports included (grimp's default)
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def test_the_circle_finder_finds_every_circle() -> None:
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": {"b", "d"}, "d": set(), "e": {"e"}}
    assert import_circles(graph) == [["a", "b", "a"], ["b", "c", "b"], ["e", "e"]]
    assert import_circles({"x": {"y"}, "y": {"z"}, "z": set()}) == []


def test_no_import_circles() -> None:
    circles = import_circles(package_graph())
    listing = "\n".join("  " + " → ".join(circle) for circle in circles)
    assert not circles, f"{len(circles)} import circle(s) in reconciler:\n{listing}"


# --------------------------------------------------------------------------- module size


def python_modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_module_over_600_lines() -> None:
    sizes = [(path, line_count(path)) for path in python_modules()]
    offenders = sorted(((path, lines) for path, lines in sizes if lines > MAX_MODULE_LINES), key=lambda o: -o[1])
    listing = "\n".join(f"  {path.relative_to(REPO)}: {lines} lines" for path, lines in offenders)
    assert not offenders, f"{len(offenders)} module(s) over {MAX_MODULE_LINES} lines; split along their seams:\n{listing}"


# --------------------------------------------------------------------------- sandbox parameters

def test_sandbox_families_read_parameters_only_through_params_py() -> None:
    families = sorted((PACKAGE / "sandbox" / "families").glob("*.py"))
    assert families, "no sandbox families found"
    readers = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in families
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if "ctx.params" in line  # a second reader would bring back its own codes (40 vs 41)
    ]
    assert not readers, "families read parameters with reconciler/sandbox/params.py only:\n" + "\n".join(readers)
