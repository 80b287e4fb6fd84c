"""Validation of the whole-body PBPK module against observed clinical PK.

An observation table (TSV, one row per reported metric of a clinical study)
is simulated study by study with the reference physiology and each drug's
record; predictions and observations are compared by fold error
``pred / obs``, the geometric mean fold error ``GMFE = 10^mean|log10(pred/obs)|``
and the fraction of predictions within 2-fold.  The thresholds are those of
PBPK practice (GMFE <= 2 for AUC and Cmax, >= 67 % within 2-fold; e.g.
Shebley et al. 2018, Clin Pharmacol Ther 104:88).

Columns of the table: ``drug study route dose_mg infusion_h sex horizon_h
metric time_h value unit n statistic overlap source``.  ``metric`` is one of
``auc_inf``, ``auc_0_t`` (AUC to ``time_h``), ``cmax``, ``conc`` (concentration
at ``time_h``, for IV bolus first samples) and ``t_half``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qsp_sbml.dosing import Dose, Regimen, as_route
from qsp_sbml.errors import QspError
from qsp_sbml.metrics import fraction_within, gmfe, nca
from qsp_sbml.model import Model
from qsp_sbml.pbpk._table import table_number
from qsp_sbml.pbpk.drugs import DrugRecord
from qsp_sbml.pbpk.parameters import parameterise
from qsp_sbml.pbpk.structure import DOSE_TARGETS
from qsp_sbml.physiology import reference

__all__ = [
    "THRESHOLDS",
    "Observation",
    "ValidationResult",
    "load_observations",
    "validate",
]

#: Acceptance thresholds: GMFE of AUC and of Cmax, fraction of all predictions within 2-fold.
THRESHOLDS = {"gmfe_auc": 2.0, "gmfe_cmax": 2.0, "within_2fold": 0.67}

METRICS = ("auc_inf", "auc_0_t", "cmax", "conc", "t_half")
#: Factor from each accepted unit to the model's mg/L, mg*h/L or h.
UNITS = {
    "ng/mL": 1e-3, "ug/mL": 1.0, "mg/L": 1.0, "ug/L": 1e-3,
    "ng*h/mL": 1e-3, "ug*h/mL": 1.0, "mg*h/L": 1.0, "ug*h/L": 1e-3, "umol*h/L": None, "umol/L": None,
    "h": 1.0, "min": 1 / 60,
}
REQUIRED = ("drug", "study", "route", "dose_mg", "horizon_h", "metric", "value", "unit", "source")


class ObservationError(QspError, ValueError):
    """A malformed observation table (names the file, row and column)."""


__all__ += ["ObservationError"]


@dataclass(frozen=True)
class Observation:
    """One observed metric of one clinical study."""

    drug: str
    study: str
    route: str
    dose_mg: float
    infusion_h: float
    sex: str
    horizon_h: float
    metric: str
    time_h: float
    value: float
    unit: str
    source: str
    row: int


def load_observations(path: str | Path, drugs: Mapping[str, DrugRecord] | None = None) -> list[Observation]:
    """Read and check the observation table; errors name the file, row and column."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep="\t", comment="#", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError) as err:
        raise ObservationError(f"{path}: cannot read observation table ({err})") from None
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ObservationError(f"{path}: missing column(s) {missing}; required: {list(REQUIRED)}")
    # Physical line numbers of the header and data rows (comment and blank lines skipped by the parser).
    lines = [n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if text.strip() and not text.lstrip().startswith("#")]
    out = []
    for k, rec in enumerate(table.to_dict("records")):
        row = {str(key): str(v) for key, v in rec.items()}
        out.append(_observation(row, path, lines[k + 1], drugs))
    if not out:
        raise ObservationError(f"{path}: no observations")
    return out


def _number(row: dict[str, str], col: str, where: str, default: float | None = None, *,
            positive: bool = True) -> float:
    return table_number(row, col, where, default, positive=positive, error=ObservationError)


def _observation(rec: dict[str, str], path: Path, i: int, drugs: Mapping[str, DrugRecord] | None) -> Observation:
    def where(col: str) -> str:
        return f"{path} row {i}, column {col}"

    def num(col: str, default: float | None = None, *, positive: bool = True) -> float:
        return _number(rec, col, f"{path} row {i}", default, positive=positive)

    metric = rec["metric"].strip()
    if metric not in METRICS:
        raise ObservationError(f"{where('metric')}: {metric!r} is not one of {list(METRICS)}")
    unit = rec["unit"].strip()
    if unit not in UNITS:
        raise ObservationError(f"{where('unit')}: {unit!r} is not one of {list(UNITS)}")
    drug = rec["drug"].strip()
    if drugs is not None and drug not in drugs:
        raise ObservationError(f"{where('drug')}: no drug record {drug!r}; known: {sorted(drugs)}")
    try:
        route = as_route(rec["route"].strip()).value
    except ValueError as err:
        raise ObservationError(f"{where('route')}: {err}") from None
    if not rec["source"].strip():
        raise ObservationError(f"{where('source')}: every observation needs its source")
    sex = rec.get("sex", "").strip() or "male"
    if sex not in ("male", "female"):
        raise ObservationError(f"{where('sex')}: {sex!r} must be 'male' or 'female'")
    needs_time = metric in ("auc_0_t", "conc")
    obs = Observation(
        drug=drug, study=rec["study"].strip(), route=route, dose_mg=num("dose_mg"),
        infusion_h=num("infusion_h", 0.0, positive=False), sex=sex, horizon_h=num("horizon_h"), metric=metric,
        time_h=num("time_h") if needs_time else num("time_h", 0.0, positive=False),
        value=num("value"), unit=unit, source=rec["source"].strip(), row=i,
    )
    if route == "iv_infusion" and obs.infusion_h <= 0:
        raise ObservationError(f"{where('infusion_h')}: an IV infusion needs its duration in hours")
    if needs_time and obs.time_h > obs.horizon_h:
        raise ObservationError(f"{where('time_h')}: {obs.time_h} h lies beyond horizon_h {obs.horizon_h} h")
    return obs


