"""Import graph among the product's top-level packages: pairs with an arrow, arrows up the layers, cycles.

    .venv/bin/python bench/import_graph.py [--output bench/results/import_graph.json]

Reads the imports of the product code with grimp (the library under import-linter), every import statement
including those inside functions; tests and migrations are left out. The layer order is the one the
`[tool.importlinter]` contracts in pyproject.toml enforce, bottom first; the shared Django kit in
`intellilog/` (admin, charts, Redis client, tracing, API bounds, append-only models, request ids) counts as
the layer just above `core`, the rest of `intellilog/` as the composition root at the top.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import grimp

# The repository's packages, not an installed copy elsewhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Bottom first; "kit" is the part of intellilog/ that every app may use.
APPS = ["tenants", "deliveries", "features", "registry", "predictions", "monitoring", "routing"]
LAYERS = ["core", "kit", *APPS, "root"]
PACKAGES = ["core", *APPS, "intellilog"]
KIT = {"admin", "charts", "redis_client", "tracing", "api_bounds", "append_only", "request_id", "log_context", "env"}


def _is_product(module: str) -> bool:
    return not any(part in ("tests", "migrations") or part.startswith("test_") for part in module.split("."))


def _layer(module: str) -> str:
    top, _, rest = module.partition(".")
    if top == "intellilog":
        return "kit" if rest.split(".")[0] in KIT else "root"
    return top


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="bench/results/import_graph.json")
    args = parser.parse_args()
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        if _is_product(module):
            edges[module] = {m for m in graph.find_modules_directly_imported_by(module) if _is_product(m)}
    arrows: dict[tuple[str, str], list[str]] = {}
    for module, imported in edges.items():
        for target in imported:
            pair = (_layer(module), _layer(target))
            if pair[0] != pair[1]:
                arrows.setdefault(pair, []).append(f"{module} -> {target}")
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = {f"{a} -> {b}": sorted(arrows[a, b]) for a, b in sorted(arrows) if rank[a] < rank[b]}
    cycles = _cycles(edges)
    result = {
        "pairs_with_an_arrow": len({frozenset(pair) for pair in arrows}),
        "pairs_possible": len(LAYERS) * (len(LAYERS) - 1) // 2,
        "arrows": len(arrows),
        "arrows_up": len(upward),
        "module_cycles": len(cycles),
        "upward": upward,
        "cycles": cycles,
    }
    print(f"layers (bottom first): {' < '.join(LAYERS)}")
    print(f"pairs with an arrow: {result['pairs_with_an_arrow']} of {result['pairs_possible']}")
    print(f"arrows between layers: {result['arrows']}, upward: {result['arrows_up']}")
    for name, imports in upward.items():
        print(f"  UP {name}: {len(imports)} import(s), e.g. {imports[0]}")
    print(f"module cycles: {len(cycles)}")
    for cycle in cycles:
        print(f"  {len(cycle)} modules: {', '.join(cycle[:6])}{' ...' if len(cycle) > 6 else ''}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
