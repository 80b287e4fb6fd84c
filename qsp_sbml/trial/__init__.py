"""Virtual-trial statistics on per-subject outcome tables: analyses, power, adaptive designs, BE, PROCOVA."""

from __future__ import annotations

from qsp_sbml.trial.adaptive import (
    GroupSequentialDesign,
    OperatingCharacteristics,
    crossing_probabilities,
    group_sequential_design,
    simulate_group_sequential,
    spending,
)
from qsp_sbml.trial.analysis import AnalysisResult, ancova, logrank_test, responder_test, t_test
from qsp_sbml.trial.bioequivalence import (
    DESIGNS,
    CrossoverDesign,
    MetricSpec,
    SampleSizeBE,
    simulate_crossover,
    simulated_tost_power,
    tost,
    tost_power,
    tost_sample_size,
)
from qsp_sbml.trial.dose import DoseSelection, EmaxFit, fit_emax, select_dose, trend_test
from qsp_sbml.trial.kinds import TrialKind, TrialResult
from qsp_sbml.trial.power import PowerResult, SampleSizeResult, assurance, sample_size_search, simulated_power
from qsp_sbml.trial.rar import RarOperatingCharacteristics, prob_better, rar_allocation, simulate_rar
from qsp_sbml.trial.runner import run_trial
from qsp_sbml.trial.twin import (
    ProcovaResult,
    RegimenRank,
    ResidualError,
    TwinPosterior,
    TwinPrior,
    fit_twin,
    procova,
    procova_sample_size,
    rank_regimens,
)

__all__ = [
    "DESIGNS",
    "AnalysisResult",
    "CrossoverDesign",
    "DoseSelection",
    "EmaxFit",
    "GroupSequentialDesign",
    "MetricSpec",
    "OperatingCharacteristics",
    "PowerResult",
    "ProcovaResult",
    "RarOperatingCharacteristics",
    "RegimenRank",
    "ResidualError",
    "SampleSizeBE",
    "SampleSizeResult",
    "TrialKind",
    "TrialResult",
    "TwinPosterior",
    "TwinPrior",
    "ancova",
    "assurance",
    "crossing_probabilities",
    "fit_emax",
    "fit_twin",
    "group_sequential_design",
    "logrank_test",
    "prob_better",
    "procova",
    "procova_sample_size",
    "rank_regimens",
    "run_trial",
    "rar_allocation",
    "responder_test",
    "sample_size_search",
    "select_dose",
    "simulate_crossover",
    "simulate_group_sequential",
    "simulate_rar",
    "simulated_power",
    "simulated_tost_power",
    "spending",
    "t_test",
    "tost",
    "tost_power",
    "tost_sample_size",
    "trend_test",
]
