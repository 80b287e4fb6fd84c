"""Package layout: no import cycles inside ``qsp_sbml``, no over-long function in the core packages.

The import graph is read from the sources (``ast``), not by importing them: one node per module (a package
is its ``__init__``), one edge per ``import`` / ``from ... import`` naming another module of the package,
wherever it sits (a function-local import counts: it is a dependency all the same), except under
``if TYPE_CHECKING:``, which never runs.  ``from pkg import name`` is an edge to ``pkg.name`` when that is a
module, else to ``pkg``.  The implicit import of a module's parent packages is not an edge (otherwise every
module would sit in one cycle with ``qsp_sbml/__init__.py``, which re-exports the core names).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "qsp_sbml"
#: Packages whose functions must stay short (issue 18, "Layout").
CORE = ("simulate", "population", "petab", "trial")
MAX_FUNCTION_LINES = 80


def modules(package_dir: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (source file, whether it is a package ``__init__``)."""
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(node: ast.AST) -> list[ast.AST]:
    """Every node below ``node`` except the bodies of ``if TYPE_CHECKING:`` (their ``else`` runs)."""
    out: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        if isinstance(child, ast.If) and _is_type_checking(child):
            stack.extend(child.orelse)
            continue
        out.append(child)
        stack.extend(ast.iter_child_nodes(child))
    return out


def import_graph(package_dir: Path) -> dict[str, dict[str, int]]:
    """Module -> {imported module of the package: line of the first such import}."""
    mods = modules(package_dir)
    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_package) in mods.items():
        package = name if is_package else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in sorted(_runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))),
                           key=lambda n: getattr(n, "lineno", 0)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in mods:
                        edges.setdefault(alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in mods:
                        edges.setdefault(sub, node.lineno)
                    elif target in mods:
                        edges.setdefault(target, node.lineno)
        edges.pop(name, None)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def describe(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """``a <-> b`` plus the import lines that close the cycle."""
    edges = [f"{a}:{line} imports {b}" for a in component for b, line in sorted(graph[a].items()) if b in component]
    return " <-> ".join(component) + " (" + "; ".join(edges) + ")"


def long_functions(paths: list[Path], limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``file:line name (N lines)`` of every def longer than ``limit`` lines (``end_lineno - lineno + 1``)."""
    out = []
    root = PACKAGE_DIR.parent
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > limit:
                    rel = path.relative_to(root) if path.is_relative_to(root) else path
                    out.append(f"{rel}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_the_package_has_no_import_cycles() -> None:
    graph = import_graph(PACKAGE_DIR)
    assert "qsp_sbml.engine" in graph and graph["qsp_sbml.dosing"]  # the scan found the package
    found = [describe(graph, c) for c in cycles(graph)]
    assert not found, "import cycles inside qsp_sbml:\n" + "\n".join(found)


def test_the_cycle_scan_finds_cycles_and_skips_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n    return a\n")  # a function-local import
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n")
    (pkg / "d.py").write_text("import pkg.c\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.sub.b": 1} and graph["pkg.sub.b"] == {"pkg.a": 2}
    assert graph["pkg.c"] == {} and graph["pkg.d"] == {"pkg.c": 1}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]
    assert describe(graph, ["pkg.a", "pkg.sub.b"]) == (
        "pkg.a <-> pkg.sub.b (pkg.a:1 imports pkg.sub.b; pkg.sub.b:2 imports pkg.a)")


def test_the_length_scan_counts_whole_definitions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def short():\n    return 1\n\n\ndef long():\n" + "    x = 1\n" * 80 + "    return x\n")
    assert long_functions([source]) == [f"{source}:5 long (82 lines)"]


def test_no_core_function_is_over_80_lines() -> None:
    paths = [p for package in CORE for p in sorted((PACKAGE_DIR / package).rglob("*.py"))]
    assert paths
    offenders = long_functions(paths)
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines in the core packages:\n" + "\n".join(offenders)
