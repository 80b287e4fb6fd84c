"""N-of-1 digital twin (``type: n_of_1``): one patient's sparse data -> individual posterior -> regimens ranked.

The design names a model, the patient's observations (a CSV: ``time_h, output, value``), the regimen the
patient received while they were observed (``history``), the individual parameters with their population
prior (typical value and log-normal IIV), the residual error per observed output, candidate regimens and
a target. :func:`qsp_sbml.trial.twin.fit_twin` gives the MAP estimate, the Laplace approximation and an
importance-resampled posterior sample; every posterior draw is simulated under every candidate regimen
(:func:`qsp_sbml.population.simulate_cohort`, any engine) and the regimens are ranked by the posterior
probability that the target is met (:func:`qsp_sbml.trial.twin.rank_regimens`), with Monte Carlo and
credible intervals.

Target: the ``output`` over the window ``[from_h, to_h]`` must stay ``below`` (its maximum) or ``above``
(its minimum) ``threshold`` — e.g. residual PASI / baseline <= 0.10 (PASI90) at every weekly visit of
weeks 40-52.

The patient may instead come from a FHIR R4 record: ``patient: {fhir: record.json, mapping: mapping.yaml}``
(optional ``id``, ``t0``); the observations and the dosing ``history`` are then read from the record by
:func:`qsp_sbml.rwe.twin.design_source` (needs the ``rwe`` extra) and the design gives no ``history``.

A ``synthetic_patient`` block (truth and seed) documents how a shipped synthetic patient file was made;
:func:`make_patient` regenerates it, and the report then compares the posterior with the truth.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from qsp_sbml.engine import Engine, SerialEngine
from qsp_sbml.errors import QspError, TrialDesignError
from qsp_sbml.trial._design_file import TrialFile
from qsp_sbml.trial.twin import ResidualError, TwinPosterior, TwinPrior, fit_twin, rank_regimens
from qsp_sbml.typed_yaml import At, Finite, NonNegative, Positive, SpecModel, YamlDoc, parse, spec_error

__all__ = ["NOf1Design", "NOf1DesignFile", "make_patient", "read_patient", "run", "validate"]



@dataclass(frozen=True)
class Target:
    """Target attainment: ``output`` stays ``direction`` ``threshold`` over ``[from_h, to_h]``."""

    output: str
    threshold: float
    direction: str
    from_h: float
    to_h: float


@dataclass(frozen=True)
class NOf1Design:
    """A validated N-of-1 twin design."""

    name: str
    source: Path
    model: Path
    patient: Path
    history: str
    fixed: dict[str, float]
    prior: TwinPrior
    errors: dict[str, tuple[float, float]]
    regimens: dict[str, str]
    target: Target
    n_proposals: int
    n_sample: int
    starts: int
    grid_step_h: float
    truth: dict[str, float] | None
    truth_seed: int | None
    #: Observations read from a FHIR record (``patient: {fhir: ...}``); None: read ``patient`` (CSV).
    observations: pd.DataFrame | None = None


def _regimen_text(text: str) -> str:
    from qsp_sbml._regimen_text import parse_regimen_text

    if not text.strip():
        raise ValueError("must be a regimen text (e.g. '150 mg sc at 0,4 wk to X then q12wk')")
    try:
        parse_regimen_text(text)
    except QspError as err:
        raise ValueError(str(err)) from None
    return text


class _Parameter(SpecModel):
    typical: Positive
    #: Log-normal CV, or ``sd_log`` (SD of the log parameter).
    cv: Positive | None = None
    sd_log: Positive | None = None

    @model_validator(mode="after")
    def _spread(self) -> _Parameter:
        if self.cv is None and self.sd_log is None:
            raise At("cv", "needs cv (log-normal CV) or sd_log (SD of the log parameter)")
        return self

    def sd(self) -> float:
        return math.sqrt(math.log1p(float(self.cv) ** 2)) if self.cv is not None else float(self.sd_log)  # type: ignore[arg-type]


class _Error(SpecModel):
    additive: NonNegative = 0.0
    proportional: NonNegative = 0.0

    @model_validator(mode="after")
    def _some(self) -> _Error:
        if self.additive == self.proportional == 0:
            raise At("", "needs additive and/or proportional > 0 (and none negative)")
        return self


class _Target(SpecModel):
    output: Annotated[str, Field(min_length=1)]
    threshold: Finite
    direction: Literal["below", "above"] = "below"
    window_h: list[Finite]

    @field_validator("window_h")
    @classmethod
    def _window(cls, v: list[float]) -> list[float]:
        if len(v) != 2 or not 0 <= v[0] <= v[1]:
            raise ValueError(f"must be [from, to] hours with 0 <= from <= to, got {v!r}")
        return v


class _Posterior(SpecModel):
    n_proposals: Annotated[int, Field(ge=10)] = 1000
    n_sample: Annotated[int, Field(ge=1)] | None = None
    starts: Annotated[int, Field(ge=1)] = 3


class _Synthetic(SpecModel):
    truth: Annotated[dict[str, Positive], Field(min_length=1)]
    seed: int


class _FhirPatient(SpecModel):
    """``patient: {fhir: RECORD, mapping: MAPPING.yaml, id: ..., t0: ...}`` (read by :mod:`qsp_sbml.rwe.twin`)."""

    fhir: Annotated[str, Field(min_length=1)]
    mapping: Annotated[str, Field(min_length=1)]
    id: str | None = None
    t0: str | None = None


class NOf1DesignFile(TrialFile):
    """The fields of a ``type: n_of_1`` design file."""

    type: Literal["n_of_1"]
    #: The patient's observations (``time_h, output, value``); may be missing with ``synthetic_patient``;
    #: or the patient's FHIR record (observations and dosing history).
    patient: Annotated[str, Field(min_length=1)] | _FhirPatient
    history: str | None = None
    fixed: dict[str, Finite] = Field(default_factory=dict)
    parameters: Annotated[dict[str, _Parameter], Field(min_length=1)]
    correlations: dict[str, Finite] = Field(default_factory=dict)
    error: Annotated[dict[str, _Error], Field(min_length=1)]
    regimens: Annotated[dict[str, str], Field(min_length=1)]
    target: _Target
    posterior: _Posterior = Field(default_factory=_Posterior)
    synthetic_patient: _Synthetic | None = None
    grid_step_h: Positive = 24.0
    sources: list[str] | str | dict[str, str] | None = None

    _history = field_validator("history")(lambda v: v if v is None else _regimen_text(v))

    @field_validator("regimens")
    @classmethod
    def _regimens(cls, v: dict[str, str]) -> dict[str, str]:
        for k, text in v.items():
            try:
                _regimen_text(text)
            except ValueError as err:
                raise At(k, str(err)) from None
        return v

    @model_validator(mode="after")
    def _cross(self) -> NOf1DesignFile:
        if isinstance(self.patient, _FhirPatient):
            if self.history is not None:
                raise At("history", "the history comes from the FHIR record; remove it")
            if self.synthetic_patient is not None:
                raise At("synthetic_patient", "a synthetic patient is a CSV patient file, not a FHIR record")
        elif self.history is None:
            raise At("history", "required field is missing (the regimen the patient received)")
        names = list(self.parameters)
        for name in names:
            if name in self.fixed:
                raise At(f"fixed.{name}", "is both estimated and fixed")
        for pair, rv in self.correlations.items():
            ids = [x.strip() for x in str(pair).split(",")]
            if len(ids) != 2 or ids[0] == ids[1] or not all(i in names for i in ids):
                raise At(f"correlations.{pair}", "must name two different estimated parameters as 'a,b' "
                         f"({', '.join(names)})")
            if not -1 < rv < 1:
                raise At(f"correlations.{pair}", f"must be in (-1, 1), got {rv}")
        if self.synthetic_patient is not None:
            for k in names:
                if k not in self.synthetic_patient.truth:
                    raise At(f"synthetic_patient.truth.{k}", f"no true value for estimated parameter {k!r}")
        return self


def validate(spec: Mapping[str, Any] | YamlDoc, *, source: Path) -> NOf1Design:
    """Check a ``type: n_of_1`` design; errors name the file, line and field (e.g. ``parameters.pk__CL.cv``)."""
    from qsp_sbml.trial.design import as_doc

    doc = as_doc(spec, source)
    base = Path(source).resolve().parent
    d = parse(NOf1DesignFile, doc, error=lambda m: TrialDesignError(m, field=None), base=base)

    def fail(fld: str, message: str) -> Exception:
        return spec_error(doc, fld, message, error=lambda m: TrialDesignError(m, field=fld))

    names = list(d.parameters)
    sds = np.array([p.sd() for p in d.parameters.values()])
    corr = np.eye(len(names))
    for pair, rv in d.correlations.items():
        i, j = (names.index(x.strip()) for x in pair.split(","))
        corr[i, j] = corr[j, i] = rv
    if np.any(np.linalg.eigvalsh(corr) <= 0):
        raise fail("correlations", "the correlations do not form a positive-definite matrix")
    prior = TwinPrior(names=tuple(names), typical=np.array([float(p.typical) for p in d.parameters.values()]),
                      omega=corr * np.outer(sds, sds))
    fhir_obs = None
    history = d.history
    if isinstance(d.patient, _FhirPatient):  # the patient's record: observations and history
        from qsp_sbml.rwe.twin import design_source

        try:
            twin = design_source(d.patient.model_dump(exclude_none=True), base)
        except QspError as err:
            raise fail("patient", str(err)) from None
        patient, history = (base / d.patient.fhir).resolve(), twin.regimen.to_text()
        fhir_obs = twin.observations[["time_h", "output", "value"]].copy()
    else:
        patient = (base / d.patient).resolve()
    t = d.target
    n_prop = d.posterior.n_proposals
    truth = None if d.synthetic_patient is None else {k: float(v) for k, v in d.synthetic_patient.truth.items()}
    design = NOf1Design(
        name=d.name if d.name is not None else Path(source).stem, source=Path(source), model=(base / d.model).resolve(),
        patient=patient, history=str(history), fixed={k: float(v) for k, v in d.fixed.items()}, prior=prior,
        errors={k: (float(e.additive), float(e.proportional)) for k, e in d.error.items()}, regimens=dict(d.regimens),
        target=Target(t.output, float(t.threshold), t.direction, float(t.window_h[0]), float(t.window_h[1])),
        n_proposals=n_prop, n_sample=d.posterior.n_sample if d.posterior.n_sample is not None else n_prop // 2,
        starts=d.posterior.starts, grid_step_h=float(d.grid_step_h), truth=truth,
        truth_seed=None if d.synthetic_patient is None else d.synthetic_patient.seed, observations=fhir_obs,
    )
    if fhir_obs is not None or patient.is_file():
        obs = fhir_obs if fhir_obs is not None else read_patient(patient)
        missing = sorted(set(obs["output"]) - set(d.error))
        if missing:
            raise fail(f"error.{missing[0]}", f"the patient file observes {missing[0]!r} but no error model is "
                       "given for it")
    elif truth is None:
        raise fail("patient", f"no such file: {patient}")
    return design


def read_patient(path: Path) -> pd.DataFrame:
    """The patient's observations: CSV with ``time_h, output, value`` (errors name the row)."""
    try:
        frame = pd.read_csv(path, comment="#")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise TrialDesignError(f"{path}: cannot read: {err}", field="patient") from None
    for col in ("time_h", "output", "value"):
        if col not in frame.columns:
            raise TrialDesignError(f"{path}: no column {col!r} (columns: {', '.join(map(str, frame.columns))})",
                                   field="patient")
    for col in ("time_h", "value"):
        num = pd.to_numeric(frame[col], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(num.to_numpy(dtype=float)) | (num.to_numpy(dtype=float) < 0))
        if bad.size:
            raise TrialDesignError(f"{path}: row {int(bad[0]) + 1}: {col} must be a number >= 0, got "
                                   f"{frame[col].iloc[int(bad[0])]!r}", field="patient")
        frame[col] = num.astype(float)
    if frame.empty:
        raise TrialDesignError(f"{path}: no observations", field="patient")
    return frame[["time_h", "output", "value"]].reset_index(drop=True)


