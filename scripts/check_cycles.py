"""Fail when any two modules of dbos_queue import each other, directly or through others.

Counts every import grimp sees: top-level, inside functions and under TYPE_CHECKING.
The import-linter contract in pyproject.toml checks the layers; this checks that no
module cycle hides inside a layer. Run: ``python scripts/check_cycles.py``.
"""

from __future__ import annotations

import sys

import grimp


def cycles(package: str) -> list[list[str]]:
    """Strongly connected components (size > 1, or a self-import) of the module graph."""
    graph = grimp.build_graph(package, include_external_packages=False)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:  # Tarjan's algorithm
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges[v]:
                found.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for m in modules:
        if m not in index:
            visit(m)
    return found


def main() -> int:
    found = cycles("dbos_queue")
    for comp in found:
        print("import cycle: " + " <-> ".join(comp))
    if found:
        return 1
    print("no import cycles in dbos_queue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
