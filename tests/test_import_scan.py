"""One simulation layer: only ``qsp_sbml/simulate`` touches RoadRunner, and no package reaches into another's
private names (issue 18).  The rules, read from the source with ``ast``:

* ``roadrunner`` is imported only under ``qsp_sbml/simulate/``;
* the attribute ``rr`` (a :class:`~qsp_sbml.simulate.simulator.Simulator`'s RoadRunner instance) is read only
  there, and by ``Model.roadrunner``, the documented hand-out for interactive use;
* a module does not import a private module or a private name of another package (the top-level private
  modules ``qsp_sbml._io``, ``_optional``, ... are the root package's shared internals, open to all);
* no module reads a private attribute of another object (``model._state``); ``self``/``cls`` are fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "qsp_sbml"
FILES = sorted(p for p in PACKAGE.rglob("*.py") if "resources" not in p.relative_to(PACKAGE).parts)
#: (file, function) pairs allowed to read ``.rr`` outside simulate/.
RR_HANDOUT = {("model.py", "roadrunner")}


def _package(module: str) -> str:
    """``qsp_sbml.petab._runner`` -> ``qsp_sbml.petab``; a top-level module belongs to ``qsp_sbml``."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else "qsp_sbml"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_target(target: str, name: str) -> bool:
    """Whether ``from target import name`` reaches a private module inside a sub-package, or a private name."""
    parts = target.split(".")[1:]
    inner = parts[1:] if parts and (PACKAGE / parts[0]).is_dir() else []
    return any(_private(p) for p in inner) or _private(name)


def _violations(rel: str, source: str) -> list[str]:
    """Rule violations of the module at ``rel`` (path relative to the package) with text ``source``."""
    parts = rel.removesuffix(".py").split("/")
    module = ".".join(["qsp_sbml", *(parts[:-1] if parts[-1] == "__init__" else parts)])
    in_simulate = rel.startswith("simulate/")
    tree = ast.parse(source)
    function_of: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                function_of.setdefault(id(inner), node.name)
    out: list[str] = []
    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            out += [f"{where}: imports roadrunner" for a in node.names
                    if a.name.split(".")[0] == "roadrunner" and not in_simulate]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "roadrunner" and not in_simulate:
                out.append(f"{where}: imports from roadrunner")
            if node.module.split(".")[0] == "qsp_sbml" and _package(node.module) != _package(module):
                out += [f"{where}: imports private {node.module}.{a.name}" for a in node.names
                        if _private_target(node.module, a.name)]
        elif isinstance(node, ast.Attribute):
            if node.attr == "rr" and not in_simulate and (rel, function_of.get(id(node))) not in RR_HANDOUT:
                out.append(f"{where}: reads a RoadRunner instance (.rr) outside qsp_sbml/simulate")
            if _private(node.attr) and isinstance(node.value, ast.Name) and node.value.id not in ("self", "cls"):
                out.append(f"{where}: reads private attribute {node.value.id}.{node.attr}")
    return out


def test_the_scan_finds_what_it_forbids():
    probe = ("import roadrunner\nfrom qsp_sbml.simulate.initial import evaluate\n"
             "from qsp_sbml.petab._runner import ExperimentRunner\nfrom qsp_sbml.model import _x\n"
             "from qsp_sbml._io import atomic_write_text\nfrom qsp_sbml.population.cohort import Cohort\n"
             "def f(model):\n    return model._state, model.simulator().rr, model.sbml\n")
    found = sorted(v.split(": ", 1)[1] for v in _violations("population/probe.py", probe))
    assert found == sorted([
        "imports roadrunner",
        "imports private qsp_sbml.petab._runner.ExperimentRunner",
        "imports private qsp_sbml.model._x",
        "reads private attribute model._state",
        "reads a RoadRunner instance (.rr) outside qsp_sbml/simulate",
    ])
    assert _violations("simulate/probe.py", "import roadrunner\ndef f(s):\n    return s.rr\n") == []


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(PACKAGE).as_posix() for p in FILES])
def test_module_keeps_to_the_simulation_layer_and_public_names(path):
    rel = path.relative_to(PACKAGE).as_posix()
    assert _violations(rel, path.read_text(encoding="utf-8")) == []
