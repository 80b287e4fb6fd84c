"""Renal-impairment presets checked on observed profiles: each impaired arm against its own study's healthy arm.

A renal-impairment table (``models/pbpk/validation/renal_impairment_profiles.tsv``) holds observed mean
concentration-time profiles of study arms with chronic kidney disease and of the same study's healthy
control arm, one row per observed point.  :func:`predict_renal` simulates every arm for one typical subject
with the arm's age, sex, weight, height and eGFR, mapped by the renal presets' rules
(:func:`qsp_sbml.population.presets.subject_parameters`: GFR = eGFR x BSA / 1.73, renal clearance in
proportion to GFR, hematocrit and fraction unbound by KDIGO category), and compares:

* per arm, the AUC over its observed times (linear trapezoid on the observed points and on the prediction at
  the same times, :func:`qsp_sbml.pbpk.qualification.profile_metrics`) and the concentration GMFE;
* per impaired arm, the ratio of its AUC to its control's, predicted against observed, each AUC over its own
  arm's observed times (the rule of the shipped table, decided before any simulation): the effect of the
  disease, which does not depend on how well the healthy arm itself is predicted, but also of the two arms'
  sampling windows when they differ (prediction and observation share them, so the comparison stays fair).
  Acceptance: within :data:`RENAL_FOLD`-fold.  Also reported, not judged: the same ratio over the window both
  arms cover (``*_common`` columns; observed values interpolated linearly at its edges).

Nothing in the drug records or the presets is set from these tables: they are verification data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qsp_sbml.dosing import Dose, Regimen, Route
from qsp_sbml.errors import QspError
from qsp_sbml.model import Model
from qsp_sbml.pbpk._table import check_cells, numbered_rows, table_number
from qsp_sbml.pbpk.drugs import DrugRecord
from qsp_sbml.pbpk.qualification import profile_metrics
from qsp_sbml.pbpk.structure import DOSE_TARGETS
from qsp_sbml.physiology import ADULT_RANGES, kdigo_category, reference

__all__ = ["RENAL_FOLD", "RenalArm", "RenalArmError", "RenalCurve", "compare_renal", "load_renal_arms", "predict_renal",
           "simulate_arms"]

#: Acceptance: predicted impaired / control AUC ratio within this fold of the observed ratio.
RENAL_FOLD = 2.0
#: eGFR (mL/min/1.73 m2) from which a subject is simulated without a KDIGO category (healthy kidney function).
NORMAL_EGFR = 90.0
_COLUMNS = ("drug", "study", "dataset", "reference", "role", "control", "egfr", "egfr_basis", "sex", "age_y",
            "weight_kg", "height_cm", "route", "dose_mg", "dose_times_h", "matrix", "time_h", "value", "unit")
#: Columns that describe the arm and must agree on every row of a data set.
_ARM_COLUMNS = _COLUMNS[:-3]
_UNITS = {"mg/L": 1.0, "ng/mL": 1e-3, "ug/mL": 1.0}


class RenalArmError(QspError, ValueError):
    """A malformed renal-impairment table (names the file, the line and the column)."""


@dataclass(frozen=True)
class RenalArm:
    """One study arm: design, the subject simulated and its observed mean profile (mg/L)."""

    drug: str
    study: str
    dataset: str
    reference: str
    #: ``control`` (healthy) or ``impaired``.
    role: str
    #: The control arm's data set (impaired arms only).
    control: str
    #: mL/min/1.73 m2; None: the reference adult's GFR.
    egfr: float | None
    egfr_basis: str
    sex: str
    age_y: float
    #: None: the reference adult's.
    weight_kg: float | None
    height_cm: float | None
    dose_mg: float
    dose_times_h: tuple[float, ...]
    #: ``plasma`` or ``blood`` (plasma concentration x the record's blood:plasma ratio).
    matrix: str
    times: tuple[float, ...]
    values: tuple[float, ...]
    #: First line of the arm in the table.
    line: int

    def subject(self) -> dict[str, object]:
        """The subject row of :func:`~qsp_sbml.population.presets.subject_parameters` for this arm."""
        ref = reference(self.sex)  # its height is in m
        kdigo = kdigo_category(self.egfr) if self.egfr is not None and self.egfr < NORMAL_EGFR else None
        return {"age": self.age_y, "sex": self.sex, "weight_kg": self.weight_kg or ref.body_weight,
                "height_cm": self.height_cm or 100 * ref.height, "egfr": math.nan if self.egfr is None else self.egfr,
                "kdigo_target": kdigo, "child_pugh": None}


def load_renal_arms(path: str | Path, drugs: Mapping[str, DrugRecord] | None = None) -> list[RenalArm]:
    """Read and check the table; every error names the file, the line and the column."""
    path = Path(path)
    grouped: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for n, row in numbered_rows(path, _COLUMNS, what="observed points", error=RenalArmError):
        grouped.setdefault(row["dataset"], []).append((n, row))
    arms = {name: _arm(path, rows, drugs) for name, rows in grouped.items()}
    for arm in arms.values():
        where = f"{path}:{arm.line}, column control"
        if arm.role == "impaired":
            control = arms.get(arm.control)
            if control is None or control.role != "control":
                raise RenalArmError(f"{where}: {arm.control!r} is not a control arm of the table; controls: "
                                    f"{sorted(a.dataset for a in arms.values() if a.role == 'control')}")
            if (control.study, control.drug) != (arm.study, arm.drug):
                raise RenalArmError(f"{where}: control {arm.control!r} is from {control.study} ({control.drug}), "
                                    f"not from the arm's own study {arm.study} ({arm.drug})")
        elif arm.control:
            raise RenalArmError(f"{where}: a control arm names no control (found {arm.control!r})")
    return list(arms.values())


def _arm(path: Path, rows: list[tuple[int, dict[str, str]]], drugs: Mapping[str, DrugRecord] | None) -> RenalArm:
    first_line, first = rows[0]
    where = f"{path}:{first_line}"
    for n, row in rows[1:]:
        for col in _ARM_COLUMNS:
            if row[col] != first[col]:
                raise RenalArmError(f"{path}:{n}, column {col}: {row[col]!r} differs from {first[col]!r} on line "
                                    f"{first_line} of the same data set {first['dataset']!r}")

    def num(col: str, *, optional: bool = False) -> float | None:
        if optional and not first[col]:
            return None
        return table_number(first, col, where, error=RenalArmError)

    choices = {"role": ("control", "impaired"), "sex": ("male", "female"), "matrix": ("plasma", "blood"),
               "route": ("oral",)}
    check_cells(first, where, error=RenalArmError, choices=choices, drugs=drugs,
                non_empty=("study", "dataset", "reference", "egfr_basis"))
    egfr = num("egfr", optional=True)
    if first["role"] == "impaired" and (egfr is None or egfr >= NORMAL_EGFR):
        raise RenalArmError(f"{where}, column egfr: an impaired arm needs its eGFR below {NORMAL_EGFR:g} "
                            f"mL/min/1.73 m2 (found {first['egfr']!r})")
    if first["role"] == "control" and egfr is not None and egfr < NORMAL_EGFR:
        raise RenalArmError(f"{where}, column egfr: a control arm is simulated with healthy kidneys; its eGFR "
                            f"{egfr:g} is below {NORMAL_EGFR:g} mL/min/1.73 m2 (make it an impaired arm, or leave "
                            "the eGFR empty)")
    for col, key in (("age_y", "age"), ("weight_kg", "weight_kg"), ("height_cm", "height_cm")):
        value = num(col, optional=col != "age_y")
        low, high = ADULT_RANGES[key]
        if value is not None and not low <= value <= high:
            raise RenalArmError(f"{where}, column {col}: {value:g} is outside the adult range {low:g}-{high:g}")
    age = float(num("age_y") or 0.0)
    try:
        doses = tuple(float(t) for t in first["dose_times_h"].split(","))
    except ValueError:
        raise RenalArmError(f"{where}, column dose_times_h: {first['dose_times_h']!r} is not a comma-separated "
                            "list of hours") from None
    if not doses or any(not math.isfinite(t) or t < 0 for t in doses) or list(doses) != sorted(set(doses)):
        raise RenalArmError(f"{where}, column dose_times_h: {first['dose_times_h']!r} must list ascending, distinct "
                            "times >= 0")
    times, values = [], []
    for n, row in rows:
        here = f"{path}:{n}"
        unit = row["unit"]
        if unit not in _UNITS:
            raise RenalArmError(f"{here}, column unit: {unit!r} is not one of {list(_UNITS)}")
        times.append(table_number(row, "time_h", here, positive=False, error=RenalArmError))
        values.append(table_number(row, "value", here, error=RenalArmError) * _UNITS[unit])
        if len(times) > 1 and times[-1] <= times[-2]:
            raise RenalArmError(f"{here}, column time_h: {times[-1]:g} h does not follow {times[-2]:g} h")
        if times[-1] <= doses[0]:
            raise RenalArmError(f"{here}, column time_h: {times[-1]:g} h is not after the first dose "
                                f"({doses[0]:g} h); an observation before any dose has nothing to compare with")
    if len(times) < 2:
        raise RenalArmError(f"{where}: data set {first['dataset']!r} has {len(times)} point; an AUC needs two")
    return RenalArm(drug=first["drug"], study=first["study"], dataset=first["dataset"], reference=first["reference"],
                    role=first["role"], control=first["control"], egfr=egfr, egfr_basis=first["egfr_basis"],
                    sex=first["sex"], age_y=age, weight_kg=num("weight_kg", optional=True),
                    height_cm=num("height_cm", optional=True), dose_mg=float(num("dose_mg") or 0.0),
                    dose_times_h=doses, matrix=first["matrix"], times=tuple(times), values=tuple(values),
                    line=first_line)


@dataclass(frozen=True)
class RenalCurve:
    """One arm's simulated concentration (mg/L, in the arm's matrix) on a dense grid and at its observed times."""

    arm: RenalArm
    times: np.ndarray
    concentrations: np.ndarray
    at_observed: np.ndarray


def simulate_arms(arms: Sequence[RenalArm], drugs: Mapping[str, DrugRecord], model: Model) -> dict[str, RenalCurve]:
    """Simulate every arm (one typical subject each, see the module docstring); curves by data set name."""
    from qsp_sbml.population.presets import subject_parameters

    curves = {}
    for arm in arms:
        drug = drugs[arm.drug]
        values = subject_parameters(drug, arm.subject()).values
        regimen = Regimen.of(*(Dose(amount=arm.dose_mg, unit="mg", route=Route.ORAL, target=DOSE_TARGETS[Route.ORAL],
                                    time=t, time_unit="h") for t in arm.dose_times_h))
        observed = np.asarray(arm.times)
        grid = np.unique(np.concatenate([np.linspace(0.0, observed.max(), 400), observed]))
        frame = model.simulate(grid, selections=["C_plasma"], parameters=values, regimen=regimen)
        t = frame["time"].to_numpy()
        c = frame["C_plasma"].to_numpy() * (drug.bp if arm.matrix == "blood" else 1.0)
        curves[arm.dataset] = RenalCurve(arm, t, c, np.interp(observed, t, c))
    return curves


def predict_renal(arms: Sequence[RenalArm], drugs: Mapping[str, DrugRecord], model: Model) -> pd.DataFrame:
    """Predict every arm; one row each, impaired arms with their AUC ratio to the control and the verdict."""
    return compare_renal(arms, simulate_arms(arms, drugs, model))


def compare_renal(arms: Sequence[RenalArm], curves: Mapping[str, RenalCurve]) -> pd.DataFrame:
    """The table of :func:`predict_renal` from already simulated ``curves`` (:func:`simulate_arms`)."""
    predicted = {arm.dataset: curves[arm.dataset].at_observed for arm in arms}
    metrics = {arm.dataset: profile_metrics(arm.times, arm.values, predicted[arm.dataset]) for arm in arms}
    by_name = {arm.dataset: arm for arm in arms}
    rows = []
    for arm in arms:
        m = metrics[arm.dataset]
        row = {"drug": arm.drug, "study": arm.study, "dataset": arm.dataset, "role": arm.role,
               "control": arm.control, "egfr": arm.egfr, "kdigo": arm.subject()["kdigo_target"],
               "age_y": arm.age_y, "auc_obs": m["auc_obs"], "auc_pred": m["auc_pred"], "auc_ratio": m["auc_ratio"],
               "conc_gmfe": m["conc_gmfe"], "obs_ratio_to_control": math.nan, "pred_ratio_to_control": math.nan,
               "ratio_fold": math.nan, "within_2fold": None, "obs_ratio_common": math.nan,
               "pred_ratio_common": math.nan, "reference": arm.reference, "line": arm.line}
        if arm.role == "impaired":
            ctrl = metrics[arm.control]
            if not ctrl["auc_pred"] > 0:
                raise RenalArmError(f"control {arm.control!r} (line {by_name[arm.control].line}): its predicted AUC "
                                    "over its observed times is 0; no ratio to it can be formed")
            obs, pred = m["auc_obs"] / ctrl["auc_obs"], m["auc_pred"] / ctrl["auc_pred"]
            row.update(obs_ratio_to_control=obs, pred_ratio_to_control=pred, ratio_fold=pred / obs,
                       within_2fold=bool(1 / RENAL_FOLD <= pred / obs <= RENAL_FOLD),
                       **_common_window(arm, by_name[arm.control], predicted))
        rows.append(row)
    return pd.DataFrame(rows)


def _common_window(arm: RenalArm, control: RenalArm,
                   predicted: Mapping[str, np.ndarray]) -> dict[str, float]:
    """AUC ratios arm / control over the time window both observed profiles cover (linear interpolation)."""
    lo, hi = max(arm.times[0], control.times[0]), min(arm.times[-1], control.times[-1])
    if not hi > lo:
        return {"obs_ratio_common": math.nan, "pred_ratio_common": math.nan}

    def window_auc(a: RenalArm, values: Sequence[float] | np.ndarray) -> float:
        t = np.asarray(a.times)
        grid = np.unique(np.concatenate([[lo, hi], t[(t > lo) & (t < hi)]]))
        return float(np.trapezoid(np.interp(grid, t, values), grid))

    return {"obs_ratio_common": window_auc(arm, arm.values) / window_auc(control, control.values),
            "pred_ratio_common": window_auc(arm, predicted[arm.dataset])
            / window_auc(control, predicted[control.dataset])}
