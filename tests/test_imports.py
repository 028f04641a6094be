"""Issue 10: the layers of renderer/ as its imports show them, read with `ast` (nothing is imported).

- no import cycle among renderer's modules, counting every import statement: at the top, inside a
  function, and under `if TYPE_CHECKING:` (a type-only import is still a dependency of the design);
- `renderer.cli` is imported only from inside renderer/cli (the CLI is the top; nothing depends on it);
- `renderer.operations` is imported only by the CLI, `renderer ci` and itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "renderer"


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module and package of renderer/."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(module: str) -> set[str]:
    """The renderer modules `module` imports. `from a.b import c` counts as `a.b.c` when that is a module,
    else as `a.b`; a relative import is resolved against `module`'s package."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that ends where it starts) per back edge of a depth-first search."""
    state: dict[str, str] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


def test_the_walk_sees_the_imports() -> None:
    assert "renderer.operations.scope" in GRAPH["renderer.operations.plan"]
    assert "renderer.lockfile" in GRAPH["renderer.operations.scope"]  # `from renderer import lockfile as ...`
    assert "renderer.plan.saved" in GRAPH["renderer.cli.apply"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycle() -> None:
    cycles = _cycles(GRAPH)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_only_the_cli_imports_the_cli() -> None:
    outside = sorted(f"{module} imports {target}" for module, targets in GRAPH.items()
                     if not (module == "renderer.cli" or module.startswith("renderer.cli."))
                     for target in targets if target == "renderer.cli" or target.startswith("renderer.cli."))
    assert outside == []


def test_only_the_cli_and_ci_use_the_operations_layer() -> None:
    allowed = ("renderer.cli", "renderer.ci", "renderer.operations")
    below = sorted(f"{module} imports {target}" for module, targets in GRAPH.items()
                   if not any(module == a or module.startswith(f"{a}.") for a in allowed)
                   for target in targets if target.startswith("renderer.operations"))
    assert below == []
