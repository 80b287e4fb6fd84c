"""Write the API reference pages ``docs/api/*.rst`` from the package's ``__all__`` lists.

Run ``python docs/_ext/api_pages.py`` after adding or removing a public name or module;
``tests/test_docs_api.py`` fails until the pages list every public name.

Every public module (no ``_`` in its dotted path) that defines ``__all__`` gets a section with its
docstring (``automodule``).  Each object is documented once, in the module that defines it when that
module is public and exports it, else in the public module that imports it from its private home (its
facade, e.g. ``qsp_sbml.dosing`` for ``qsp_sbml._dose.Dose``), else in the first public module that exports
it; the other modules that export it list it as a link.  One page per top-level subpackage or module.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "qsp_sbml"
API_DIR = Path(__file__).resolve().parents[1] / "api"
#: Longest value repr shown for a documented constant.
MAX_VALUE_REPR = 70
#: Types that public signatures use but no ``__all__`` exports (type aliases, private classes), documented
#: in the section of the module whose functions use them, so that every type in a signature has a target.
SIGNATURE_TYPES = {
    "qsp_sbml.compose.ports": ["qsp_sbml.compose.ports.DocumentLike"],
    "qsp_sbml.library": ["qsp_sbml.library._common.Value"],
    "qsp_sbml.petab.problem": ["qsp_sbml.petab._spec.ProblemSpec", "qsp_sbml.petab._spec.ParameterSpec",
                               "qsp_sbml.petab._spec.ObservableSpec", "qsp_sbml.petab._spec.ExperimentSpec",
                               "qsp_sbml.petab._spec.MeasurementSpec", "qsp_sbml.petab._spec.Period",
                               "qsp_sbml.petab._spec.Change",
                               "qsp_sbml.petab._common.ModelEntities"],
    "qsp_sbml.pharmacogenomics.clearance": ["qsp_sbml.pharmacogenomics._tables.ClearanceRecord"],
    "qsp_sbml.pharmacogenomics.sbml": ["qsp_sbml.pharmacogenomics.sbml.SbmlSource"],
    "qsp_sbml.population.spec": ["qsp_sbml.population.spec._Read"],
    "qsp_sbml.trial.design": [f"qsp_sbml.trial._design_file.{name}" for name in (
        "TrialFile", "ParallelDesignFile", "ArmFile", "CriterionFile", "StratumFile", "AnalysisFile", "EndpointFile",
        "ErrorModelFile", "ResponseVariabilityFile", "DropoutFile", "SampleSizeFile", "AdaptiveFile",
        "DoseSelectionFile")],
    "qsp_sbml.trial.n_of_1": ["qsp_sbml.trial.n_of_1.Target", "qsp_sbml.trial.n_of_1._Parameter",
                              "qsp_sbml.trial.n_of_1._Error", "qsp_sbml.trial.n_of_1._Target",
                              "qsp_sbml.trial.n_of_1._Posterior", "qsp_sbml.trial.n_of_1._Synthetic",
                              "qsp_sbml.trial.n_of_1._FhirPatient"],
    "qsp_sbml.trial.vbe": ["qsp_sbml.trial.vbe._FormulationFile", "qsp_sbml.trial.vbe._Release",
                           "qsp_sbml.trial.vbe._Formulations", "qsp_sbml.trial.vbe._Sampling",
                           "qsp_sbml.trial.vbe._WithinCv"],
    "qsp_sbml.compose.spec": ["qsp_sbml.compose.spec._Exchange"],
    "qsp_sbml.simulate.linear_pk": ["qsp_sbml.simulate.linear_pk._State", "qsp_sbml.simulate.linear_pk._Output",
                                    "qsp_sbml.simulate.linear_pk._Dose"],
    "qsp_sbml.trial.twin": ["qsp_sbml.trial.twin.Predictor"],
}


def signature_types() -> dict[str, Any]:
    """Full name -> object of every entry of :data:`SIGNATURE_TYPES`."""
    out = {}
    for names in SIGNATURE_TYPES.values():
        for full in names:
            module, _, name = full.rpartition(".")
            out[full] = getattr(importlib.import_module(module), name)
    return out


def public_modules() -> dict[str, ModuleType]:
    """Every public module of the package that defines ``__all__``, by dotted name (the package first)."""
    root = importlib.import_module(PACKAGE)
    found: dict[str, ModuleType] = {PACKAGE: root}
    for info in pkgutil.walk_packages(root.__path__, f"{PACKAGE}."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        if hasattr(module, "__all__"):
            found[info.name] = module
    return found


def _assigned_names(module: ModuleType) -> set[str]:
    """Names assigned at the top level of a module's source (where a constant is defined)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign)
                   else [node.name] if isinstance(node, ast.TypeAlias) else [])
        for t in targets:
            if isinstance(t, ast.Name):
                names.add(t.id)
    return names


def home_of(obj: Any, name: str, exporters: list[str], modules: dict[str, ModuleType]) -> str:
    """The module whose page documents ``obj`` (exported as ``name`` by ``exporters``)."""
    defining = getattr(obj, "__module__", None) if (inspect.isclass(obj) or inspect.isroutine(obj)
                                                      or type(obj).__name__ == "TypeAliasType") else None
    if defining in exporters:
        return defining
    if defining is None:  # a constant: the exporter whose source assigns it
        for mod in exporters:
            if name in _assigned_names(modules[mod]):
                return mod
    elif defining.startswith(f"{PACKAGE}."):  # defined in a private module: its public face, the module that
        facades = [m for m in exporters if (defining, name) in _imported_names(modules[m])]  # imports it from there
        if facades:
            return min(facades, key=lambda m: (m.count("."), m))
    return min(exporters, key=lambda m: (m.count("."), m))


