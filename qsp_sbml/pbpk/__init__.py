"""Whole-body PBPK and antibody modules: partition coefficients, drug records, per-subject parameters.

The SBML modules live in ``models/pbpk/`` (regenerate with ``python -m
qsp_sbml.pbpk.build``); this package computes what goes into them.
"""

from __future__ import annotations

from qsp_sbml.pbpk.drugs import DrugRecord, DrugRecordError, load_drug, load_drugs
from qsp_sbml.pbpk.parameters import ParameterError, Parameterisation, parameterise, partition_coefficients
from qsp_sbml.pbpk.partition import CompoundType, Ionisation, kp_poulin_theil, kp_rodgers_rowland
from qsp_sbml.pbpk.structure import DOSE_TARGETS

__all__ = [
    "DOSE_TARGETS",
    "CompoundType",
    "DrugRecord",
    "DrugRecordError",
    "Ionisation",
    "ParameterError",
    "Parameterisation",
    "kp_poulin_theil",
    "kp_rodgers_rowland",
    "load_drug",
    "load_drugs",
    "parameterise",
    "partition_coefficients",
]
