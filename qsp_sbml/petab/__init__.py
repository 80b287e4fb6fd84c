"""Our PEtab (v1 and v2) objective on RoadRunner: simulate, log-likelihood, chi2, residuals.

``petab`` and ``sympy`` are imported only when a problem is read.
"""

from qsp_sbml.petab.llh import NoiseDistribution, Transformation, chi2, log_likelihood, residuals
from qsp_sbml.petab.objective import EvaluationResult, PetabObjective
from qsp_sbml.petab.options import ObjectiveOptions, SteadyStateOptions
from qsp_sbml.petab.problem import PetabProblem

__all__ = [
    "EvaluationResult",
    "NoiseDistribution",
    "ObjectiveOptions",
    "PetabObjective",
    "PetabProblem",
    "SteadyStateOptions",
    "Transformation",
    "chi2",
    "log_likelihood",
    "residuals",
]
