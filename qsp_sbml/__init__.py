"""qsp-sbml: quantitative systems pharmacology and PBPK on SBML, RoadRunner and PEtab."""

from __future__ import annotations

import logging

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

__version__ = "0.1.0"

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
