"""Qualification of the whole-body PBPK module on observed concentration-time profiles.

An observed-profiles table (TSV, one row per observed point; shipped as
``models/pbpk/validation/observed_profiles.tsv``) is grouped into profiles
(one ``dataset`` of one ``study``); each profile is simulated with the
reference physiology and the drug's record (no parameter is fitted here) and
compared with its observations:

* AUC from the first to the last compared time, linear trapezoid, computed the
  same way on the observed points and on the prediction sampled at the
  observed times;
* Cmax, the highest observed concentration and the highest predicted
  concentration at the observed times;
* the concentration GMFE, ``10^mean|log10(pred/obs)|`` over the profile's
  points.

An observed point at or before the dose time of an intravenous bolus is not
compared (``compared`` is false in the points table): the simulated
concentration jumps at that instant from zero to the dose in the venous
blood, so a sample "at 0" (a pre-dose value or a first sample digitised at
the dose time) has no defined prediction.  Such points are kept in the
points table and drawn in the profile plots.

Every profile carries the ``group`` it was given before any comparison:
``building`` when the study informed a value of the drug record, otherwise
``verification``.  Summaries are per drug and per group: GMFE of AUC and Cmax
ratios, the fraction within 2-fold, and the concentration GMFE pooled over
all points of the group.

Columns: ``drug study dataset reference route dose dose_unit infusion_h sex
weight_kg matrix time_h value unit n statistic group`` (required), plus
``figure population age_y group_basis`` (optional, reported as given).
``dose_unit`` is ``mg``, ``ug`` or ``mg/kg`` (per kg of ``weight_kg``, else of the
reference physiology); ``matrix`` is ``plasma`` or ``blood`` (whole blood =
plasma concentration times the record's blood:plasma ratio).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from qsp_sbml.dosing import Dose, Regimen, as_route
from qsp_sbml.errors import QspError
from qsp_sbml.metrics import auc, fraction_within, gmfe
from qsp_sbml.model import Model
from qsp_sbml.pbpk._table import check_cells, numbered_rows, table_number
from qsp_sbml.pbpk.drugs import DrugRecord
from qsp_sbml.pbpk.parameters import parameterise
from qsp_sbml.pbpk.structure import DOSE_TARGETS
from qsp_sbml.physiology import reference

__all__ = [
    "GROUPS",
    "ObservedProfile",
    "ProfileError",
    "ProfilePrediction",
    "load_profiles",
    "predict_profile",
    "compared_points",
    "profile_metrics",
    "qualify",
    "summarise",
]

#: The two groups, in report order.
GROUPS = ("building", "verification")
REQUIRED = ("drug", "study", "dataset", "reference", "route", "dose", "dose_unit", "infusion_h", "sex", "weight_kg",
            "matrix", "time_h", "value", "unit", "n", "statistic", "group")
#: Factor from each accepted concentration unit to mg/L (``None``: via the molecular weight).
CONC_UNITS: dict[str, float | None] = {"mg/L": 1.0, "ug/mL": 1.0, "ng/mL": 1e-3, "ug/L": 1e-3, "umol/L": None,
                                       "nmol/L": None}
DOSE_UNITS = {"mg": 1.0, "ug": 1e-3, "mg/kg": None}
MATRICES = ("plasma", "blood")


class ProfileError(QspError, ValueError):
    """A malformed observed-profiles table (names the file, the line and the column)."""


@dataclass(frozen=True)
class ObservedProfile:
    """One observed concentration-time profile (concentrations in mg/L, times in h)."""

    drug: str
    study: str
    dataset: str
    reference: str
    route: str
    dose: float
    dose_unit: str
    infusion_h: float
    sex: str
    weight_kg: float | None
    matrix: str
    group: str
    n: str
    statistic: str
    times: tuple[float, ...]
    values: tuple[float, ...]
    #: Line of the profile's first point in the table.
    line: int

    def dose_mg(self) -> float:
        """The dose in mg (a per-kg dose times ``weight_kg``, else the reference body weight of ``sex``)."""
        factor = DOSE_UNITS[self.dose_unit]
        if factor is not None:
            return self.dose * factor
        weight = self.weight_kg if self.weight_kg is not None else reference(self.sex).body_weight
        return self.dose * weight


def _read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    return numbered_rows(path, REQUIRED, what="observations", error=ProfileError)


def _num(row: dict[str, str], col: str, where: str, *, positive: bool = True, empty: float | None = None) -> float:
    return table_number(row, col, where, empty, positive=positive, error=ProfileError)


def _check_row(row: dict[str, str], where: str, drugs: Mapping[str, DrugRecord] | None) -> None:
    choices = {"unit": CONC_UNITS, "dose_unit": DOSE_UNITS, "matrix": MATRICES, "group": GROUPS,
               "sex": ("male", "female", "")}
    check_cells(row, where, error=ProfileError, choices=choices, drugs=drugs,
                non_empty=("study", "dataset", "reference"))
    try:
        route = as_route(row["route"])
    except ValueError as err:
        raise ProfileError(f"{where}, column route: {err}") from None
    if route.value not in ("iv_bolus", "iv_infusion", "oral"):
        raise ProfileError(f"{where}, column route: {row['route']!r}: only oral, iv bolus and iv infusion")
    if route.is_infusion and _num(row, "infusion_h", where, empty=0.0) <= 0:
        raise ProfileError(f"{where}, column infusion_h: an IV infusion needs its duration in hours")


def load_profiles(path: str | Path, drugs: Mapping[str, DrugRecord] | None = None) -> list[ObservedProfile]:
    """Read and check the table; every error names the file, the line and the column."""
    path = Path(path)
    groups: dict[tuple[str, str, str], list[tuple[int, dict[str, str]]]] = {}
    for n, row in _read_rows(path):
        where = f"{path}:{n}"
        _check_row(row, where, drugs)
        _num(row, "time_h", where, positive=False)
        _num(row, "value", where)
        _num(row, "dose", where)
        if row["weight_kg"]:
            _num(row, "weight_kg", where)
        groups.setdefault((row["drug"], row["study"], row["dataset"]), []).append((n, row))
    return [_profile(path, rows, drugs) for rows in groups.values()]


_PROFILE_CONSTANT = ("reference", "route", "dose", "dose_unit", "infusion_h", "sex", "weight_kg", "matrix", "group")


def _profile(path: Path, rows: list[tuple[int, dict[str, str]]],
             drugs: Mapping[str, DrugRecord] | None) -> ObservedProfile:
    first_line, first = rows[0]
    for n, row in rows[1:]:
        for col in _PROFILE_CONSTANT:
            if row[col] != first[col]:
                raise ProfileError(f"{path}:{n}, column {col}: {row[col]!r} differs from {first[col]!r} on line "
                                   f"{first_line} of the same data set {first['dataset']!r}")
    times = [float(r["time_h"]) for _, r in rows]
    if any(b <= a for a, b in zip(times, times[1:], strict=False)):
        raise ProfileError(f"{path}:{first_line}, column time_h: the times of data set {first['dataset']!r} "
                           "must increase")
    if as_route(first["route"]).value == "iv_bolus" and times[-1] <= 0:
        raise ProfileError(f"{path}:{first_line}, column time_h: data set {first['dataset']!r} is an IV bolus with "
                           "no observation after the dose time (points at or before it are not compared)")
    values = []
    for _, r in rows:
        factor = CONC_UNITS[r["unit"]]
        if factor is None:  # molar: x umol/L * MW g/mol = x * MW ug/L
            if drugs is None:
                raise ProfileError(f"{path}:{first_line}, column unit: molar units need the drug records")
            factor = drugs[r["drug"]].molecular_weight * (1e-3 if r["unit"] == "umol/L" else 1e-6)
        values.append(float(r["value"]) * factor)
    return ObservedProfile(
        drug=first["drug"], study=first["study"], dataset=first["dataset"], reference=first["reference"],
        route=as_route(first["route"]).value, dose=float(first["dose"]), dose_unit=first["dose_unit"],
        infusion_h=float(first["infusion_h"] or 0.0), sex=first["sex"] or "male",
        weight_kg=float(first["weight_kg"]) if first["weight_kg"] else None, matrix=first["matrix"],
        group=first["group"], n=first["n"], statistic=first["statistic"], times=tuple(times), values=tuple(values),
        line=first_line)


@dataclass(frozen=True)
class ProfilePrediction:
    """A profile's simulation: a dense curve for plots and the prediction at the observed times (mg/L)."""

    profile: ObservedProfile
    curve_times: np.ndarray
    curve: np.ndarray
    at_observed: np.ndarray

    @property
    def compared(self) -> np.ndarray:
        """Which observed points are compared: all but those at or before an IV bolus (see the module notes)."""
        times = np.asarray(self.profile.times)
        return times > 0 if self.profile.route == "iv_bolus" else np.ones(times.shape, dtype=bool)