class _Observations:
    """Predictions of the observed outputs at the observed times for parameter vectors."""

    def __init__(self, design: NOf1Design, model: Any, obs: pd.DataFrame, engine: Engine) -> None:
        self.design, self.model, self.engine = design, model, engine
        self.outputs = sorted(set(obs["output"]))
        self.times = np.unique(obs["time_h"].to_numpy())
        self.t_idx = np.searchsorted(self.times, obs["time_h"].to_numpy())
        self.o_idx = np.array([self.outputs.index(o) for o in obs["output"]])
        for out in self.outputs:
            if out not in model.species_ids and out not in model.parameter_ids:
                raise TrialDesignError(f"the patient file observes {out!r}, which is not in the model",
                                       field="patient", value=out)

    def one(self, theta: np.ndarray) -> np.ndarray:
        from qsp_sbml.errors import SimulationError

        values = {**self.design.fixed, **dict(zip(self.design.prior.names, map(float, theta), strict=True))}
        try:
            sim = self.model.simulate(self.times, selections=self.outputs, parameters=values,
                                      regimen=self.design.history)
        except SimulationError:  # an extreme trial point of the optimiser: infinite objective, it backs off
            return np.full(self.t_idx.size, np.nan)
        arr = sim[self.outputs].to_numpy()
        return np.asarray(arr[self.t_idx, self.o_idx], dtype=float)

    def many(self, thetas: np.ndarray) -> np.ndarray:
        vals = _simulate_draws(self.design, self.model, thetas, self.times, self.outputs, self.design.history,
                               self.engine)
        return vals[:, self.t_idx, self.o_idx]


