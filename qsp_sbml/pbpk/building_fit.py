"""Estimate a drug's distribution and absorption from its model-building profiles only.

Issue 20's rule is that only model-building studies may inform a drug parameter.  A *fit plan*
(``models/pbpk/validation/building_fit.yaml``, committed before any fit) names the parameters, their
bounds, the loss and the drugs; :func:`fit_drug` estimates them for one drug from the profiles of the
observed-profiles table tagged ``building`` for that drug, and never reads a verification profile.

Two parameters can be estimated:

* ``kp_scale``: a scalar on every predicted tissue:plasma partition coefficient (Jones HM et al. 2006
  Clin Pharmacokinet 45:511, the "Kp scalar" fitted to intravenous data); it moves the volume of
  distribution and the early decline while leaving the clearance alone;
* ``ka``: the first-order absorption rate, only when the building profiles include an oral one.

The residuals are ``log10(predicted / observed)`` at every compared point (see
:mod:`qsp_sbml.pbpk.qualification`); ``scipy.optimize.least_squares`` (trust region reflective)
minimises them on the natural log of each parameter, from the record's values, with the plan's robust
loss.  A fitted record keeps every other value as sourced; :func:`write_fitted` writes the values and
their sources into the record file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.optimize import least_squares
from scipy.stats import t as student_t

from qsp_sbml._io import atomic_write_many, atomic_write_text
from qsp_sbml.errors import QspError
from qsp_sbml.metrics import gmfe
from qsp_sbml.model import Model
from qsp_sbml.pbpk.drugs import DrugRecord, DrugRecordError, _record_error, load_drug
from qsp_sbml.pbpk.qualification import ObservedProfile, predict_profile
from qsp_sbml.typed_yaml import YamlDoc, parse, read_yaml

__all__ = ["FIT_PARAMETERS", "BuildingFit", "BuildingFitError", "FitObjective", "FitPlan", "FitPlanParameter",
           "fit_drug", "fitted_text", "load_plan", "profile_interval", "robust_cost", "with_values",
           "write_all_fitted", "write_fitted"]

#: The parameters a plan may name.
FIT_PARAMETERS = ("kp_scale", "ka")
#: Floor on a predicted concentration (mg/L) before its logarithm: a prediction of exactly 0 (an oral
#: profile's first sample before any absorption) stays a finite, large residual.
_FLOOR = 1e-12


class BuildingFitError(QspError, ValueError):
    """A malformed fit plan, a drug without model-building profiles, or a record the fit cannot update."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FitObjective(_Strict):
    """The plan's objective.

    ``loss`` and ``f_scale`` (log10 units) are used; ``residual`` and ``optimiser`` describe, for the reader,
    what :func:`fit_drug` does and are not read.
    """

    residual: str
    loss: Literal["linear", "soft_l1", "huber", "cauchy", "arctan"]
    f_scale: float = Field(gt=0)
    optimiser: str


class FitPlanParameter(_Strict):
    """One estimated parameter: its bounds and which drugs it applies to (described)."""

    bounds: tuple[float, float]
    applies: str

    @model_validator(mode="after")
    def _ordered(self) -> FitPlanParameter:
        lo, hi = self.bounds
        if not (0 < lo < hi and math.isfinite(hi)):
            raise ValueError(f"bounds {list(self.bounds)} must be 0 < lower < upper < inf")
        return self


class FitPlan(_Strict):
    """The committed fit plan (see the module docstring)."""

    objective: FitObjective
    parameters: dict[str, FitPlanParameter]
    drugs: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> FitPlan:
        unknown = sorted(set(self.parameters) - set(FIT_PARAMETERS))
        if unknown:
            raise ValueError(f"parameters: unknown {unknown}; a plan may estimate {list(FIT_PARAMETERS)}")
        if "kp_scale" not in self.parameters:
            raise ValueError("parameters: kp_scale is required")
        return self


def load_plan(path: str | Path) -> FitPlan:
    """Read and check a fit plan; errors name the file, the line and the field."""
    doc = read_yaml(Path(path), error=BuildingFitError, what="fit plan")
    return parse(FitPlan, doc, error=lambda text: BuildingFitError("invalid fit plan:\n  " + text))


