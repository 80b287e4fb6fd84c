"""Virtual populations: covariates, variability, posterior draws, plausible-patient selection, cohorts."""

from __future__ import annotations

from qsp_sbml.population.cohort import Cohort
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
from qsp_sbml.population.simulation import CohortResult, check_cohort_parameters, simulate_cohort
from qsp_sbml.population.variability import (
    PowerCovariate,
    apply_covariates,
    iiv_covariance,
    lognormal_iiv,
    read_draws,
    sample_draws,
)
from qsp_sbml.population.vpop import Selection, TargetDistribution, kde_logpdf, plausible_mask, select_vpop

__all__ = [
    "COVARIATE_RANGES",
    "Cohort",
    "CohortResult",
    "PowerCovariate",
    "Selection",
    "TargetDistribution",
    "apply_covariates",
    "check_cohort_parameters",
    "iiv_covariance",
    "kde_logpdf",
    "lognormal_iiv",
    "plausible_mask",
    "read_draws",
    "sample_draws",
    "select_vpop",
    "simulate_cohort",
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