def _simulate_draws(design: NOf1Design, model: Any, thetas: np.ndarray, times: np.ndarray, outputs: list[str],
                    regimen: str, engine: Engine) -> np.ndarray:
    from qsp_sbml.population import Cohort, simulate_cohort

    table = pd.DataFrame(np.atleast_2d(thetas), columns=list(design.prior.names))
    for k, v in design.fixed.items():
        table[k] = v
    res = simulate_cohort(model, Cohort.from_parts(parameters=table), times, outputs=outputs, regimen=regimen,
                          engine=engine, progress=False)
    return np.asarray(res.values, dtype=float)  # failed draws are NaN: their weight is 0 in fit_twin


def make_patient(design: NOf1Design, *, times: Mapping[str, list[float]]) -> str:
    """CSV text of a synthetic patient: the truth simulated under the history regimen plus residual error.

    ``times`` maps each output to its observation times (h); the noise comes from ``synthetic_patient.seed``.
    A noisy value below zero is recorded as 0 (a score or concentration cannot be negative).
    """
    import qsp_sbml

    if design.truth is None or design.truth_seed is None:
        raise TrialDesignError("needs a synthetic_patient block with truth and seed", field="synthetic_patient")
    model = qsp_sbml.load_model(design.model)
    rng = np.random.default_rng(design.truth_seed)
    rows = []
    for out, ts in times.items():
        if out not in design.errors:
            raise TrialDesignError(f"no error model for {out!r}", field=f"error.{out}")
        sim = model.simulate(np.asarray(ts, dtype=float), selections=[out],
                             parameters={**design.fixed, **design.truth}, regimen=design.history)[out].to_numpy()
        a, b = design.errors[out]
        noisy = sim + rng.standard_normal(sim.size) * np.sqrt(a * a + (b * sim) ** 2)
        rows += [(t, out, max(float(v), 0.0)) for t, v in zip(ts, noisy, strict=True)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["time_h", "output", "value"])
    for t, out, v in rows:
        w.writerow([f"{t:g}", out, f"{v:.4g}"])
    return buf.getvalue()