@dataclass(frozen=True)
class BuildingFit:
    """One drug's estimate: parameter values before and after, and the fit to its building profiles."""

    drug: str
    names: tuple[str, ...]
    initial: tuple[float, ...]
    fitted: tuple[float, ...]
    at_bound: tuple[bool, ...]
    studies: tuple[str, ...]
    n_profiles: int
    n_points: int
    gmfe_before: float
    gmfe_after: float
    success: bool
    message: str
    #: Approximate 95 % interval of each fitted value: Gauss-Newton covariance of the log-parameters at the
    #: solution (as ``scipy.optimize.curve_fit`` computes it) with Student's t quantile for the points left; NaN
    #: at a bound or when not identifiable.
    ci95: tuple[tuple[float, float], ...] = ()
    #: The record's ``sources`` text of each parameter before the fit ("" for a default ``kp_scale`` of 1).
    previous_sources: tuple[str, ...] = ()
    #: Profile-likelihood 95 % interval of each fitted value (``fit_drug(..., profile=True)``; empty otherwise);
    #: an end that reaches a bound of the plan without leaving the region is that bound.
    profile_ci95: tuple[tuple[float, float], ...] = ()
    #: How many other starting points were tried, and how many of them reached a lower cost (``fit_drug``'s
    #: ``starts``; 0 and 0 when not checked).
    other_starts: int = 0
    better_starts: int = 0
    #: Where the plan and the observed profiles were read from (as given), for the written sources.
    plan_source: str = "models/pbpk/validation/building_fit.yaml"
    observed_source: str = "models/pbpk/validation/observed_profiles.tsv"

    def values(self) -> dict[str, float]:
        """The fitted values by parameter name."""
        return dict(zip(self.names, self.fitted, strict=True))

    def source(self, name: str) -> str:
        """The ``sources`` text of a fitted value: what was fitted to what, from where it started."""
        i = self.names.index(name)
        previous = self.previous_sources[i] if self.previous_sources else ""
        start = f"started from {_fmt(self.initial[i])}"
        if previous and not previous.startswith("FITTED"):
            start += f" (previously: {previous})"
        return (f"FITTED to model-building profiles only: {_fmt(self.fitted[i])}, estimated by qsp-sbml pbpk fit "
                f"(plan {self.plan_source}) from {self.n_profiles} profiles, {self.n_points} points of "
                f"{', '.join(self.studies)} in {self.observed_source}; {start}; concentration GMFE on them "
                f"{self.gmfe_before:.2f} at the start, {self.gmfe_after:.2f} fitted")


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def with_values(drug: DrugRecord, values: dict[str, float]) -> DrugRecord:
    """A copy of ``drug`` with ``kp_scale`` and/or ``absorption.ka`` replaced."""
    update: dict[str, object] = {}
    if "kp_scale" in values:
        update["kp_scale"] = values["kp_scale"]
    if "ka" in values:
        update["absorption"] = drug.absorption.model_copy(update={"ka": values["ka"]})
    return drug.model_copy(update=update)


def _residuals(profiles: Sequence[ObservedProfile], drug: DrugRecord, model: Model) -> np.ndarray:
    out = []
    for p in profiles:
        pred = predict_profile(p, drug, model)
        obs = np.asarray(p.values)
        keep = pred.compared & (obs > 0)
        out.append(np.log10(np.maximum(pred.at_observed[keep], _FLOOR) / obs[keep]))
    return np.concatenate(out)


