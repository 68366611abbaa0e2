"""The package's shape: layers that import one way, no cycles, no private cross-imports.

Layers, lowest first: core < scenario < analysis < experiments < results < viz < interfaces;
``sim.api`` sits on top. A module imports (at module level) only from its own layer or lower
ones. The only upward imports are the documented accessors on result objects (``.save()``,
``.figures()``, pandas-style), made inside the method, listed in :data:`UPWARD_ACCESSORS`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[1] / "sim"
LAYERS = ("core", "scenario", "analysis", "experiments", "results", "viz", "interfaces")
MAX_LINES = 900
UPWARD_ACCESSORS = {"save", "figures"}
"""Methods of result objects allowed to import a higher layer inside their body."""


def module_name(path: Path) -> str:
    parts = path.relative_to(SIM.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SIM.rglob("*.py"))}


def layer(module: str) -> float:
    """Layer index of a ``sim`` module.

    The root package ``sim`` only declares the version (everyone may import it for that) and
    exports the API lazily; ``sim.api`` sits between the figures and the interfaces, which are
    thin layers over it.
    """
    parts = module.split(".")
    if module == "sim":
        return -1
    if module == "sim.api":
        return LAYERS.index("viz") + 0.5
    if len(parts) >= 2 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return len(LAYERS)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(module: str) -> list[tuple[str, list[str], str | None, int]]:
    """(imported module, names, enclosing function or None, line) for every sim import."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[tuple[str, list[str], str | None, int]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue  # never executed: types only
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name if function is None else function)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "sim":
                        found.append((alias.name, [], function, child.lineno))
            elif isinstance(child, ast.ImportFrom):
                target = _resolve(module, child)
                if target.split(".")[0] == "sim":
                    names = [a.name for a in child.names]
                    # "from sim.core import pain" imports the module sim.core.pain
                    submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
                    for sub in submodules:
                        found.append((sub, [], function, child.lineno))
                    others = [n for n in names if f"{target}.{n}" not in MODULES]
                    if others or not submodules:
                        found.append((target, others, function, child.lineno))
            else:
                visit(child, function)

    visit(tree, None)
    return found


def test_every_module_imports_only_its_own_layer_or_lower_ones():
    wrong = []
    for module in MODULES:
        for target, _, function, line in imports(module):
            upward = layer(target) > layer(module) and module != "sim"
            if upward and (function is None or function not in UPWARD_ACCESSORS):
                where = "module level" if function is None else f"in {function}()"
                wrong.append(f"{module}:{line} imports {target} ({where})")
    assert not wrong, "\n".join(wrong)


def test_there_are_no_import_cycles():
    graph = {
        m: {t for t, _, function, _ in imports(m) if function is None and t in MODULES}
        for m in MODULES
    }
    # Importing a package runs its __init__: an edge to sim.a.b is an edge to sim.a too,
    # except to the importing module's own packages (already being initialized: no cycle).
    for m, targets in graph.items():
        own = {".".join(m.split(".")[:i]) for i in range(1, len(m.split(".")) + 1)}
        for t in list(targets):
            parts = t.split(".")
            targets.update(
                ".".join(parts[:i])
                for i in range(2, len(parts))
                if ".".join(parts[:i]) in MODULES and ".".join(parts[:i]) not in own
            )
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := dfs(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_no_private_name_is_imported_from_another_module():
    wrong = [
        f"{module}:{line} imports {name} from {target}"
        for module in MODULES
        for target, names, _, line in imports(module)
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert not wrong, "\n".join(wrong)


def _raise_strings(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for sub in ast.walk(node.exc):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    out.append((node.lineno, sub.value))
    return out


def test_library_errors_do_not_mention_command_line_flags():
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    wrong = [
        f"{module}:{line}: {text!r}"
        for module, path in MODULES.items()
        if not module.startswith("sim.interfaces")
        for line, text in _raise_strings(ast.parse(path.read_text(encoding="utf-8")))
        if flag.search(text)
    ]
    assert not wrong, "\n".join(wrong)


def test_no_module_is_longer_than_the_limit():
    long = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_the_layer_folders_exist_and_hold_modules():
    for name in LAYERS:
        assert any(m.startswith(f"sim.{name}.") for m in MODULES), name
