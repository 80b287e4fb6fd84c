"""qsp-sbml: quantitative systems pharmacology and PBPK on SBML, RoadRunner and PEtab.

``import qsp_sbml as qs`` gives the core names below at once and every public subpackage as an attribute
on first use (``qs.metrics``, ``qs.trial``, ``qs.registry``, ...), so importing the package stays light.

Examples
--------
>>> import qsp_sbml as qs
>>> qs.registry.model_path("pbpk/wholebody_pbpk").name
'wholebody_pbpk.xml'
>>> callable(qs.metrics.nca)
True
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from qsp_sbml.dosing import Dose, Regimen, Route
from qsp_sbml.errors import (
    CompositionError,
    ConvergenceWarning,
    MissingDependencyError,
    NativeCrashError,
    PetabError,
    PetabWarning,
    QspError,
    RegimenError,
    SbmlError,
    SimulationError,
    SimulationWarning,
    UnitError,
    UnitWarning,
    UnsupportedFeatureError,
    ValidationError,
)
from qsp_sbml.loading import load_model, validate_sbml
from qsp_sbml.model import Model
from qsp_sbml.simulate.options import IntegratorOptions
from qsp_sbml.validate import Issue, Severity, ValidationReport

try:
    __version__ = version("qsp-sbml")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"

#: Public subpackages and modules reachable as attributes, imported on first access.
_SUBMODULES = (
    "C", "calibrate", "compose", "distributed", "dosing", "engine", "errors", "interop", "library", "loading",
    "log", "metrics", "model", "ontogeny", "paediatric", "pbpk", "petab", "pharmacogenomics", "physiology", "plot",
    "population",
    "registry", "resources", "rwe", "sbml_checks", "sensitivity", "simulate", "trial", "typed_yaml", "units",
    "validate",
)

__all__ = [
    # errors and warnings
    "CompositionError",
    "ConvergenceWarning",
    # dosing
    "Dose",
    # simulation
    "IntegratorOptions",
    # validation
    "Issue",
    "MissingDependencyError",
    # models
    "Model",
    "NativeCrashError",
    "PetabError",
    "PetabWarning",
    "QspError",
    "Regimen",
    "RegimenError",
    "Route",
    "SbmlError",
    "Severity",
    "SimulationError",
    "SimulationWarning",
    "UnitError",
    "UnitWarning",
    "UnsupportedFeatureError",
    "ValidationError",
    "ValidationReport",
    "__version__",
    "load_model",
    "validate_sbml",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