def _target_metric(values: np.ndarray, times: np.ndarray, target: Target) -> np.ndarray:
    window = (times >= target.from_h) & (times <= target.to_h)
    sub = values[:, window]
    return np.max(sub, axis=1) if target.direction == "below" else np.min(sub, axis=1)


#: The figures :func:`report` draws.
PLOTS = ("n_of_1_fit.png", "n_of_1_regimens.png")


@dataclass(frozen=True)
class NOf1Simulation:
    """The twin (posterior of the patient's parameters) and every candidate regimen simulated over it."""

    obs: pd.DataFrame
    pred: _Observations
    post: TwinPosterior
    grid: np.ndarray
    trajectories: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]
    typical_metric: dict[str, float]


def simulate(design: NOf1Design, *, seed: int, engine: Engine, max_replicates: int | None = None) -> NOf1Simulation:
    """Fit the twin to the patient's observations and simulate every regimen over its posterior draws.

    One patient: ``max_replicates`` does not apply.
    """
    import qsp_sbml

    model = qsp_sbml.load_model(design.model)
    if design.target.output not in model.species_ids and design.target.output not in model.parameter_ids:
        raise TrialDesignError(f"{design.target.output!r} is not in the model", field="target.output",
                               value=design.target.output)
    for name in (*design.prior.names, *design.fixed):
        if name not in model.parameter_ids and name not in model.compartment_ids:
            raise TrialDesignError(f"{name!r} is not a parameter of the model", field=f"parameters.{name}")
    obs = design.observations if design.observations is not None else read_patient(design.patient)
    a = np.array([design.errors[o][0] for o in obs["output"]])
    b = np.array([design.errors[o][1] for o in obs["output"]])
    pred = _Observations(design, model, obs, engine)
    post = fit_twin(pred.one, obs["value"].to_numpy(), design.prior, ResidualError(additive=a, proportional=b),
                    predict_many=pred.many, n_proposals=design.n_proposals, n_sample=design.n_sample,
                    seed=np.random.default_rng(np.random.SeedSequence(int(seed))), starts=design.starts)
    end = max(design.target.to_h, float(obs["time_h"].max()))
    grid = np.unique(np.concatenate([np.arange(0.0, end + 1e-9, design.grid_step_h), [design.target.from_h,
                                                                                    design.target.to_h]]))
    trajectories, metrics = {}, {}
    for label, reg in design.regimens.items():
        vals = _simulate_draws(design, model, post.theta_sample, grid, [design.target.output], reg, engine)[:, :, 0]
        trajectories[label] = vals
        metrics[label] = _target_metric(vals, grid, design.target)
    typical_metric = {label: float(_target_metric(
        _simulate_draws(design, model, design.prior.typical[None, :], grid, [design.target.output], reg,
                        SerialEngine())[:, :, 0], grid, design.target)[0]) for label, reg in design.regimens.items()}
    return NOf1Simulation(obs, pred, post, grid, trajectories, metrics, typical_metric)