@dataclass(frozen=True)
class Comparison:
    """A prediction beside its observation (model units: mg/L, mg*h/L, h)."""

    drug: str
    study: str
    route: str
    dose_mg: float
    metric: str
    observed: float
    predicted: float
    source: str

    @property
    def fold(self) -> float:
        """Fold error, predicted / observed."""
        return self.predicted / self.observed


@dataclass(frozen=True)
class ValidationResult:
    """All comparisons and the summary statistics."""

    comparisons: list[Comparison]

    def table(self) -> pd.DataFrame:
        """One row per comparison with its fold error."""
        rows = [{**asdict(c), "fold": c.fold} for c in self.comparisons]
        return pd.DataFrame(rows)

    def _folds(self, metrics: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        sel = [c for c in self.comparisons if c.metric in metrics]
        return np.array([c.predicted for c in sel]), np.array([c.observed for c in sel])

    def summary(self) -> dict[str, float]:
        """GMFE of AUC, Cmax and half-life; fraction within 2-fold (all predictions); counts."""
        auc = self._folds(("auc_inf", "auc_0_t"))
        cmax = self._folds(("cmax", "conc"))
        thalf = self._folds(("t_half",))
        every = self._folds(METRICS)
        return {
            "n": float(len(self.comparisons)),
            "gmfe_auc": gmfe(*auc), "gmfe_cmax": gmfe(*cmax),
            "gmfe_t_half": gmfe(*thalf) if thalf[0].size else math.nan,
            "within_2fold": fraction_within(*every, fold=2.0),
        }

    def failures(self) -> list[str]:
        """The thresholds not met (empty when the validation passes)."""
        s = self.summary()
        out = []
        for key in ("gmfe_auc", "gmfe_cmax"):
            if not s[key] <= THRESHOLDS[key]:
                out.append(f"{key} = {s[key]:.2f} > {THRESHOLDS[key]}")
        if not s["within_2fold"] >= THRESHOLDS["within_2fold"]:
            out.append(f"within_2fold = {s['within_2fold']:.2f} < {THRESHOLDS['within_2fold']}")
        return out


def _to_model_units(obs: Observation, drug: DrugRecord) -> float:
    factor = UNITS[obs.unit]
    if factor is None:  # umol-based: x umol/L * MW g/mol = x * MW ug/L
        factor = drug.molecular_weight * 1e-3
    return obs.value * factor


def _simulate(model: Model, drug: DrugRecord, study: tuple[str, float, float, str, float]) -> pd.DataFrame:
    route, dose, infusion_h, sex, horizon = study
    values = parameterise(drug, reference(sex)).values
    r = as_route(route)
    regimen = Regimen.of(Dose(amount=dose, unit="mg", route=r, target=DOSE_TARGETS[r], time_unit="h",
                              duration=infusion_h if r.is_infusion else None))
    # Dense early grid (absorption, distribution), then every 0.25 h.
    times = np.unique(np.concatenate([np.linspace(0, min(2.0, horizon), 121),
                                      np.arange(0, horizon + 1e-9, 0.25), [horizon]]))
    return model.simulate(times, selections=["C_plasma"], parameters=values, regimen=regimen)


def _predict(obs: Observation, frame: pd.DataFrame) -> float:
    t, c = frame["time"].to_numpy(), frame["C_plasma"].to_numpy()
    if obs.metric == "conc":
        return float(np.interp(obs.time_h, t, c))
    if obs.metric == "auc_0_t":
        return nca(t, c, interval=(0.0, obs.time_h)).auc_last
    result = nca(t, c)
    return float({"auc_inf": result.auc_inf, "cmax": result.cmax, "t_half": result.t_half}[obs.metric])


def validate(observations: Sequence[Observation], drugs: Mapping[str, DrugRecord], model: Model) -> ValidationResult:
    """Simulate every study of ``observations`` on ``model`` and compare."""
    frames: dict[tuple[str, tuple[str, float, float, str, float]], pd.DataFrame] = {}
    comparisons = []
    for obs in observations:
        study = (obs.route, obs.dose_mg, obs.infusion_h, obs.sex, obs.horizon_h)
        key = (obs.drug, study)
        if key not in frames:
            frames[key] = _simulate(model, drugs[obs.drug], study)
        observed = _to_model_units(obs, drugs[obs.drug])
        if obs.metric == "t_half":
            observed = obs.value * UNITS[obs.unit]  # type: ignore[operator]
        comparisons.append(Comparison(obs.drug, obs.study, obs.route, obs.dose_mg, obs.metric, observed,
                                      _predict(obs, frames[key]), obs.source))
    return ValidationResult(comparisons)


__all__ += ["Comparison"]
