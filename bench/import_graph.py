"""Import graph among the product's top-level packages: pairs with an arrow, arrows up the layers, cycles.

    .venv/bin/python bench/import_graph.py [--output bench/results/import_graph.json]

Reads the imports of the product code with grimp (the library under import-linter), every import statement
including those inside functions; tests and migrations are left out. The layers are those of the `layers`
contract in pyproject.toml's [tool.importlinter] (a module belongs to the layer that lists its longest
prefix; a module no layer lists counts with its top-level package), so the figures use the cut that
`make lint` enforces; `--by-package` counts top-level packages instead (core < tenants < ... < intellilog).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

import grimp

# The repository's packages, not an installed copy elsewhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
APPS = ["tenants", "deliveries", "features", "registry", "predictions", "monitoring", "routing"]
PACKAGES = ["core", *APPS, "intellilog"]


def _contract_layers() -> list[list[str]]:
    """The layers contract's layers, bottom first, each a list of module names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [[name.strip() for name in layer.replace("|", ":").split(":")] for layer in reversed(contract["layers"])]


def _is_product(module: str) -> bool:
    return not any(part in ("tests", "migrations") or part.startswith("test_") for part in module.split("."))


def _layer_of(layers: list[list[str]]) -> dict[str, int]:
    return {module: rank for rank, layer in enumerate(layers) for module in layer}


def _layer(module: str, ranks: dict[str, int]) -> int:
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        prefix = ".".join(parts[:length])
        if prefix in ranks:
            return ranks[prefix]
    raise KeyError(module)


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
    parser.add_argument("--by-package", action="store_true", help="top-level packages as the layers")
    parser.add_argument("--output", default="bench/results/import_graph.json")
    args = parser.parse_args()
    layers = [[package] for package in PACKAGES] if args.by_package else _contract_layers()
    names = [layer[0] + (f" (+{len(layer) - 1})" if len(layer) > 1 else "") for layer in layers]
    ranks = _layer_of(layers)
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        if _is_product(module):
            edges[module] = {m for m in graph.find_modules_directly_imported_by(module) if _is_product(m)}
    arrows: dict[tuple[int, int], list[str]] = {}
    unlisted: set[str] = set()
    for module, imported in edges.items():
        for target in imported:
            try:
                pair = (_layer(module, ranks), _layer(target, ranks))
            except KeyError as missing:
                unlisted.add(str(missing.args[0]))
                continue
            if pair[0] != pair[1]:
                arrows.setdefault(pair, []).append(f"{module} -> {target}")
    upward = {f"{names[a]} -> {names[b]}": sorted(arrows[a, b]) for a, b in sorted(arrows) if a < b}
    cycles = _cycles(edges)
    result = {
        "layers": names,
        "pairs_with_an_arrow": len({frozenset(pair) for pair in arrows}),
        "pairs_possible": len(layers) * (len(layers) - 1) // 2,
        "arrows": len(arrows),
        "arrows_up": len(upward),
        "module_cycles": len(cycles),
        "upward": upward,
        "cycles": cycles,
        "imports_outside_every_layer": sorted(unlisted),
    }
    print(f"layers (bottom first): {' < '.join(names)}")
    print(f"pairs with an arrow: {result['pairs_with_an_arrow']} of {result['pairs_possible']}")
    print(f"arrows between layers: {result['arrows']}, upward: {result['arrows_up']}")
    for name, imports in upward.items():
        print(f"  UP {name}: {len(imports)} import(s), e.g. {imports[0]}")
    print(f"module cycles: {len(cycles)}")
    for cycle in cycles:
        print(f"  {len(cycle)} modules: {', '.join(cycle[:6])}{' ...' if len(cycle) > 6 else ''}")
    if unlisted:
        print(f"modules in no layer (their imports not counted): {', '.join(sorted(unlisted))}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