def analyse(design: NOf1Design, simulation: NOf1Simulation, *, seed: int) -> dict[str, Any]:
    """The summary: the twin's parameters and the regimens ranked by the probability of reaching the target."""
    post = simulation.post
    ranks = rank_regimens(simulation.metrics, threshold=design.target.threshold, direction=design.target.direction)
    summary: dict[str, Any] = {
        "type": "n_of_1", "name": design.name, "seed": int(seed),
        "observations": int(len(simulation.obs)), "parameters": post.summary(0.9),
        "map_objective": post.objective, "optimizer_evaluations": post.n_evaluations,
        "importance_sampling": {"proposals": post.n_proposals, "ess": post.ess, "sample": int(post.sample.shape[0]),
                                "laplace_hessian_positive_definite": post.laplace_ok},
        "target": {"output": design.target.output, "threshold": design.target.threshold,
                   "direction": design.target.direction, "window_h": [design.target.from_h, design.target.to_h]},
        "regimens": [{"rank": r.rank, "regimen": r.regimen, "text": design.regimens[r.regimen],
                      "probability": r.probability, "probability_ci95": [r.prob_low, r.prob_high],
                      "metric_median": r.metric_median, "metric_ci90": [r.metric_low, r.metric_high],
                      "typical_patient_metric": simulation.typical_metric[r.regimen]} for r in ranks],
        "truth": design.truth, "plots": list(PLOTS),
    }
    return summary