def predict_profile(profile: ObservedProfile, drug: DrugRecord, model: Model) -> ProfilePrediction:
    """Simulate one profile's design on ``model`` (reference physiology of its sex; nothing fitted)."""
    values = parameterise(drug, reference(profile.sex)).values
    route = as_route(profile.route)
    regimen = Regimen.of(Dose(amount=profile.dose_mg(), unit="mg", route=route, target=DOSE_TARGETS[route],
                              time_unit="h", duration=profile.infusion_h if route.is_infusion else None))
    horizon = max(profile.times) * 1.05
    grid = np.unique(np.concatenate([np.linspace(0.0, horizon, 400), np.geomspace(1e-3, horizon, 200),
                                     np.asarray(profile.times)]))
    frame = model.simulate(grid, selections=["C_plasma"], parameters=values, regimen=regimen)
    t, c = frame["time"].to_numpy(), frame["C_plasma"].to_numpy()
    if profile.matrix == "blood":
        c = c * drug.bp
    return ProfilePrediction(profile, t, c, np.interp(np.asarray(profile.times), t, c))


def profile_metrics(times: ArrayLike, observed: ArrayLike, predicted: ArrayLike) -> dict[str, float]:
    """AUC (linear trapezoid, first to last observed time) and Cmax of both, their ratios and the point GMFE.

    Examples
    --------
    >>> m = profile_metrics([0, 1, 2], [0, 2, 1], [0, 4, 2])
    >>> m["auc_obs"], m["auc_pred"], m["cmax_ratio"]
    (2.5, 5.0, 2.0)
    """
    t, obs, pred = (np.asarray(x, dtype=float) for x in (times, observed, predicted))
    ok = (obs > 0) & (pred > 0)
    auc_obs = auc(t, obs, method="linear") if t.size > 1 else math.nan
    auc_pred = auc(t, pred, method="linear") if t.size > 1 else math.nan
    return {
        "auc_obs": auc_obs, "auc_pred": auc_pred, "auc_ratio": auc_pred / auc_obs,
        "cmax_obs": float(obs.max()), "cmax_pred": float(pred.max()), "cmax_ratio": float(pred.max() / obs.max()),
        "conc_gmfe": gmfe(pred[ok], obs[ok]) if ok.any() else math.nan,
        "n_points": float(ok.sum()),
    }


