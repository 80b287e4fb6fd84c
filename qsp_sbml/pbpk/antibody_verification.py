"""Antibody PK predicted against observed exposure (issue 19, item 5): ``qsp-sbml pbpk antibody``.

The antibodies are the drugs of a disease module's split file
(``models/disease/validation/psoriasis_split.yaml``: the population-PK values
the module's calibration and predictions use).  Each row of the observed table
(``models/pbpk/validation/antibody_observed.tsv``, verification only) is
simulated with the antibody module (:func:`~qsp_sbml.pbpk.antibody.build_antibody`,
linear: no target) carrying that antibody's values, and the predicted metric
is compared with the observed one by fold error; the geometric mean fold error
(GMFE) is reported per antibody.  Nothing is fitted.

Metrics: ``auc_inf_per_dose`` (single dose; AUC from 0 to infinity by NCA of
the simulated profile, divided by the dose; ug*day/mL/mg), ``cmax`` (largest
concentration between ``week`` and ``week_end``; ug/mL) and ``trough``
(concentration just before the dose at ``week``; ug/mL).  Doses in mg/kg are
accepted only for the dose-normalised AUC (the module is linear, so a nominal
1 mg is simulated).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qsp_sbml.errors import QspError
from qsp_sbml.metrics import fold_error, gmfe, nca
from qsp_sbml.pbpk._table import numbered_rows, table_number
from qsp_sbml.pbpk.antibody import AntibodyParameters, build_antibody

__all__ = ["GMFE_LIMIT", "AntibodyObservation", "AntibodyObservationError", "AntibodyVerification",
           "load_antibody_observations", "split_antibodies", "verify_antibodies"]

#: Acceptance of issue 19: GMFE of the predicted exposure <= 1.5 for each antibody.
GMFE_LIMIT = 1.5
#: Metric -> the unit its observed values must be given in.
METRICS = {"auc_inf_per_dose": "ug*day/mL/mg", "cmax": "ug/mL", "trough": "ug/mL"}
REQUIRED = ("antibody", "study", "route", "dose", "dose_unit", "dose_weeks", "metric", "week", "week_end", "value",
            "unit", "statistic", "overlap", "source")
_HOURS_PER_WEEK = 168.0
#: Sampling step of the simulated profiles (h) and the follow-up of a single dose for the AUC (weeks).
_STEP_H = 1.0
_AUC_WEEKS = 104.0


class AntibodyObservationError(QspError, ValueError):
    """A malformed observed-antibody table (names the file, line and column)."""


@dataclass(frozen=True)
class AntibodyObservation:
    """One observed exposure metric of one antibody regimen."""

    antibody: str
    study: str
    population: str
    #: ``sc`` or ``iv`` (IV bolus).
    route: str
    #: Per administration, in ``dose_unit`` (``mg`` or ``mg/kg``).
    dose: float
    dose_unit: str
    #: Administration weeks (ascending).
    dose_weeks: tuple[float, ...]
    metric: str
    #: ``cmax``: window start; ``trough``: the dose week just after the trough; NaN for the AUC.
    week: float
    #: ``cmax``: window end; NaN otherwise.
    week_end: float
    value: float
    unit: str
    statistic: str
    n: str
    #: Whether the subjects behind the value are likely in the population-PK fit data.
    overlap: str
    source: str
    #: Line of the table the row is on.
    line: int
    #: The table's file ("" when the observation was made in code).
    path: str = ""


def load_antibody_observations(path: str | Path,
                               antibodies: Iterable[str] | None = None) -> list[AntibodyObservation]:
    """Read and check the observed table; every problem names the file, line and column.

    ``antibodies``, when given, are the names a row may use (the split file's drugs).
    """
    path = Path(path)
    rows = numbered_rows(path, REQUIRED, what="antibody observations", error=AntibodyObservationError)
    known = None if antibodies is None else set(antibodies)
    return [_observation(row, f"{path}:{line}", line, known, path) for line, row in rows]


def _observation(row: dict[str, str], where: str, line: int,
                 antibodies: set[str] | None, path: Path) -> AntibodyObservation:
    def fail(col: str, message: str) -> AntibodyObservationError:
        return AntibodyObservationError(f"{where}, column {col}: {message}")

    def num(col: str, *, positive: bool = True) -> float:
        return table_number(row, col, where, positive=positive, error=AntibodyObservationError)

    name = row["antibody"]
    if antibodies is not None and name not in antibodies:
        raise fail("antibody", f"{name!r} is not a drug of the split file; known: {sorted(antibodies)}")
    route = row["route"].lower()
    if route not in ("sc", "iv"):
        raise fail("route", f"{row['route']!r} must be 'sc' or 'iv'")
    metric = row["metric"]
    if metric not in METRICS:
        raise fail("metric", f"{metric!r} is not one of {list(METRICS)}")
    if row["unit"] != METRICS[metric]:
        raise fail("unit", f"{row['unit']!r}: a {metric} is given in {METRICS[metric]}")
    unit = row["dose_unit"]
    if unit not in ("mg", "mg/kg"):
        raise fail("dose_unit", f"{unit!r} must be 'mg' or 'mg/kg'")
    if unit == "mg/kg" and metric != "auc_inf_per_dose":
        raise fail("dose_unit", f"mg/kg needs a body weight; only auc_inf_per_dose may be given per kg, not {metric}")
    try:
        weeks = tuple(float(w) for w in row["dose_weeks"].split(","))
    except ValueError:
        raise fail("dose_weeks", f"{row['dose_weeks']!r} is not a comma-separated list of weeks") from None
    if not weeks or any(not math.isfinite(w) or w < 0 for w in weeks) or list(weeks) != sorted(set(weeks)):
        raise fail("dose_weeks", f"{row['dose_weeks']!r} must list ascending, distinct weeks >= 0")
    week = week_end = math.nan
    if metric == "auc_inf_per_dose" and weeks != (0.0,):
        raise fail("dose_weeks", "auc_inf_per_dose is a single-dose metric: dose_weeks must be 0")
    if metric == "cmax":
        week, week_end = num("week", positive=False), num("week_end")
        if week_end <= week:
            raise fail("week_end", f"{week_end:g} must be after week {week:g}")
    if metric == "trough":
        week = num("week")
        if week <= weeks[0]:
            raise fail("week", f"a trough at week {week:g} precedes every dose ({row['dose_weeks']})")
    for col in ("overlap", "source"):
        if not row[col]:
            raise fail(col, "every observation needs it")
    return AntibodyObservation(
        antibody=name, study=row["study"], population=row.get("population", ""), route=route, dose=num("dose"),
        dose_unit=unit, dose_weeks=weeks, metric=metric, week=week, week_end=week_end, value=num("value"),
        unit=row["unit"], statistic=row["statistic"], n=row.get("n", ""), overlap=row["overlap"],
        source=row["source"], line=line, path=str(path))


def split_antibodies(split: str | Path) -> dict[str, AntibodyParameters]:
    """The drugs of a split file as antibody-module parameter sets (one compartment: ``Q = 0``)."""
    from qsp_sbml.calibrate.population import read_split

    spec, _ = read_split(split)
    return {name: AntibodyParameters(
        name=name, cl_l_per_day=d.CL_L_per_day, vc_l=d.Vc_L, vp_l=d.Vp_L, q_l_per_day=d.Q_L_per_day,
        ka_per_day=d.ka_per_day, f_sc=d.F, molecular_weight=d.molecular_weight, source=d.source)
        for name, d in spec.drugs.items()}


@dataclass(frozen=True)
class AntibodyVerification:
    """Predicted vs observed, row by row, and the GMFE per antibody."""

    #: One row per observation: antibody, study, population, metric, observed, predicted, fold, overlap, line.
    table: pd.DataFrame

    def summary(self) -> dict[str, dict[str, float]]:
        """Per antibody: number of rows, GMFE and fraction of rows within 1.5-fold and 2-fold."""
        out = {}
        for name, sub in self.table.groupby("antibody", sort=False):
            fold = sub["fold"].to_numpy()
            out[str(name)] = {"n": float(len(sub)), "gmfe": gmfe(sub["predicted"], sub["observed"]),
                              "within_1_5fold": float(np.mean((fold >= 1 / 1.5) & (fold <= 1.5))),
                              "within_2fold": float(np.mean((fold >= 0.5) & (fold <= 2.0)))}
        return out

    def failures(self) -> list[str]:
        """One message per antibody whose GMFE exceeds :data:`GMFE_LIMIT`."""
        return [f"{name}: predicted GMFE {s['gmfe']:.2f} > {GMFE_LIMIT}" for name, s in self.summary().items()
                if s["gmfe"] > GMFE_LIMIT]


def verify_antibodies(observations: list[AntibodyObservation],
                      antibodies: Mapping[str, AntibodyParameters]) -> AntibodyVerification:
    """Simulate every observation with its antibody's values; fold error ``predicted / observed``.

    Examples
    --------
    >>> from qsp_sbml.pbpk.antibody import RISANKIZUMAB
    >>> obs = AntibodyObservation("risankizumab", "demo", "", "iv", 1.0, "mg", (0.0,), "auc_inf_per_dose",
    ...                           math.nan, math.nan, 4.0, "ug*day/mL/mg", "", "", "none", "demo", 1)
    >>> row = verify_antibodies([obs], {"risankizumab": RISANKIZUMAB}).table.iloc[0]
    >>> round(float(row["predicted"]), 2)  # 1 / CL = 1 / 0.243 L/day
    4.12
    """
    from qsp_sbml.loading import load_model

    model = load_model(build_antibody(), guard=False)
    rows = []
    for obs in observations:
        if obs.antibody not in antibodies:
            raise AntibodyObservationError(f"{obs.path or 'observation'}:{obs.line}, column antibody: no PK values "
                                           f"for antibody {obs.antibody!r}; known: {sorted(antibodies)}")
        predicted = _predict(model, obs, antibodies[obs.antibody])
        rows.append({"antibody": obs.antibody, "study": obs.study, "population": obs.population,
                     "metric": obs.metric, "unit": obs.unit, "statistic": obs.statistic, "observed": obs.value,
                     "predicted": predicted, "fold": float(fold_error([predicted], [obs.value])[0]),
                     "overlap": obs.overlap, "line": obs.line})
    return AntibodyVerification(pd.DataFrame(rows))


def _predict(model: object, obs: AntibodyObservation, pk: AntibodyParameters) -> float:
    from qsp_sbml.dosing import Dose, Regimen, Route

    dose_mg = obs.dose if obs.dose_unit == "mg" else 1.0  # mg/kg: dose-normalised metric only (checked on reading)
    target, route = ("mab_sc_depot", Route.SUBCUTANEOUS) if obs.route == "sc" else ("mab_central", Route.IV_BOLUS)
    regimen = Regimen.of(*(Dose(amount=dose_mg, unit="mg", time=w * _HOURS_PER_WEEK, route=route, target=target)
                           for w in obs.dose_weeks), molecular_weight=pk.molecular_weight)
    if obs.metric == "auc_inf_per_dose":
        times = np.arange(0.0, _AUC_WEEKS * _HOURS_PER_WEEK + _STEP_H, 24.0)
    elif obs.metric == "cmax":
        times = np.arange(obs.week * _HOURS_PER_WEEK, obs.week_end * _HOURS_PER_WEEK + _STEP_H / 2, _STEP_H)
    else:
        times = np.array([obs.week * _HOURS_PER_WEEK - 1e-3])  # just before that week's dose
    grid = np.unique(np.concatenate([[0.0], times]))
    frame = model.simulate(grid, selections=["C_free"], parameters=pk.sbml_values,  # type: ignore[attr-defined]
                           regimen=regimen)
    # nM -> ug/mL: 1 nmol/L = MW * 1e-9 g/L = MW * 1e-6 ug/mL.
    conc = frame["C_free"].to_numpy() * pk.molecular_weight * 1e-6
    keep = np.isin(grid, times)
    if obs.metric == "auc_inf_per_dose":
        return nca(grid / 24.0, conc).auc_inf / dose_mg
    if obs.metric == "cmax":
        return float(conc[keep].max())
    return float(conc[keep][0])
