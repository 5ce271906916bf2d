"""The shape of the code, read from its imports: no import circle (a module can be understood
after the ones it imports, never together with them), the layers of the architecture (core and
format never reach up into sinks, runtime or the front door), and a package root that holds only
a few modules (the Lakebench and KubeRay adapters, verify, control and the layers are packages).
"""

from __future__ import annotations

import pytest

import ast
from pathlib import Path

from .helpers import ROOT

pytestmark = pytest.mark.unit  # no Ray, servers or processes (guarded in conftest)

PACKAGE = ROOT / "lakebench_ray"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every lakebench_ray module this file imports, at any depth (a function-level import is a
    dependency too), except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), str(path))
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("lakebench_ray"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target.startswith("lakebench_ray"):
                    found.add(target)
                    found.update(f"{target}.{a.name}" for a in child.names)
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        # "from .x import y" names module x (and y when y is a module); a package's own
        # __init__ is not a dependency of its submodules (Python runs it first, importing nothing back).
        deps = {d for d in _imports(path) if d in files and d != name and not name.startswith(d + ".")}
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_circle():
    assert _cycles(_graph()) == []


def test_lower_layers_never_import_upper_ones():
    graph = _graph()
    allowed = {
        "lakebench_ray.core": ("lakebench_ray.core", "lakebench_ray.errors", "lakebench_ray.version"),
        "lakebench_ray.format": ("lakebench_ray.core", "lakebench_ray.format", "lakebench_ray.errors", "lakebench_ray.version"),
    }
    for layer, ok in allowed.items():
        for name, deps in graph.items():
            if name == layer or name.startswith(layer + "."):
                bad = sorted(d for d in deps if not d.startswith(ok))
                assert not bad, f"{name} imports {bad}"


def test_package_root_holds_few_modules():
    root = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in {"__init__", "__main__", "version"})
    assert len(root) <= 8, root