def fit_drug(drug: DrugRecord, profiles: Sequence[ObservedProfile], model: Model, plan: FitPlan, *,
             plan_source: str = "models/pbpk/validation/building_fit.yaml",
             observed_source: str = "models/pbpk/validation/observed_profiles.tsv", starts: int = 0,
             profile: bool = False) -> BuildingFit:
    """Estimate the plan's parameters for ``drug`` from its ``building`` profiles among ``profiles``.

    ``plan_source`` and ``observed_source`` only name the inputs in the sources :func:`write_fitted` writes.
    ``starts`` > 0 also runs the fit from that many other starting points (a seeded
    uniform draw of the log-parameters inside the plan's bounds) as a check for other minima: the estimate stays
    the one from the record's values (the plan's rule), and ``BuildingFit.better_starts`` counts the starts
    that reached a cost lower by more than 1 %.  ``profile`` also computes profile-likelihood 95 % intervals
    (:func:`profile_interval`), slower than the linearised ones and better where the model is nonlinear in a
    parameter.

    Raises
    ------
    BuildingFitError
        When the drug is not in the plan or has no model-building profile.
    """
    if drug.id not in plan.drugs:
        raise BuildingFitError(f"{drug.id}: not among the plan's drugs {plan.drugs}; add it to the plan (and "
                               "commit the plan) before fitting")
    building = [p for p in profiles if p.drug == drug.id and p.group == "building"]
    if not building:
        raise BuildingFitError(f"{drug.id}: no model-building profile in the observed table; only model-building "
                               "profiles may inform a parameter")
    names = [n for n in FIT_PARAMETERS if n in plan.parameters
             and (n != "ka" or any(p.route == "oral" for p in building))]
    start = {"kp_scale": drug.kp_scale, "ka": drug.absorption.ka}
    lo = np.log([plan.parameters[n].bounds[0] for n in names])
    hi = np.log([plan.parameters[n].bounds[1] for n in names])
    x0 = np.clip(np.log([start[n] for n in names]), lo, hi)

    def residuals(x: np.ndarray) -> np.ndarray:
        return _residuals(building, with_values(drug, dict(zip(names, np.exp(x), strict=True))), model)

    before = residuals(x0)
    res = least_squares(residuals, x0, bounds=(lo, hi), loss=plan.objective.loss, f_scale=plan.objective.f_scale,
                        method="trf", diff_step=1e-3, x_scale=1.0)
    after = residuals(res.x)
    fitted = np.exp(res.x)
    rng = np.random.default_rng(20261208)
    better = 0
    for _ in range(starts):
        other = least_squares(residuals, rng.uniform(lo, hi), bounds=(lo, hi), loss=plan.objective.loss,
                              f_scale=plan.objective.f_scale, method="trf", diff_step=1e-3, x_scale=1.0)
        better += bool(other.cost < 0.99 * res.cost)
    at_bound = tuple(bool(np.isclose(x, lo_, atol=1e-6) or np.isclose(x, hi_, atol=1e-6))
                     for x, lo_, hi_ in zip(res.x, lo, hi, strict=True))
    sd = _log_sd(res.jac, 2 * res.cost, after.size)
    q = float(student_t.ppf(0.975, after.size - len(names))) if after.size > len(names) else math.inf
    ci95 = tuple((math.nan, math.nan) if b or not math.isfinite(d) else
                 (float(np.exp(x - q * d)), float(np.exp(x + q * d)))
                 for x, d, b in zip(res.x, sd, at_bound, strict=True))
    profile_ci = tuple(profile_interval(residuals, res.x, i, lo, hi, plan.objective.loss, plan.objective.f_scale,
                                        res.cost, sd[i])
                       for i in range(len(names))) if profile else ()
    return BuildingFit(
        profile_ci95=profile_ci,
        drug=drug.id, names=tuple(names), initial=tuple(float(start[n]) for n in names),
        fitted=tuple(float(v) for v in fitted),
        at_bound=at_bound, ci95=ci95, plan_source=plan_source, observed_source=observed_source,
        other_starts=starts, better_starts=better,
        previous_sources=tuple(drug.sources.get(_key(n), "") for n in names),
        studies=tuple(dict.fromkeys(p.study for p in building)), n_profiles=len(building), n_points=before.size,
        gmfe_before=float(gmfe(10**before, np.ones_like(before))),
        gmfe_after=float(gmfe(10**after, np.ones_like(after))), success=bool(res.success), message=str(res.message))


#: The robust losses of ``scipy.optimize.least_squares``: rho(z) with z the squared scaled residual.
_LOSSES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda z: z,
    "soft_l1": lambda z: 2 * (np.sqrt(1 + z) - 1),
    "huber": lambda z: np.where(z <= 1, z, 2 * np.sqrt(z) - 1),
    "cauchy": np.log1p,
    "arctan": np.arctan,
}