def _imported_names(module: ModuleType) -> set[tuple[str, str]]:
    """``(module, name)`` of every top-level ``from module import name`` in a module's source."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return set()
    return {(node.module, alias.name) for node in tree.body if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names}


def _key(obj: Any, name: str) -> object:
    """Identity of an exported object: the object itself, or name and value for immutable constants."""
    if isinstance(obj, str | int | float | bytes | bool | tuple | frozenset):
        return ("constant", name, repr(obj))
    return id(obj)


def _directive(obj: Any) -> str:
    if type(obj).__name__ == "TypeAliasType":
        return "autotype"
    if inspect.isclass(obj):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    if inspect.isroutine(obj):
        return "autofunction"
    return "autodata"


def _title(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def page_of(module: str) -> str:
    """The page (file stem) that holds a module's section."""
    parts = module.split(".")
    return PACKAGE if len(parts) == 1 else parts[1]


def homes(modules: dict[str, ModuleType]) -> dict[tuple[str, str], str]:
    """(module, exported name) -> the module whose section documents the object (for a module: its name)."""
    exporters: dict[object, list[str]] = defaultdict(list)
    for mod_name, module in modules.items():
        for name in module.__all__:
            obj = getattr(module, name)
            if not inspect.ismodule(obj):
                exporters[_key(obj, name)].append(mod_name)
    out: dict[tuple[str, str], str] = {}
    for mod_name, module in modules.items():
        for name in module.__all__:
            obj = getattr(module, name)
            out[mod_name, name] = obj.__name__ if inspect.ismodule(obj) else home_of(
                obj, name, exporters[_key(obj, name)], modules)
    return out


def build() -> dict[str, str]:
    """Page file name -> reStructuredText."""
    modules = public_modules()
    homes_ = homes(modules)
    pages: dict[str, list[str]] = defaultdict(list)
    for mod_name in sorted(modules, key=lambda m: (page_of(m), m != PACKAGE and m.count(".") > 1, m)):
        module = modules[mod_name]
        lines = pages[page_of(mod_name)]
        depth_char = "=" if mod_name.count(".") <= 1 else "-"
        if lines:
            lines.append("")
        lines.append(_title(f"``{mod_name}``", depth_char))
        lines += [f".. automodule:: {mod_name}", "   :no-members:", ""]
        here, summary, submodules = [], [], []
        for name in sorted(module.__all__, key=str.lower):
            home = homes_[mod_name, name]
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                submodules.append(f"- :py:mod:`{name} <{home}>`")
                continue
            full = f"{home}.{name}"
            # autosummary wants names relative to the current module
            summary.append(f"   ~{full.removeprefix(mod_name + '.')}")
            if home == mod_name:
                here.append((name, home, obj))
        if submodules:
            lines += ["Subpackages and modules:", "", *submodules, ""]
        if summary:
            lines += [".. autosummary::", "   :nosignatures:", "", *summary, ""]
        for name, _home, obj in here:
            if type(obj).__module__.startswith("click"):
                lines += [f".. py:data:: {mod_name}.{name}", "",
                          "   The ``qsp-sbml`` command line (a click group); see :doc:`../cli`.", ""]
                continue
            directive = _directive(obj)
            lines.append(f".. {directive}:: {mod_name}.{name}")
            if directive == "autodata" and len(repr(obj)) > MAX_VALUE_REPR:
                lines.append("   :no-value:")
            lines.append("")
        if mod_name in SIGNATURE_TYPES:
            lines += ["Types used in the signatures above (not exported):", ""]
            for full in SIGNATURE_TYPES[mod_name]:
                lines += [f".. {_directive(signature_types()[full])}:: {full}", ""]
    out = {}
    for page, lines in pages.items():
        header = [".. This page is generated by docs/_ext/api_pages.py from the package's __all__ lists;",
                  "   edit the docstrings, or rerun the script after adding a public name.", ""]
        out[f"{page}.rst"] = "\n".join(header + lines).rstrip() + "\n"
    names = sorted(out)
    index = [".. This page is generated by docs/_ext/api_pages.py.", "",
             _title("API reference", "="),
             "Every public name: the names in ``qsp_sbml.__all__`` and in the ``__all__`` of every public",
             "module, one page per subpackage or module.  An object appears once, in the module that",
             "defines it; modules that re-export it link to it.  The command line is in :doc:`../cli`.", "",
             ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {Path(n).stem}" for n in [f"{PACKAGE}.rst", *[n for n in names if n != f"{PACKAGE}.rst"]]]
    out["index.rst"] = "\n".join(index) + "\n"
    return out


def main(argv: list[str]) -> int:
    """Write the pages (``--check``: only report whether they are current)."""
    pages = build()
    stale = [n for n, text in pages.items() if not (API_DIR / n).is_file()
             or (API_DIR / n).read_text(encoding="utf-8") != text]
    extra = [p.name for p in API_DIR.glob("*.rst") if p.name not in pages]
    if "--check" in argv:
        for n in stale + extra:
            print(f"stale: docs/api/{n}")  # noqa: T201
        return 1 if stale or extra else 0
    API_DIR.mkdir(exist_ok=True)
    for n in stale:
        (API_DIR / n).write_text(pages[n], encoding="utf-8")
    for n in extra:
        (API_DIR / n).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
