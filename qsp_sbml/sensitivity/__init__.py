"""Global sensitivity analysis: Morris screening and Sobol indices (SALib) on models run through the engines."""

from __future__ import annotations

from qsp_sbml.sensitivity.analysis import convergence, indices
from qsp_sbml.sensitivity.design import Design, sample
from qsp_sbml.sensitivity.run import GsaResult, check_spec, read_spec, run_gsa
from qsp_sbml.sensitivity.spec import GsaSpec, ParameterSpec, SensitivityError

__all__ = [
    "Design",
    "GsaResult",
    "GsaSpec",
    "ParameterSpec",
    "SensitivityError",
    "check_spec",
    "convergence",
    "indices",
    "read_spec",
    "run_gsa",
    "sample",
]