def robust_cost(r: np.ndarray, loss: str, f_scale: float) -> float:
    """``least_squares``'s cost of residuals ``r``: ``0.5 f^2 sum rho((r / f)^2)``.

    >>> robust_cost(np.array([1.0, 2.0]), "linear", 1.0)
    2.5
    """
    return float(0.5 * f_scale**2 * np.sum(_LOSSES[loss]((np.asarray(r) / f_scale) ** 2)))


def profile_interval(residuals: Callable[[np.ndarray], np.ndarray], x_hat: np.ndarray, i: int, lo: np.ndarray,
                     hi: np.ndarray, loss: str, f_scale: float, cost_min: float, sd: float,
                     level: float = 0.95) -> tuple[float, float]:
    """Profile-likelihood interval of parameter ``i`` (values, not logs) around the estimate ``x_hat`` (logs).

    The profile cost fixes the parameter and re-fits the others; the interval holds the values whose profile
    cost exceeds the minimum by at most ``cost_min t^2 / (m - p)`` (the F test of one parameter with the
    residual variance ``2 cost_min / (m - p)``; Venzon & Moolgavkar 1988, Raue et al. 2009 Bioinformatics
    25:1923).  Each end is found by doubling steps from ``x_hat`` and bisection in log space; an end that
    reaches a bound still inside the region is the bound.
    """
    m, p = residuals(x_hat).size, x_hat.size
    if m <= p:
        return (math.nan, math.nan)
    limit = cost_min * float(student_t.ppf(0.5 + level / 2, m - p)) ** 2 / (m - p)
    others = [j for j in range(p) if j != i]

    def excess(v: float) -> float:
        x = x_hat.copy()
        x[i] = v
        if others:
            def fixed(y: np.ndarray) -> np.ndarray:
                x[others] = y
                return residuals(x)
            fit = least_squares(fixed, x_hat[others], bounds=(lo[others], hi[others]), loss=loss, f_scale=f_scale,
                                method="trf", diff_step=1e-3)
            return float(fit.cost) - cost_min - limit
        return robust_cost(residuals(x), loss, f_scale) - cost_min - limit

    ends = []
    for direction, bound in ((-1.0, lo[i]), (1.0, hi[i])):
        step = sd if math.isfinite(sd) and sd > 1e-3 else 0.25
        inside, outside = float(x_hat[i]), math.nan
        while True:
            v = float(np.clip(x_hat[i] + direction * step, lo[i], hi[i]))
            if excess(v) > 0:
                outside = v
                break
            inside = v
            if v == bound:
                break
            step *= 2
        if math.isnan(outside):
            ends.append(float(np.exp(bound)))
            continue
        for _ in range(30):
            if abs(outside - inside) < 1e-3:
                break
            mid = 0.5 * (inside + outside)
            if excess(mid) > 0:
                outside = mid
            else:
                inside = mid
        ends.append(float(np.exp(0.5 * (inside + outside))))
    return (ends[0], ends[1])


def _log_sd(jac: np.ndarray, cost: float, m: int) -> np.ndarray:
    """Standard errors of the log-parameters.

    ``s^2 (J^T J)^-1`` with ``s^2 = cost / (m - p)``, by SVD as in ``scipy.optimize.curve_fit``; infinite where
    ``J^T J`` is singular or no degree of freedom is left.
    """
    p = jac.shape[1]
    if m <= p:
        return np.full(p, math.inf)
    _, sv, vt = np.linalg.svd(jac, full_matrices=False)
    keep = sv > np.finfo(float).eps * max(jac.shape) * sv[0]
    if not keep.all():
        return np.full(p, math.inf)
    cov = (vt.T / sv**2) @ vt * cost / (m - p)
    return np.sqrt(np.diag(cov))


_TOP = {"kp_scale": re.compile(r"^kp_scale:.*$", re.M)}


def _key(name: str) -> str:
    return "absorption.ka" if name == "ka" else name


