"""Population-level calibration of a disease module on published trial arms, and prediction of held-back arms.

The split file (read by :func:`read_split`) names the module, the drugs' population-PK values,
the endpoints, the individual parameters and two disjoint sets of arms.  The method:

1. **Virtual population with common random numbers.**  Each individual parameter is
   ``typical * exp(omega z)`` (log-normal) or ``expit(logit(typical) + omega z)`` (logit-normal) with one
   fixed matrix ``z`` of standard-normal draws (``n_patients`` x parameters, from ``seed``), the same for
   every arm and every objective evaluation, so that the objective is a deterministic, smooth function of
   the population parameters (typical values and SDs).
2. **Arm-level summaries.**  Every arm is simulated for every virtual patient with the arm's regimen
   (SC doses of ``F x mg / MW`` nmol into the dose target at the dosing weeks; PK values of the drug);
   a responder endpoint is the fraction of patients whose output reaches the threshold, with the
   indicator smoothed by a logistic of width ``smoothing`` (output units); a mean endpoint is the mean.
3. **Likelihood.**  Binomial for responder counts (``n`` from the paper), normal for arm means
   (standard error ``sd / sqrt(n)``), summed over the calibration arms only.
4. **Fit.**  Seeded multistart (the file's start values, then uniform in the bounds) of L-BFGS-B
   (scipy) on log typical values (logit for logit-normal ones) and log SDs.
5. **Uncertainty.**  The Fisher information of the arm-level summaries, ``J' W J`` with central
   finite-difference sensitivities ``J`` and binomial/normal weights ``W``, gives standard errors; posterior
   draws come from a random-walk Metropolis chain started at the estimate (flat prior on the optimiser
   coordinates inside the bounds, step sizes from those standard errors, capped).  Each retained draw
   gives replicate trials of the arm's size (binomial counts, normal means): their 5-95 % quantiles are
   the 90 % prediction interval (parameter uncertainty plus replicate-trial sampling).

Simulation goes through :class:`~qsp_sbml.simulate.simulator.Simulator` (one compiled model per distinct
regimen, reused for every evaluation), as :func:`~qsp_sbml.population.simulation.simulate_cohort` does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml.calibrate._split_spec import (
    ArmSpec,
    DrugSpec,
    EndpointSpec,
    IndividualSpec,
    ObservationSpec,
    SplitSpec,
    read_split,
)
from qsp_sbml.errors import CalibrationError
from qsp_sbml.loading import load_model
from qsp_sbml.metrics import concordance_correlation
from qsp_sbml.simulate.options import IntegratorOptions
from qsp_sbml.simulate.simulator import Simulator

__all__ = [
    "ArmSpec",
    "DrugSpec",
    "EndpointSpec",
    "IndividualSpec",
    "ObservationSpec",
    "PopulationFit",
    "PopulationProblem",
    "SplitSpec",
    "fit_population",
    "nllh_of_terms",
    "population_metrics",
    "predict_arms",
    "read_split",
    "write_population_results",
]

logger = logging.getLogger(__name__)

#: A parameter vector in optimiser coordinates.
Vector = Sequence[float] | np.ndarray


def _expit(x: np.ndarray | float) -> Any:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class PopulationProblem:
    """The calibration problem of a split file: virtual population, compiled arms, likelihood.

    Parameters
    ----------
    spec, model_path
        The split (:func:`read_split`) and its model file.
    n_patients
        Size of the virtual population (the same patients in every arm).
    seed
        Seed of the standard-normal draws of the individual parameters (common random numbers).
    options
        Integrator options (default rtol 1e-6, atol 1e-9: arm-level summaries of a few hundred patients
        do not need the model's 1e-8).
    """

    def __init__(self, spec: SplitSpec, model_path: Path, *, n_patients: int = 200, seed: int = 0,
                 options: IntegratorOptions | None = None) -> None:
        if n_patients < 10:
            raise CalibrationError(f"n_patients must be >= 10, got {n_patients}")
        self.spec = spec
        self.model = load_model(str(model_path))
        self.n_patients = n_patients
        self.seed = seed
        self.options = options or IntegratorOptions(rtol=1e-6, atol=1e-9)
        self.individual = list(spec.individual)
        self.z = np.random.default_rng(seed).standard_normal((n_patients, len(self.individual)))
        self.outputs = sorted({ep.output for ep in spec.endpoints.values()})
        self._sims: dict[tuple[Any, ...], Simulator] = {}
        self._memo: dict[tuple[Any, ...], np.ndarray] = {}  # this x's simulations (arms sharing a regimen)
        self._end = max(o.week for _, a in spec.arms for o in a.observations) * spec.model_time_per_week
        unknown = [k for k in [*self.outputs, *spec.fixed, *self.individual, spec.dose_target]
                   if k not in self.model.structure.ids]
        if unknown:
            raise CalibrationError(f"split {spec.module!r}: model {model_path} has no id {unknown[0]!r}")

    @classmethod
    def from_file(cls, path: str | Path, *, n_patients: int = 200, seed: int = 0) -> PopulationProblem:
        """Read a split file (errors name file, line and field) and build its problem."""
        spec, model = read_split(path)
        return cls(spec, model, n_patients=n_patients, seed=seed)

    # -- parameters (optimiser coordinates: log / logit typical, log omega) ----------------------------
    @property
    def parameter_names(self) -> list[str]:
        """``<id>.typical`` and ``<id>.omega`` per individual parameter."""
        return [f"{n}.{k}" for n in self.individual for k in ("typical", "omega")]

    def scale(self, name: str) -> str:
        """``"logit"`` or ``"log"``: the optimiser scale of parameter ``name``."""
        pid, kind = name.rsplit(".", 1)
        return "logit" if kind == "typical" and self.spec.individual[pid].distribution == "logitnormal" else "log"

    def _column(self, index: int) -> tuple[float, float, float]:
        name = self.parameter_names[index]
        pid, kind = name.rsplit(".", 1)
        start, lo, hi = getattr(self.spec.individual[pid], kind)
        f = _logit if self.scale(name) == "logit" else math.log
        return f(start), f(lo), f(hi)

    @property
    def x0(self) -> np.ndarray:
        """The file's start values (optimiser coordinates)."""
        return np.array([self._column(i)[0] for i in range(len(self.parameter_names))])

    @property
    def bounds(self) -> np.ndarray:
        """Lower and upper bounds (optimiser coordinates), shape (parameters, 2)."""
        return np.array([self._column(i)[1:] for i in range(len(self.parameter_names))])

    def natural(self, x: Vector) -> dict[str, float]:
        """Optimiser coordinates -> typical values and SDs."""
        return {n: float(_expit(v) if self.scale(n) == "logit" else math.exp(v))
                for n, v in zip(self.parameter_names, x, strict=True)}

    def patients(self, x: Vector) -> pd.DataFrame:
        """The individual parameters of the virtual patients at ``x``."""
        nat = self.natural(x)
        cols = {}
        for j, pid in enumerate(self.individual):
            typ, om = nat[f"{pid}.typical"], nat[f"{pid}.omega"]
            if self.spec.individual[pid].distribution == "lognormal":
                cols[pid] = typ * np.exp(om * self.z[:, j])
            else:
                cols[pid] = _expit(_logit(typ) + om * self.z[:, j])
        return pd.DataFrame(cols)

    # -- simulation -----------------------------------------------------------------------------------
    def _simulator(self, arm: ArmSpec) -> Simulator:
        key = ("placebo",) if arm.drug == "placebo" else (arm.drug, arm.dose_mg, tuple(arm.dose_weeks))
        sim = self._sims.get(key)
        if sim is None:
            from qsp_sbml.dosing import Dose, Regimen, Route

            regimen = None
            if arm.drug != "placebo":
                drug = self.spec.drugs[arm.drug]
                nmol = drug.F * arm.dose_mg * 1e6 / drug.molecular_weight
                week = self.spec.model_time_per_week
                regimen = Regimen.of(*[Dose(amount=nmol, time=w * week, route=Route.SUBCUTANEOUS,
                                            target=self.spec.dose_target) for w in arm.dose_weeks])
            sim = Simulator.compile(self.model.to_sbml(regimen, end=self._end), source=self.model.source)
            sim.set_options(self.options)
            sim.select(self.outputs)
            self._sims[key] = sim
        return sim

    def _drug_values(self, arm: ArmSpec) -> dict[str, float]:
        if arm.drug == "placebo":
            return {}
        d = self.spec.drugs[arm.drug]
        per_day = 7.0 / self.spec.model_time_per_week  # days per model time unit
        q = d.Q_L_per_day if d.model == "two_compartment" else 0.0
        return {"CL": d.CL_L_per_day * per_day, "Q": q * per_day, "ka_sc": d.ka_per_day * per_day, "F_sc": d.F,
                "central": d.Vc_L, "peripheral": d.Vp_L}

    def simulate_arm(self, arm: ArmSpec, x: Vector) -> np.ndarray:
        """Outputs of every virtual patient at the arm's visits: (patients, visits, outputs); NaN if failed."""
        weeks = sorted({o.week for o in arm.observations})
        key: tuple[Any, ...] = (tuple(float(v) for v in x), arm.drug, arm.dose_mg, tuple(arm.dose_weeks), tuple(weeks))
        if arm.drug == "placebo":
            key = (key[0], "placebo", tuple(weeks))
        if key in self._memo:
            return self._memo[key]
        if any(k[0] != key[0] for k in self._memo):
            self._memo.clear()
        self._memo[key] = self._simulate(arm, x, weeks)
        return self._memo[key]

    def _simulate(self, arm: ArmSpec, x: Vector, weeks: list[float]) -> np.ndarray:
        sim = self._simulator(arm)
        t = np.asarray(weeks) * self.spec.model_time_per_week
        grid = np.unique(np.concatenate(([0.0], t)))
        rows = np.searchsorted(grid, t)
        fixed = {**self.spec.fixed, **self._drug_values(arm)}
        pats = self.patients(x)
        out = np.full((self.n_patients, len(t), len(self.outputs)), np.nan)
        for i, row in enumerate(pats.itertuples(index=False)):
            try:
                sim.reset({**fixed, **dict(zip(pats.columns, row, strict=True))})
                out[i] = sim.simulate_grid(grid)[rows, 1:]
            except RuntimeError as err:  # CVODE failure: the patient is left out, and counted
                logger.debug("arm %s patient %d failed: %s", arm.id, i, err)
        failed = int(np.isnan(out[:, 0, 0]).sum())
        if failed > self.n_patients // 10:
            raise CalibrationError(f"arm {arm.id!r}: {failed} of {self.n_patients} virtual patients failed to "
                                   f"integrate at {self.natural(x)}")
        return out

    def terms(self, arm: ArmSpec, x: Vector) -> np.ndarray:
        """Per observation of ``arm``: summary, log p and log(1 - p) (NaN for means), shape (observations, 3).

        The logs of a responder fraction are computed as log-sum-exp of log-sigmoids, exactly, with no
        clipping: far in a tail (a placebo arm with few responders) the likelihood keeps its gradient.
        """
        from scipy.special import log_expit, logsumexp

        values = self.simulate_arm(arm, x)
        weeks = sorted({o.week for o in arm.observations})
        out = np.full((len(arm.observations), 3), np.nan)
        for k, obs in enumerate(arm.observations):
            ep = self.spec.endpoints[obs.endpoint]
            y = values[:, weeks.index(obs.week), self.outputs.index(ep.output)]
            y = y[~np.isnan(y)]
            if ep.kind == "responder":
                u = (y - float(ep.threshold or 0.0)) / self.spec.smoothing
                log_p = float(logsumexp(log_expit(u)) - math.log(len(y)))
                log_q = float(logsumexp(log_expit(-u)) - math.log(len(y)))
                out[k] = (math.exp(log_p), log_p, log_q)
            else:
                out[k, 0] = float(np.mean(y))
        return out

    def summaries(self, arm: ArmSpec, x: Vector) -> np.ndarray:
        """Simulated arm-level summary of each observation of ``arm`` (responder fraction or mean)."""
        return self.terms(arm, x)[:, 0]

    def arms(self, group: str) -> list[ArmSpec]:
        """The arms of ``"calibration"`` or ``"prediction"``."""
        return list(getattr(self.spec, group))

    def all_summaries(self, x: Vector, group: str = "calibration") -> np.ndarray:
        """The summaries of every observation of ``group``, in file order."""
        return np.concatenate([self.summaries(a, x) for a in self.arms(group)])

    def observations(self, group: str = "calibration") -> list[tuple[ArmSpec, Any]]:
        """``(arm, observation)`` of ``group`` in file order."""
        return [(a, o) for a in self.arms(group) for o in a.observations]

    def all_terms(self, x: Vector, group: str = "calibration") -> np.ndarray:
        """:meth:`terms` of every observation of ``group``, in file order."""
        return np.concatenate([self.terms(a, x) for a in self.arms(group)])

    def negative_log_likelihood(self, x: Vector, group: str = "calibration") -> float:
        """Binomial (responders) plus normal (means) negative log-likelihood of ``group`` at ``x``."""
        return nllh_of_terms([o for _, o in self.observations(group)], self.all_terms(x, group))


def nllh_of_terms(observations: Sequence[Any], terms: np.ndarray) -> float:
    """Negative log-likelihood of observations given their :meth:`PopulationProblem.terms`."""
    total = 0.0
    for obs, (s, log_p, log_q) in zip(observations, terms, strict=True):
        if obs.responders is not None:
            k, n = obs.responders, obs.n
            log_choose = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            total -= log_choose + k * log_p + (n - k) * log_q
        else:
            se = obs.sd / math.sqrt(obs.n)
            total += 0.5 * ((obs.mean - s) / se) ** 2 + math.log(se * math.sqrt(2 * math.pi))
    return total


def _weights(problem: PopulationProblem, sims: np.ndarray, group: str) -> np.ndarray:
    """Fisher weights of the summaries: n / (p (1 - p)) for proportions, n / sd^2 for means."""
    w = []
    for (_, obs), s in zip(problem.observations(group), sims, strict=True):
        if obs.responders is not None:
            p = min(max(float(s), 1e-3), 1 - 1e-3)
            w.append(obs.n / (p * (1 - p)))
        else:
            w.append(obs.n / obs.sd ** 2)
    return np.asarray(w)


@dataclass(frozen=True)
class PopulationFit:
    """The result of :func:`fit_population`."""

    problem: PopulationProblem
    #: Best estimate (optimiser coordinates) and its negative log-likelihood.
    x: np.ndarray
    nllh: float
    #: Covariance of ``x`` (optimiser coordinates) from the Fisher information.
    covariance: np.ndarray
    #: One row per start: start, nllh, success, message, estimates.
    starts: pd.DataFrame
    attrs: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> pd.DataFrame:
        """Estimates (natural scale) with standard errors and 90 % Wald intervals (optimiser coordinates)."""
        names = self.problem.parameter_names
        se = np.sqrt(np.clip(np.diag(self.covariance), 0, None))
        lo, hi = self.problem.bounds.T
        rows = []
        for i, name in enumerate(names):
            nat = self.problem.natural
            low = np.clip(self.x - 1.645 * se[i] * np.eye(len(names))[i], lo, hi)
            up = np.clip(self.x + 1.645 * se[i] * np.eye(len(names))[i], lo, hi)
            rows.append({"parameter": name, "scale": self.problem.scale(name), "estimate": nat(self.x)[name],
                         "se_on_scale": float(se[i]), "lower_90": nat(low)[name], "upper_90": nat(up)[name],
                         "label": "fitted"})
        return pd.DataFrame(rows)


def _fisher_covariance(problem: PopulationProblem, x: np.ndarray, *, step: float = 0.05) -> np.ndarray:
    """Pseudo-inverse of J' W J (central differences of the calibration summaries)."""
    base = problem.all_summaries(x)
    jac = np.empty((len(base), len(x)))
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = step
        jac[:, i] = (problem.all_summaries(x + e) - problem.all_summaries(x - e)) / (2 * step)
    fim = jac.T @ (_weights(problem, base, "calibration")[:, None] * jac)
    vals, vecs = np.linalg.eigh(fim)
    width = np.diff(problem.bounds, axis=1).ravel()
    cap = 1.0 / float(np.max(width)) ** 2  # an uninformed direction: SD about the width of the box
    inv = np.where(vals > cap, 1.0 / np.maximum(vals, cap), 1.0 / cap)
    return np.asarray((vecs * inv) @ vecs.T)


def fit_population(problem: PopulationProblem, *, starts: int = 3, seed: int = 0, maxiter: int = 60) -> PopulationFit:
    """Multistart L-BFGS-B fit of the calibration arms; the covariance from the Fisher information.

    The first start is the split file's start values, the others uniform in the bounds (``seed``).
    """
    from scipy.optimize import minimize

    if starts < 1:
        raise CalibrationError(f"starts must be >= 1, got {starts}")
    bounds = problem.bounds
    rng = np.random.default_rng(seed)
    points = [problem.x0] + [rng.uniform(bounds[:, 0], bounds[:, 1]) for _ in range(starts - 1)]
    rows = []
    best = None
    for k, x0 in enumerate(points):
        res = minimize(problem.negative_log_likelihood, x0, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": maxiter, "eps": 1e-2})
        rows.append({"start": k, "nllh": float(res.fun), "success": bool(res.success), "message": str(res.message),
                     "evaluations": int(res.nfev), **problem.natural(res.x)})
        logger.info("start %d: nllh %.4f (%s)", k, res.fun, res.message)
        if best is None or res.fun < best.fun:
            best = res
    if best is None:  # unreachable: starts >= 1
        raise CalibrationError("no start ran")
    cov = _fisher_covariance(problem, np.asarray(best.x))
    return PopulationFit(problem, np.asarray(best.x), float(best.fun), cov, pd.DataFrame(rows),
                         {"seed": seed, "starts": starts, "n_patients": problem.n_patients,
                          "population_seed": problem.seed})


def _posterior_draws(fit: PopulationFit, draws: int, thin: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """Random-walk Metropolis from the estimate (flat prior on the optimiser coordinates inside the bounds).

    Proposal: independent normal steps of SD ``2.38 / sqrt(p) x min(se, 0.25)`` per coordinate (``se`` from
    the Fisher information).  Returns every ``thin``-th state (``draws`` of them), their calibration
    terms and the acceptance rate.
    """
    problem = fit.problem
    lo, hi = problem.bounds.T
    obs = [o for _, o in problem.observations("calibration")]
    step = 2.38 / math.sqrt(len(fit.x)) * np.minimum(np.sqrt(np.clip(np.diag(fit.covariance), 0, None)), 0.25)
    x = fit.x.copy()
    terms = problem.all_terms(x, "calibration")
    cur = nllh_of_terms(obs, terms)
    xs, kept, accepted = [], [], 0
    for k in range(draws * thin):
        prop = x + step * rng.standard_normal(len(x))
        if np.all(prop >= lo) and np.all(prop <= hi):
            t_prop = problem.all_terms(prop, "calibration")
            new = nllh_of_terms(obs, t_prop)
            if math.log(rng.uniform()) < cur - new:
                x, terms, cur, accepted = prop, t_prop, new, accepted + 1
        if (k + 1) % thin == 0:
            xs.append(x.copy())
            kept.append(terms.copy())
    return np.asarray(xs), np.asarray(kept), accepted / (draws * thin)


def _interval(obs: Any, values: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """5-95 % of replicate trials of the arm's size, one per resampled parameter draw's summary ``values``."""
    if obs.responders is not None:
        sample = rng.binomial(obs.n, np.clip(values, 0, 1)) / obs.n
    else:
        sample = rng.normal(values, obs.sd / math.sqrt(obs.n))
    return float(np.quantile(sample, 0.05)), float(np.quantile(sample, 0.95))


def predict_arms(fit: PopulationFit, *, draws: int = 20, thin: int = 4, seed: int = 0) -> pd.DataFrame:
    """Observed vs simulated for every arm and visit, with the 90 % prediction interval.

    Parameter uncertainty: ``draws`` posterior draws (random-walk Metropolis from the estimate, every
    ``thin``-th state; the acceptance rate is in ``table.attrs``); each draw gives 200 replicate trials
    of the arm's size (binomial counts, normal means).  Rows of the calibration set are labelled
    ``fitted``, those of the prediction set ``predicted``; ``simulated`` is the summary at the estimate.
    """
    rng = np.random.default_rng(seed)
    problem = fit.problem
    xs, cal_terms, acceptance = _posterior_draws(fit, draws, thin, rng)
    per_draw = {"calibration": cal_terms[:, :, 0],
                "prediction": np.array([problem.all_summaries(x, "prediction") for x in xs])}
    pick = np.repeat(np.arange(draws), 200)
    rows = []
    for group, label in (("calibration", "fitted"), ("prediction", "predicted")):
        point = problem.all_summaries(fit.x, group)
        values = per_draw[group]
        for j, (arm, obs) in enumerate(problem.observations(group)):
            observed = obs.responders / obs.n if obs.responders is not None else obs.mean
            lo, hi = _interval(obs, values[pick, j], rng)
            rows.append({"label": label, "arm": arm.id, "trial": arm.trial, "drug": arm.drug,
                         "dose_mg": arm.dose_mg, "endpoint": obs.endpoint, "week": obs.week, "n": obs.n,
                         "observed": round(float(observed), 4), "simulated": round(float(point[j]), 4),
                         "pi_lower": round(lo, 4), "pi_upper": round(hi, 4),
                         "abs_error": round(abs(float(point[j]) - float(observed)), 4),
                         "inside_pi": bool(lo <= observed <= hi)})
    table = pd.DataFrame(rows)
    table.attrs.update(draws=draws, thin=thin, acceptance=round(acceptance, 3))
    return table


def population_metrics(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per label (``fitted``, ``predicted``): points, MAE, max error, 90 % PI coverage, CCC."""
    out = {}
    for label, sub in table.groupby("label"):
        obs, sim = sub["observed"].to_numpy(float), sub["simulated"].to_numpy(float)
        out[str(label)] = {"points": int(len(sub)), "mean_abs_error": round(float(np.mean(np.abs(sim - obs))), 4),
                           "max_abs_error": round(float(np.max(np.abs(sim - obs))), 4),
                           "coverage_90": round(float(sub["inside_pi"].mean()), 4),
                           "ccc": round(concordance_correlation(obs, sim), 4)}
    return out


def write_population_results(out: str | Path, fit: PopulationFit, table: pd.DataFrame,
                             metrics: dict[str, dict[str, float]]) -> Path:
    """Write ``parameters.tsv``, ``starts.tsv``, ``predictions.tsv`` and ``metrics.json`` into ``out`` (whole)."""
    from qsp_sbml._io import atomic_folder, atomic_write_text, json_text

    summary = {"module": fit.problem.spec.module, "nllh": fit.nllh, **fit.attrs, **table.attrs, "metrics": metrics,
               "note": "metrics under 'predicted' are on the prediction set only (never fitted)"}
    texts = {"parameters.tsv": fit.parameters().to_csv(sep="\t", index=False),
             "starts.tsv": fit.starts.to_csv(sep="\t", index=False),
             "predictions.tsv": table.to_csv(sep="\t", index=False),
             "metrics.json": json_text(summary)}
    with atomic_folder(out) as tmp:
        for name, text in texts.items():
            atomic_write_text(tmp / name, text)
    return Path(out)