def qualify(profiles: Sequence[ObservedProfile], drugs: Mapping[str, DrugRecord], model: Model
            ) -> tuple[pd.DataFrame, pd.DataFrame, list[ProfilePrediction]]:
    """Simulate every profile; return the per-study table, the per-point table and the predictions."""
    predictions = [predict_profile(p, drugs[p.drug], model) for p in profiles]
    studies, points = [], []
    for pred in predictions:
        p, keep = pred.profile, pred.compared
        studies.append({"drug": p.drug, "group": p.group, "study": p.study, "dataset": p.dataset,
                        "reference": p.reference, "route": p.route, "dose_mg": p.dose_mg(), "matrix": p.matrix,
                        "n_subjects": p.n, "statistic": p.statistic,
                        **profile_metrics(np.asarray(p.times)[keep], np.asarray(p.values)[keep],
                                          pred.at_observed[keep]), "line": p.line})
        points += [{"drug": p.drug, "group": p.group, "study": p.study, "dataset": p.dataset, "time_h": t,
                    "observed_mg_l": o, "predicted_mg_l": c, "compared": bool(k)}
                   for t, o, c, k in zip(p.times, p.values, pred.at_observed, keep, strict=True)]
    return pd.DataFrame(studies), pd.DataFrame(points), predictions


def compared_points(points: pd.DataFrame) -> pd.DataFrame:
    """The rows of a points table that enter the concentration figures: compared, both values positive."""
    return points[points["compared"] & (points["observed_mg_l"] > 0) & (points["predicted_mg_l"] > 0)]


def _group_figures(studies: pd.DataFrame, points: pd.DataFrame) -> dict[str, float]:
    pts = compared_points(points)
    auc = studies.dropna(subset=["auc_ratio"])
    return {
        "n_profiles": float(len(studies)), "n_studies": float(studies["study"].nunique()),
        "n_points": float(len(pts)),
        "gmfe_auc": gmfe(auc["auc_pred"], auc["auc_obs"]) if len(auc) else math.nan,
        "gmfe_cmax": gmfe(studies["cmax_pred"], studies["cmax_obs"]),
        "auc_within_2fold": fraction_within(auc["auc_pred"], auc["auc_obs"], fold=2.0) if len(auc) else math.nan,
        "cmax_within_2fold": fraction_within(studies["cmax_pred"], studies["cmax_obs"], fold=2.0),
        "conc_gmfe": gmfe(pts["predicted_mg_l"], pts["observed_mg_l"]) if len(pts) else math.nan,
        "conc_within_2fold": fraction_within(pts["predicted_mg_l"], pts["observed_mg_l"], fold=2.0)
        if len(pts) else math.nan,
    }


def summarise(studies: pd.DataFrame, points: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """Figures per drug and group (``{drug: {group: figures}}``) plus ``"all"`` over every drug."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for drug in [*sorted(studies["drug"].unique()), "all"]:
        s = studies if drug == "all" else studies[studies["drug"] == drug]
        p = points if drug == "all" else points[points["drug"] == drug]
        out[drug] = {g: _group_figures(s[s["group"] == g], p[p["group"] == g])
                     for g in GROUPS if (s["group"] == g).any()}
    return out
