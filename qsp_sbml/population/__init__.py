"""Virtual populations: covariates (NHANES anthropometry, creatinine, eGFR) and ready-made populations."""

from __future__ import annotations

from qsp_sbml.population.covariates import (
    COVARIATE_RANGES,
    GroupModel,
    anthropometry_model,
    check_covariates,
    derive_covariates,
    read_covariates,
    sample_covariates,
)
from qsp_sbml.population.presets import (
    POPULATIONS,
    PopulationSpec,
    fu_with_albumin,
    sample_population,
    subject_parameters,
    subject_physiology,
)

__all__ = [
    "COVARIATE_RANGES",
    "POPULATIONS",
    "GroupModel",
    "PopulationSpec",
    "anthropometry_model",
    "check_covariates",
    "derive_covariates",
    "fu_with_albumin",
    "read_covariates",
    "sample_covariates",
    "sample_population",
    "subject_parameters",
    "subject_physiology",
]