def report(design: NOf1Design, simulation: NOf1Simulation, summary: Mapping[str, Any], out: Path) -> str:
    """Draw :data:`PLOTS` into ``out``; return the Markdown report."""
    s = simulation
    _plots(out, design, s.post, s.obs, s.pred, s.grid, s.trajectories)
    return _report(dict(summary), design)


def run(design: NOf1Design, *, seed: int, engine: Engine, out: Path) -> tuple[dict[str, Any], str]:
    """Fit the twin and rank the regimens (:func:`~qsp_sbml.trial.kinds.run_kind`); figures go to ``out``."""
    import sys

    from qsp_sbml.trial.kinds import TrialKind, run_kind

    return run_kind(cast(TrialKind, sys.modules[__name__]), design, seed=seed, engine=engine, out=out)


def _plots(out: Path, design: NOf1Design, post: TwinPosterior, obs: pd.DataFrame, pred: _Observations,
           grid: np.ndarray, trajectories: Mapping[str, np.ndarray]) -> list[str]:
    from qsp_sbml.plot import pyplot, save_figure

    plt = pyplot()
    files = []
    fig, axes = plt.subplots(1, len(pred.outputs), figsize=(4.5 * len(pred.outputs), 3.4), squeeze=False)
    draws = pred.many(post.theta_sample[: min(200, post.sample.shape[0])])
    fine = obs.assign(k=np.arange(len(obs)))
    prior_typ = pred.one(post.prior.typical)
    map_pred = pred.one(post.theta_map)
    for ax, out_id in zip(axes[0], pred.outputs, strict=True):
        rows = fine[fine["output"] == out_id].sort_values("time_h")
        k = rows["k"].to_numpy()
        t = rows["time_h"].to_numpy() / 168
        ax.fill_between(t, np.nanquantile(draws[:, k], 0.05, axis=0), np.nanquantile(draws[:, k], 0.95, axis=0),
                        color="tab:orange", alpha=0.3, lw=0, label="posterior 90%")
        ax.plot(t, map_pred[k], "-", color="tab:orange", label="MAP twin")
        ax.plot(t, prior_typ[k], "--", color="grey", label="typical patient")
        ax.plot(t, rows["value"], "ko", ms=4, label="observed")
        ax.set_title(out_id, fontsize=9)
        ax.set_xlabel("time (weeks)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    files.append(save_figure(fig, out / "n_of_1_fit.png").name)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for label, vals in trajectories.items():
        line = ax.plot(grid / 168, np.median(vals, axis=0), label=label)
        ax.fill_between(grid / 168, np.quantile(vals, 0.05, axis=0), np.quantile(vals, 0.95, axis=0),
                        color=line[0].get_color(), alpha=0.15, lw=0)
    ax.axhline(design.target.threshold, color="black", ls="--", lw=1)
    ax.axvspan(design.target.from_h / 168, design.target.to_h / 168, color="grey", alpha=0.1)
    ax.set_xlabel("time (weeks)")
    ax.set_ylabel(f"{design.target.output} (median, 90% band)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    files.append(save_figure(fig, out / "n_of_1_regimens.png").name)
    return files


def _report(s: dict[str, Any], design: NOf1Design) -> str:
    t, imp = s["target"], s["importance_sampling"]
    lines = [f"# N-of-1 twin: {design.name}", "",
             f"{s['observations']} observations; MAP by L-BFGS-B ({s['optimizer_evaluations']} model evaluations), "
             f"posterior by importance resampling of the Laplace approximation "
             f"(ESS {imp['ess']:.0f} of {imp['proposals']}); seed {s['seed']}."
             + ("" if imp["laplace_hessian_positive_definite"] else
                " **The Hessian at the MAP was not positive definite: the prior covariance was the proposal.**"),
             "", "| parameter | typical | MAP | posterior median | 90% CrI | Laplace 90% | truth |",
             "|---|---|---|---|---|---|---|"]
    for name, p in s["parameters"].items():
        truth = s["truth"].get(name) if s["truth"] else None
        lines.append(f"| {name} | {p['typical']:.4g} | {p['map']:.4g} | {p['median']:.4g} | {p['ci_low']:.4g}-"
                     f"{p['ci_high']:.4g} | {p['laplace_ci_low']:.4g}-{p['laplace_ci_high']:.4g} | "
                     f"{'' if truth is None else f'{truth:.4g}'} |")
    word = "max" if t["direction"] == "below" else "min"
    lines += ["", f"Target: {word} of `{t['output']}` over {t['window_h'][0] / 168:g}-{t['window_h'][1] / 168:g} "
              f"weeks {'<=' if t['direction'] == 'below' else '>='} {t['threshold']:g}.", "",
              "| rank | regimen | P(target) | 95% MC interval | metric median (90% CrI) | typical patient |",
              "|---|---|---|---|---|---|"]
    for r in s["regimens"]:
        lines.append(f"| {r['rank']} | {r['regimen']} | {r['probability']:.2f} | {r['probability_ci95'][0]:.2f}-"
                     f"{r['probability_ci95'][1]:.2f} | {r['metric_median']:.3g} ({r['metric_ci90'][0]:.3g}-"
                     f"{r['metric_ci90'][1]:.3g}) | {r['typical_patient_metric']:.3g} |")
    lines += ["", *[f"![{p}]({p})" for p in s["plots"]], ""]
    return "\n".join(lines)


#: Observation times (h) of the shipped synthetic patient (trials/n_of_1_patient.csv): drug concentrations and
#: PASI one hour before the week-4 dose and at weeks 8, 12 and 16 (before the week-16 dose).
PATIENT_TIMES: dict[str, list[float]] = {
    "pk_C_free": [671.0, 1344.0, 2016.0, 2687.0],
    "disease__PASI": [671.0, 1344.0, 2016.0, 2687.0],
}


def screen(summary: Mapping[str, Any]) -> list[str]:
    """One-screen summary of a :func:`run` result for the CLI: posterior of each parameter, regimen ranking."""
    t = summary["target"]
    lines = [f"{summary['name']} (n_of_1): seed {summary['seed']}, {summary['observations']} observations; "
             f"ESS {summary['importance_sampling']['ess']:.0f} of {summary['importance_sampling']['proposals']}"]
    for pid, p in summary["parameters"].items():
        lines.append(f"  {pid}: MAP {p['map']:.4g} (90% CrI {p['ci_low']:.4g}-{p['ci_high']:.4g}; "
                     f"typical {p['typical']:.4g})")
    lines.append(f"  P({t['output']} {t['direction']} {t['threshold']:g}):")
    for r in summary["regimens"]:
        lo, hi = r["probability_ci95"]
        lines.append(f"    {r['rank']}. {r['regimen']}: {r['probability']:.3f} [{lo:.3f}, {hi:.3f}]")
    return lines
