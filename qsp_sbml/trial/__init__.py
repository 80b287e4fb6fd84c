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
from qsp_sbml.trial.dose import DoseSelection, EmaxFit, fit_emax, select_dose, trend_test
from qsp_sbml.trial.power import PowerResult, SampleSizeResult, assurance, sample_size_search, simulated_power

__all__ = [
    "AnalysisResult",
    "DoseSelection",
    "EmaxFit",
    "GroupSequentialDesign",
    "OperatingCharacteristics",
    "PowerResult",
    "SampleSizeResult",
    "ancova",
    "assurance",
    "crossing_probabilities",
    "fit_emax",
    "group_sequential_design",
    "logrank_test",
    "responder_test",
    "sample_size_search",
    "select_dose",
    "simulate_group_sequential",
    "simulated_power",
    "spending",
    "t_test",
    "trend_test",
]
