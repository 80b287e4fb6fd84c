"""Paediatric predictions of the whole-body PBPK module: ontogeny, child physiology, a check on clinical studies.

:func:`paediatric_parameters` parameterises a drug record for a child:

1. physiology of the ICRP 89 reference child of that age (:func:`qsp_sbml.paediatric.paediatric_physiology`),
   with an individual weight when given;
2. the record's adult clearance turned into hepatic intrinsic clearance per enzyme through its ``fm`` split
   and scaled by liver volume (as for any subject, :func:`~qsp_sbml.pbpk.parameters.parameterise`), then each
   enzyme's intrinsic clearance multiplied by its ontogeny factor at that age
   (:func:`qsp_sbml.ontogeny.ontogeny_factors`: CYPs by postnatal age, UGTs by postmenstrual age, so the
   gestational age at birth matters for a glucuronidated share; ``other`` unchanged); a record that gives
   ``clint`` per enzyme directly is scaled by the child's liver volume over its reference adult's first;
3. renal clearance (``fe * cl_iv``, or a record's explicit ``cl_renal`` with either record form) scaled by the
   child's GFR over its reference adult's (size and Rhodin 2009 maturation); a ``clint`` record without
   ``cl_renal`` filters ``fu * GFR`` of the child.

The reference adult of a child (:attr:`~qsp_sbml.physiology.Physiology.reference`, see
:mod:`qsp_sbml.paediatric`) is the ICRP adult male at every ICRP child age, blended linearly in age into the
adult of the child's own sex at 20 years, so that the scaled clearances do not step with age.

4. the fraction unbound ``fu`` with the record's binding protein (albumin or alpha1-acid glycoprotein) at the
   child's plasma concentration (:func:`paediatric_fu`: PK-Sim Ontogeny Database 7.3 section 4.6, through the
   OSP binding model of the hepatic-impairment presets), so that hepatic extraction and filtration follow it.

The enzyme activity multipliers ``m_<enzyme>`` stay 1 (free for interactions).  Not scaled: gut-wall
extraction ``Fg``, absorption, the tissue partition coefficients (computed with the adult ``fu``) and the
blood:plasma ratio, which keep their adult values (an assumption, stated in the model card).

:func:`predict_paediatric` simulates each study of a paediatric studies table
(``models/pbpk/validation/paediatric_studies.tsv``) and compares AUC(0-inf) and clearance with the reported
values; nothing paediatric informs any parameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qsp_sbml.dosing import Dose, Regimen, as_route
from qsp_sbml.errors import QspError
from qsp_sbml.metrics import below_solver_noise, nca
from qsp_sbml.model import Model
from qsp_sbml.ontogeny import ontogeny_factors, protein_ontogeny
from qsp_sbml.paediatric import paediatric_physiology, paediatric_reference
from qsp_sbml.pbpk._table import check_cells, numbered_rows, table_number
from qsp_sbml.pbpk.drugs import DrugRecord
from qsp_sbml.pbpk.parameters import Parameterisation, fu_with_binding_protein, parameterise, total_clearance
from qsp_sbml.pbpk.structure import DOSE_TARGETS, ENZYMES
from qsp_sbml.physiology import Physiology, PhysiologyError, data_table

__all__ = ["PAEDIATRIC_FOLD", "PaediatricStudy", "PaediatricStudyError", "load_paediatric_studies",
           "paediatric_fu", "paediatric_parameters", "predict_paediatric", "with_ontogeny"]

#: Acceptance: predicted AUC and clearance within this fold of the observed (issue 20).
PAEDIATRIC_FOLD = 2.0
_COLUMNS = ("drug", "study", "reference", "route", "dose_mg_per_kg", "age_y", "age_basis", "sex", "weight_kg", "n",
            "cl_kind", "cl_obs_ml_min_kg", "auc_obs_ng_h_ml", "auc_basis", "group")
_HORIZON_H = 72.0


class PaediatricStudyError(QspError, ValueError):
    """A malformed paediatric studies table (names the file, the line and the column)."""


@dataclass(frozen=True)
class PaediatricStudy:
    """One study arm: design, the age simulated and the reported clearance and AUC."""

    drug: str
    study: str
    reference: str
    route: str
    dose_mg_per_kg: float
    age_y: float
    sex: str
    weight_kg: float | None
    n: str
    #: ``CL`` (IV) or ``CL/F`` (oral).
    cl_kind: str
    cl_obs_ml_min_kg: float
    auc_obs_ng_h_ml: float
    group: str
    line: int


def paediatric_parameters(drug: DrugRecord, *, age_years: float, sex: str, weight_kg: float | None = None,
                          gestational_age_weeks: float = 40.0) -> Parameterisation:
    """PBPK parameter values of ``drug`` in a child (see the module docstring for what is scaled).

    >>> from qsp_sbml.pbpk.drugs import load_drug
    >>> from qsp_sbml.resources import project_models_dir
    >>> mdz = load_drug(project_models_dir() / "pbpk" / "drugs" / "midazolam.yaml")
    >>> p = paediatric_parameters(mdz, age_years=5.0, sex="male")
    >>> round(p.cl_total / 19.0 * 1000 / 60, 2)  # mL/min/kg
    6.82
    """
    phys = paediatric_physiology(age_years=age_years, sex=sex, weight_kg=weight_kg,
                                 gestational_age_weeks=gestational_age_weeks)
    return with_ontogeny(parameterise(drug, phys), drug, phys, age_years, gestational_age_weeks=gestational_age_weeks)


def with_ontogeny(p: Parameterisation, drug: DrugRecord, physiology: Physiology, age_years: float, *,
                  gestational_age_weeks: float = 40.0) -> Parameterisation:
    """``p`` (parameterised in a child's ``physiology``) with each enzyme's intrinsic clearance x its ontogeny.

    ``gestational_age_weeks`` (at birth) enters the UGT functions, whose age is postmenstrual.
    """
    factors = ontogeny_factors(age_years, ENZYMES, gestational_age_weeks)
    ref = physiology.reference
    liver = physiology.volumes["liver"] / ref.volumes["liver"] if drug.clearance.clint is not None else 1.0
    values = dict(p.values)
    for e in ENZYMES:
        values[f"CLint_{e}"] = values[f"CLint_{e}"] * liver * factors[e]
    values["fu"] = paediatric_fu(drug, age_years, gestational_age_weeks)
    cl_h, cl_r = total_clearance(values)
    return Parameterisation(values, cl_h, cl_r)


def paediatric_fu(drug: DrugRecord, age_years: float, gestational_age_weeks: float = 40.0) -> float:
    """The record's ``fu`` with its binding protein at the child's concentration (PK-Sim's protein ontogeny).

    :func:`qsp_sbml.ontogeny.protein_ontogeny` of the record's ``binding_protein``, through the OSP binding model
    with that protein's plasma volume fraction (``impairment.yaml``, as for hepatic impairment).

    >>> from qsp_sbml.pbpk.drugs import load_drug
    >>> from qsp_sbml.resources import project_models_dir
    >>> alf = load_drug(project_models_dir() / "pbpk" / "drugs" / "alfentanil.yaml")  # AAG-bound, fu 0.1
    >>> round(paediatric_fu(alf, 0.0), 3), round(paediatric_fu(alf, 10.0), 3)
    (0.304, 0.1)
    """
    factor = protein_ontogeny(drug.binding_protein, age_years, gestational_age_weeks)
    fraction = float(data_table("impairment.yaml")["child_pugh"][f"{drug.binding_protein}_volume_fraction"])
    return fu_with_binding_protein(drug.fu, factor, fraction)


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    return numbered_rows(path, _COLUMNS, what="studies", error=PaediatricStudyError)


def _study(row: dict[str, str], n: int, where: str, drugs: Mapping[str, DrugRecord] | None) -> PaediatricStudy:
    def num(col: str, default: float | None = None) -> float:
        return table_number(row, col, where, default, error=PaediatricStudyError)

    choices = {"sex": ("male", "female"), "cl_kind": ("CL", "CL/F"), "group": ("building", "verification")}
    check_cells(row, where, error=PaediatricStudyError, choices=choices, drugs=drugs)
    try:
        route = as_route(row["route"]).value
    except ValueError as err:
        raise PaediatricStudyError(f"{where}, column route: {err}") from None
    if route not in ("iv_bolus", "oral"):
        raise PaediatricStudyError(f"{where}, column route: {row['route']!r}: only iv_bolus and oral")
    age = table_number(row, "age_y", where, positive=False, error=PaediatricStudyError)
    if age > 18:
        raise PaediatricStudyError(f"{where}, column age_y: {age} is not a paediatric age (0-18 years)")
    check_cells(row, where, error=PaediatricStudyError, non_empty=("study", "reference"))
    if (route == "oral") != (row["cl_kind"] == "CL/F"):
        raise PaediatricStudyError(f"{where}, column cl_kind: {row['cl_kind']!r} does not fit route {route!r} "
                                   "(CL for iv_bolus, CL/F for oral)")
    weight = num("weight_kg") if row["weight_kg"] else None
    try:
        paediatric_physiology(age_years=age, sex=row["sex"], weight_kg=weight)
    except PhysiologyError as err:
        raise PaediatricStudyError(f"{where}, column weight_kg: {err}") from None
    return PaediatricStudy(
        drug=row["drug"], study=row["study"], reference=row["reference"], route=route,
        dose_mg_per_kg=num("dose_mg_per_kg"), age_y=age, sex=row["sex"],
        weight_kg=weight, n=row["n"], cl_kind=row["cl_kind"],
        cl_obs_ml_min_kg=num("cl_obs_ml_min_kg"), auc_obs_ng_h_ml=num("auc_obs_ng_h_ml"), group=row["group"],
        line=n)


def load_paediatric_studies(path: str | Path, drugs: Mapping[str, DrugRecord] | None = None
                            ) -> list[PaediatricStudy]:
    """Read and check the table; every error names the file, the line and the column."""
    path = Path(path)
    return [_study(row, n, f"{path}:{n}", drugs) for n, row in _rows(path)]


def _predict(study: PaediatricStudy, drug: DrugRecord, model: Model) -> dict[str, float]:
    p = paediatric_parameters(drug, age_years=study.age_y, sex=study.sex, weight_kg=study.weight_kg)
    weight = study.weight_kg or _reference_weight(study)
    dose = study.dose_mg_per_kg * weight
    route = as_route(study.route)
    regimen = Regimen.of(Dose(amount=dose, unit="mg", route=route, target=DOSE_TARGETS[route], time_unit="h"))
    grid = np.unique(np.concatenate([np.geomspace(1e-3, _HORIZON_H, 600), [0.0]]))
    frame = model.simulate(grid, selections=["C_plasma"], parameters=p.values, regimen=regimen)
    r = nca(frame["time"].to_numpy(), below_solver_noise(frame["C_plasma"].to_numpy()))
    # no terminal phase within the horizon (e.g. a newborn without CYP3A4): AUC and CL unknown, not AUC(0-72 h)
    auc = r.auc_inf if math.isfinite(r.auc_inf) else math.nan  # mg h / L
    return {"weight_kg": weight, "dose_mg": dose, "auc_pred_ng_h_ml": auc * 1000,
            "cl_pred_ml_min_kg": dose / auc / weight * 1000 / 60,
            "auc_extrapolated_pct": 100 * (auc - r.auc_last) / auc}


def _reference_weight(study: PaediatricStudy) -> float:
    return paediatric_reference(float(study.age_y), study.sex).body_weight


def predict_paediatric(studies: Sequence[PaediatricStudy], drugs: Mapping[str, DrugRecord], model: Model
                       ) -> pd.DataFrame:
    """Predict every study; one row each with observed, predicted, their ratios and the 2-fold verdicts."""
    rows = []
    for s in studies:
        pred = _predict(s, drugs[s.drug], model)
        auc_ratio = pred["auc_pred_ng_h_ml"] / s.auc_obs_ng_h_ml
        cl_ratio = pred["cl_pred_ml_min_kg"] / s.cl_obs_ml_min_kg
        rows.append({"drug": s.drug, "group": s.group, "study": s.study, "route": s.route, "age_y": s.age_y,
                     "sex": s.sex, "n": s.n, "dose_mg_per_kg": s.dose_mg_per_kg, **pred,
                     "auc_obs_ng_h_ml": s.auc_obs_ng_h_ml,
                     "auc_ratio": auc_ratio, "cl_kind": s.cl_kind, "cl_obs_ml_min_kg": s.cl_obs_ml_min_kg,
                     "cl_ratio": cl_ratio,
                     "within_2fold": bool(max(auc_ratio, 1 / auc_ratio, cl_ratio, 1 / cl_ratio) <= PAEDIATRIC_FOLD),
                     "reference": s.reference, "line": s.line})
    return pd.DataFrame(rows)
