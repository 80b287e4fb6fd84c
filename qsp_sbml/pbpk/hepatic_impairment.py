"""Hepatic-impairment presets checked on clinical studies: cirrhotic groups against their own healthy controls.

A hepatic-impairment table (``models/pbpk/validation/hepatic_impairment_studies.tsv``) holds, per study and
quantity, the mean of the cirrhotic group and of its healthy controls: systemic clearance after an IV dose
(``CL``), oral bioavailability (``F``) or the fraction unbound in plasma (``fu``).  :func:`predict_hepatic`
computes the same quantity for one typical adult (:data:`TYPICAL`) healthy and in each Child-Pugh class the row
names, through :func:`qsp_sbml.population.presets.subject_parameters` (enzyme, flow, portal-shunt, binding, GFR
and hematocrit factors of the OSP hepatic-impairment qualification), and compares the ratio impaired / healthy,
predicted against observed: within :data:`HEPATIC_FOLD`-fold.  CL is dose / AUC(0-inf) of a 1 mg IV bolus, F the
dose-normalised oral over IV AUC.  Nothing in the drug records or the presets is set from these tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qsp_sbml.errors import QspError
from qsp_sbml.metrics import below_solver_noise, nca
from qsp_sbml.model import Model
from qsp_sbml.pbpk._table import check_cells, numbered_rows, table_number
from qsp_sbml.pbpk.drugs import DrugRecord

__all__ = ["HEPATIC_FOLD", "TYPICAL", "HepaticStudy", "HepaticStudyError", "hepatic_quantities",
           "load_hepatic_studies", "predict_hepatic"]

#: Acceptance: predicted impaired / healthy ratio within this fold of the observed ratio.
HEPATIC_FOLD = 2.0
#: The subject simulated (healthy, and with each Child-Pugh class).
TYPICAL: dict[str, object] = {"age": 50.0, "sex": "male", "weight_kg": 73.0, "height_cm": 176.0, "egfr": 95.0,
                              "kdigo_target": None}
QUANTITIES = ("CL", "F", "fu")
CLASSES = ("A", "B", "C")
_COLUMNS = ("drug", "study", "reference", "quantity", "child_pugh", "impaired", "healthy", "unit", "n_impaired",
            "n_healthy", "basis")
_TIMES = np.unique(np.concatenate([[0.0], np.geomspace(1e-3, 120.0, 600)]))


class HepaticStudyError(QspError, ValueError):
    """A malformed hepatic-impairment table (names the file, the line and the column)."""


@dataclass(frozen=True)
class HepaticStudy:
    """One reported quantity of one study: cirrhotic and healthy means and the Child-Pugh classes simulated."""

    drug: str
    study: str
    reference: str
    quantity: str
    classes: tuple[str, ...]
    impaired: float
    healthy: float
    unit: str
    line: int

    @property
    def observed_ratio(self) -> float:
        """Impaired / healthy, as reported."""
        return self.impaired / self.healthy


def load_hepatic_studies(path: str | Path, drugs: Mapping[str, DrugRecord] | None = None) -> list[HepaticStudy]:
    """Read and check the table; every error names the file, the line and the column."""
    path = Path(path)
    out = []
    for n, row in numbered_rows(path, _COLUMNS, what="studies", error=HepaticStudyError):
        where = f"{path}:{n}"
        check_cells(row, where, error=HepaticStudyError, choices={"quantity": QUANTITIES}, drugs=drugs,
                    non_empty=("study", "reference", "unit"))
        classes = tuple(c.strip() for c in row["child_pugh"].split(","))
        if not row["child_pugh"] or any(c not in CLASSES for c in classes) or len(set(classes)) != len(classes):
            raise HepaticStudyError(f"{where}, column child_pugh: {row['child_pugh']!r} must list distinct "
                                    f"Child-Pugh classes among {', '.join(CLASSES)}, comma-separated")
        out.append(HepaticStudy(drug=row["drug"], study=row["study"], reference=row["reference"],
                                quantity=row["quantity"], classes=classes,
                                impaired=table_number(row, "impaired", where, error=HepaticStudyError),
                                healthy=table_number(row, "healthy", where, error=HepaticStudyError),
                                unit=row["unit"], line=n))
    return out


def _auc(model: Model, values: Mapping[str, float], regimen: str) -> float:
    c = model.simulate(_TIMES, selections=["C_plasma"], parameters=dict(values), regimen=regimen)
    # the solver leaves values of either sign at its absolute tolerance in the tail: treat them as below a limit
    return float(nca(_TIMES, below_solver_noise(c["C_plasma"].to_numpy())).auc_inf)


def hepatic_quantities(model: Model, drug: DrugRecord, child_pugh: str | None) -> dict[str, float]:
    """CL (L/h per mg-normalised dose), F and fu of :data:`TYPICAL`, healthy (None) or in a Child-Pugh class."""
    from qsp_sbml.population.presets import subject_parameters

    values = subject_parameters(drug, {**TYPICAL, "child_pugh": child_pugh}).values
    auc_iv = _auc(model, values, "1 mg iv to drug_venous_blood")
    auc_po = _auc(model, values, "1 mg oral to drug_gi_lumen")
    return {"CL": 1.0 / auc_iv, "F": auc_po / auc_iv, "fu": values["fu"]}


def predict_hepatic(studies: Sequence[HepaticStudy], drugs: Mapping[str, DrugRecord], model: Model
                    ) -> pd.DataFrame:
    """One row per study quantity and Child-Pugh class: observed and predicted ratio and the 2-fold verdict."""
    cache: dict[tuple[str, str | None], dict[str, float]] = {}

    def quantities(drug: str, cp: str | None) -> dict[str, float]:
        if (drug, cp) not in cache:
            cache[(drug, cp)] = hepatic_quantities(model, drugs[drug], cp)
        return cache[(drug, cp)]

    rows = []
    for s in studies:
        for cp in s.classes:
            predicted = quantities(s.drug, cp)[s.quantity] / quantities(s.drug, None)[s.quantity]
            fold = predicted / s.observed_ratio
            rows.append({"drug": s.drug, "study": s.study, "quantity": s.quantity, "child_pugh": cp,
                         "observed_ratio": s.observed_ratio, "predicted_ratio": predicted, "fold": fold,
                         "within_2fold": bool(1 / HEPATIC_FOLD <= fold <= HEPATIC_FOLD), "reference": s.reference,
                         "line": s.line})
    return pd.DataFrame(rows)