def fitted_text(path: str | Path, fit: BuildingFit) -> str:
    """The text of the record file at ``path`` with ``fit``'s values and their sources written in.

    The file keeps its layout (and line endings): ``kp_scale:`` goes before ``clearance:`` (or replaces an
    existing line), ``ka:`` is replaced inside a block-style ``absorption:``, and each value's ``sources``
    entry is replaced or added.  The new text is checked before it is returned: read back as a record, it
    must hold the fitted values and be the old record in every other field.

    Raises
    ------
    BuildingFitError
        For a value at a bound of the plan (not written: a bound is the plan's choice, not an estimate), or a
        record whose layout this function cannot edit.
    """
    path = Path(path)
    at_bound = [n for n, b in zip(fit.names, fit.at_bound, strict=True) if b]
    if at_bound:
        raise BuildingFitError(f"{path}: {', '.join(at_bound)} of {fit.drug} ended at a bound of the plan; not "
                               "written (a bound is not an estimate: check the data or commit a plan with other "
                               "bounds)")
    old = load_drug(path)
    raw = path.read_bytes().decode("utf-8")  # not read_text: it would turn CRLF into LF
    newline = "\r\n" if "\r\n" in raw else "\n"
    text = raw.replace("\r\n", "\n")
    values = fit.values()
    cannot = (f"{path}: pbpk fit cannot edit this record's layout ({{}}); write the values and sources printed "
              "by 'qsp-sbml pbpk fit' by hand")
    if "kp_scale" in values:
        line = f"kp_scale: {_fmt(values['kp_scale'])}"
        if _TOP["kp_scale"].search(text):
            text = _TOP["kp_scale"].sub(line, text)
        else:
            text, n = re.subn(r"^clearance:", line + "\nclearance:", text, count=1, flags=re.M)
            if not n:
                raise BuildingFitError(cannot.format("no top-level 'clearance:' line to put kp_scale before"))
    if "ka" in values:
        text, n = re.subn(r"^(absorption:\n(?:  .*\n)*?)  ka: .*$", rf"\g<1>  ka: {_fmt(values['ka'])}", text,
                          count=1, flags=re.M)
        if not n:
            raise BuildingFitError(cannot.format("no '  ka:' line in a block-style 'absorption:' mapping"))
    for name in fit.names:
        key = _key(name)
        entry = f"  {key}: {_quote(fit.source(name))}".replace("\\", "\\\\")
        pattern = re.compile(rf"^  {re.escape(key)}: .*$", re.M)
        if pattern.search(text):
            text = pattern.sub(entry, text, count=1)
        else:
            text, n = re.subn(r"^sources:\n", "sources:\n" + entry + "\n", text, count=1, flags=re.M)
            if not n:
                raise BuildingFitError(cannot.format(f"no block-style 'sources:' mapping to add {key} to"))
    try:
        record = parse(DrugRecord, YamlDoc.from_text(text, source=str(path)), error=_record_error)
    except (ValueError, DrugRecordError) as exc:
        raise BuildingFitError(cannot.format(f"the edited text would not read back: {exc}")) from None
    got = {"kp_scale": record.kp_scale, "ka": record.absorption.ka}
    for name, value in values.items():
        if not math.isclose(got[name], float(_fmt(value)), rel_tol=1e-9):
            raise BuildingFitError(cannot.format(f"{name} would read back as {got[name]!r}, not {_fmt(value)}"))
    rest = {"kp_scale": old.kp_scale, "absorption": old.absorption, "sources": old.sources}
    if record.model_copy(update=rest) != old or set(record.sources) - set(old.sources) - {_key(n) for n in fit.names}:
        raise BuildingFitError(cannot.format("the edit would change more than the fitted values and their sources"))
    return text.replace("\n", newline)


def write_fitted(path: str | Path, fit: BuildingFit) -> DrugRecord:
    """Write ``fit`` into the record file at ``path`` (see :func:`fitted_text`); return the re-read record."""
    atomic_write_text(path, fitted_text(path, fit))
    return load_drug(path)


def write_all_fitted(fits: Mapping[Path, BuildingFit]) -> None:
    """Write several fits into their record files, all or none: every text is made and checked first."""
    atomic_write_many({Path(p): fitted_text(p, f) for p, f in fits.items()})


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
