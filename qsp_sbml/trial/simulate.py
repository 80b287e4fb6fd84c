"""Simulated arms of a parallel-group trial: screening, randomisation, model runs, observations, endpoints.

One simulated trial is identified by ``(mode, replicate, population)``: ``mode`` is ``conditional`` (the
population's typical values fixed: power) or ``posterior`` (typical values drawn from the posterior draws
once per replicate: probability of success); ``population`` is ``broad`` (inclusion criteria) or
``enriched`` (inclusion plus enrichment criteria).  Each trial recruits candidates in order until ``n_max``
pass its criteria; a trial of total size ``n <= n_max`` is its first ``n`` randomised subjects (a sequentially
recruited trial stopped at ``n``), so power curves and group-sequential looks reuse the same subjects.

Randomness comes from :class:`numpy.random.SeedSequence` streams keyed by ``(mode, replicate, step)``
(and the population for randomisation and observation), never from the order in which workers return:
the same seed gives the same trials with any engine, worker count or batch size.  The model is simulated
once per distinct subject x arm, with one :func:`~qsp_sbml.population.simulate_cohort` call per arm (all
replicates together: one compilation per arm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml.engine import Engine, SerialEngine
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial.design import Criterion, Endpoint, ParallelDesign

__all__ = ["SimulatedTrials", "endpoint_table", "simulate_trials"]

_MAX_ROUNDS = 12
_RESERVED = ("mode", "population", "replicate", "order", "uid", "arm", "stratum", "dropout", "baseline", "y", "time",
             "event")


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclass(frozen=True)
class SimulatedTrials:
    """All simulated trials of a design.

    ``subjects`` has one row per randomised subject of each trial (columns ``mode, population, replicate,
    order, uid, arm, stratum, dropout`` and the covariates); ``true`` and ``observed`` are aligned arrays
    ``(row, visit, output)`` (``observed`` NaN after dropout).
    """

    design: ParallelDesign
    subjects: pd.DataFrame
    true: np.ndarray
    observed: np.ndarray
    outputs: list[str]
    modes: list[str]
    populations: list[str]
    failed: int


def _model_defaults(model: Any) -> dict[str, float]:
    m = model.sbml_model
    return {m.getParameter(i).getId(): float(m.getParameter(i).getValue()) for i in range(m.getNumParameters())}


def _draws(design: ParallelDesign) -> pd.DataFrame | None:
    post = design.population.get("posterior")
    if not post:
        return None
    from qsp_sbml.population.variability import read_draws

    draws = read_draws(design.source.parent / post["file"])
    keep = list(post.get("parameters") or draws.columns)
    missing = [c for c in keep if c not in draws.columns]
    if missing:
        raise TrialDesignError(f"column(s) {missing} are not in the draws file {post['file']}",
                               field="population.posterior.parameters")
    return draws[keep].rename(columns=dict(post.get("rename") or {}))


def _typical(design: ParallelDesign, mode: str, rng: np.random.Generator,
             draws: pd.DataFrame | None) -> dict[str, float]:
    pop = design.population
    typ = {str(k): float(v) for k, v in (pop.get("parameters") or {}).items()}
    if draws is not None:
        if mode == "posterior":
            row = draws.iloc[int(rng.integers(0, len(draws)))]
        else:
            row = draws.median()
        typ.update({str(k): float(v) for k, v in row.items()})
    return typ


def _draw(design: ParallelDesign, n: int, rng: np.random.Generator, typical: dict[str, float],
          defaults: dict[str, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Covariates and parameters of ``n`` candidates (in recruitment order)."""
    pop = design.population
    cov = pd.DataFrame(index=range(n))
    params = pd.DataFrame({k: np.full(n, v) for k, v in typical.items()}, index=range(n))
    if "preset" in pop:
        from qsp_sbml.population.presets import sample_population

        cov = sample_population(str(pop["preset"]), n, seed=rng).drop(columns=["subject_id"], errors="ignore")
    elif "covariates" in pop:
        from qsp_sbml.population.covariates import sample_covariates

        kw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in pop["covariates"].items()}
        cov = sample_covariates(n, seed=rng, **kw).drop(columns=["subject_id"], errors="ignore")
    elif "cohort" in pop or "vpop" in pop:
        from qsp_sbml.population.cohort import Cohort

        if "cohort" in pop:
            cohort = Cohort.read_parquet(design.source.parent / pop["cohort"])
        else:
            from qsp_sbml.population.spec import build_vpop

            cohort, _ = build_vpop(design.source.parent / pop["vpop"], n, seed=int(rng.integers(2**31)))
        idx = rng.integers(0, cohort.n, size=n)
        table = cohort.table.iloc[idx].reset_index(drop=True)
        cov = table[list(cohort.columns.get("covariates", ()))].copy()
        for c in cohort.parameter_columns:
            params[c] = table[c].to_numpy(dtype=float)
    iiv = pop.get("iiv")
    if iiv:
        from qsp_sbml.population.variability import lognormal_iiv

        cv = {str(k): float(v) for k, v in iiv["cv"].items()}
        for k in cv:
            if k not in params:
                params[k] = defaults.get(k, math.nan)
        params = lognormal_iiv(params, seed=rng, names=list(cv), cv=cv, correlation=iiv.get("correlation"))
    derived = pop.get("derived") or {}
    if derived:
        env = pd.DataFrame({k: np.full(n, v) for k, v in defaults.items()})
        for c in params.columns:
            env[c] = params[c].to_numpy(dtype=float)
        for k, expr in derived.items():
            try:
                values = env.eval(str(expr))
            except Exception as err:  # pandas raises many types for a bad expression
                raise TrialDesignError(f"cannot evaluate {expr!r}: {err}", field=f"population.derived.{k}") from None
            params[str(k)] = np.asarray(values, dtype=float)
            env[str(k)] = params[str(k)]
    # covariate columns named like the trial's bookkeeping columns get a suffix (sample_population's "population")
    cov = cov.rename(columns={c: f"{c}_covariate" for c in cov.columns if c in _RESERVED})
    return cov.reset_index(drop=True), params.reset_index(drop=True)


def _passes(values: pd.DataFrame, criteria: tuple[Criterion, ...]) -> np.ndarray:
    ok = np.ones(len(values), dtype=bool)
    for c in criteria:
        col = values[c.column].to_numpy(dtype=float)
        ok &= (col >= c.min) & (col <= c.max)
    return ok


def _ratios(allocation: tuple[float, ...]) -> list[int]:
    fr = [Fraction(a).limit_denominator(1000) for a in allocation]
    den = reduce(lambda a, b: a * b // math.gcd(a, b), [f.denominator for f in fr])
    ints = [int(f * den) for f in fr]
    g = reduce(math.gcd, ints)
    return [i // g for i in ints]


def _randomise(strata: np.ndarray, ratios: list[int], rng: np.random.Generator) -> np.ndarray:
    """Permuted blocks (one block = the allocation ratios) within each stratum, in recruitment order."""
    block = np.repeat(np.arange(len(ratios)), ratios)
    arms = np.empty(len(strata), dtype=int)
    queues: dict[str, list[int]] = {}
    for i, s in enumerate(strata):
        q = queues.setdefault(str(s), [])
        if not q:
            q.extend(rng.permutation(block).tolist())
        arms[i] = q.pop(0)
    return arms


def _stratum(design: ParallelDesign, values: pd.DataFrame) -> np.ndarray:
    if not design.stratification:
        return np.zeros(len(values), dtype=int).astype(str)
    labels = []
    for crit, cuts in design.stratification:
        col = values[crit.column].to_numpy(dtype=float)
        labels.append(np.searchsorted(np.asarray(cuts, dtype=float), col, side="right").astype(str))
    return np.array(["/".join(parts) for parts in zip(*labels, strict=True)])


def simulate_trials(design: ParallelDesign, *, seed: int, engine: Engine | None = None, batch_size: int = 64,
                    replicates: int | None = None) -> SimulatedTrials:
    """Simulate every trial of ``design`` (see the module docstring); deterministic given ``seed``."""
    from qsp_sbml.loading import load_model

    reps = replicates or design.replicates
    modes = ["conditional"] + (["posterior"] if design.population.get("posterior") else [])
    pops = [("broad", design.inclusion)]
    if design.enrichment:
        pops.append(("enriched", (*design.inclusion, *design.enrichment)))
    plan = _Plan(design=design, model=load_model(design.model_path), seed=seed, engine=engine or SerialEngine(),
                 batch_size=batch_size, modes=modes, pops=pops,
                 n_max=max(design.n, *design.sample_size) if design.sample_size else design.n,
                 keys=[(mi, r) for mi in range(len(modes)) for r in range(reps)])
    subjects = _enrol(plan, _screen(plan))
    true, failed = _simulate_arms(plan, subjects)
    names, outputs = [p for p, _ in pops], design.outputs
    observed = _observe(design, subjects, true, outputs, seed, modes, names)
    return SimulatedTrials(design, subjects, true, observed, outputs, modes, names, failed)


@dataclass(frozen=True)
class _Plan:
    """What the steps of :func:`simulate_trials` share."""

    design: ParallelDesign
    #: The loaded model.
    model: Any
    seed: int
    engine: Engine
    batch_size: int
    #: ``"conditional"``, then ``"posterior"`` when the population has posterior draws.
    modes: list[str]
    #: ``(name, inclusion criteria)``: the broad population and, with enrichment criteria, the enriched one.
    pops: list[tuple[str, tuple[Criterion, ...]]]
    #: Subjects each trial enrols (the largest sample size).
    n_max: int
    #: ``(mode index, replicate)`` of every trial.
    keys: list[tuple[int, int]]


def _screen(plan: _Plan) -> dict[tuple[int, int], list[pd.DataFrame]]:
    """Each trial's candidate stream, drawn in rounds until every population has ``n_max`` passing candidates.

    One baseline simulation per round (when a criterion reads a baseline output), for all trials at once.
    """
    design, keys = plan.design, plan.keys
    defaults = _model_defaults(plan.model)
    needs_baseline = any(c.kind == "baseline" for _, crit in plan.pops for c in crit) or any(
        c.kind == "baseline" for c, _ in design.stratification)
    draws = _draws(design)
    typical = {k: _typical(design, plan.modes[k[0]], _stream(plan.seed, *k, 0), draws) for k in keys}
    pop_rng = {k: _stream(plan.seed, *k, 1) for k in keys}
    cands: dict[tuple[int, int], list[pd.DataFrame]] = {k: [] for k in keys}
    passing = {k: [0] * len(plan.pops) for k in keys}
    chunk = {k: max(16, plan.n_max) for k in keys}
    for _round in range(_MAX_ROUNDS):
        todo = [k for k in keys if min(passing[k]) < plan.n_max]
        if not todo:
            break
        drawn = [(k, *_draw(design, chunk[k], pop_rng[k], typical[k], defaults)) for k in todo]
        base = _baselines(plan, [p for _, _, p in drawn]) if needs_baseline else None
        start = 0
        for k, cov, params in drawn:
            m = len(params)
            frame = pd.concat([cov.reset_index(drop=True), params.add_prefix("param:")], axis=1)
            if base is not None:
                for j, o in enumerate(design.outputs):
                    frame[o] = base[start:start + m, j]
            start += m
            cands[k].append(frame)
            passing[k], chunk[k] = _screening_progress(plan, cands[k])
    worst = min(min(v) for v in passing.values())
    if worst < plan.n_max:
        raise TrialDesignError(f"the inclusion criteria admit too few candidates: only {worst} of the {plan.n_max} "
                               f"subjects needed passed after {_MAX_ROUNDS} screening rounds", field="inclusion")
    return cands


def _baselines(plan: _Plan, parameters: list[pd.DataFrame]) -> np.ndarray:
    """Outputs at time 0 of the candidates drawn in one round (subjects x outputs)."""
    from qsp_sbml.population.cohort import Cohort
    from qsp_sbml.population.simulation import simulate_cohort

    allp = pd.concat(parameters, ignore_index=True)
    # two output times (RoadRunner needs an interval); the baseline is the value at time 0
    res = simulate_cohort(plan.model, Cohort.from_parts(parameters=allp), [0.0, 1.0], outputs=plan.design.outputs,
                          engine=plan.engine, batch_size=plan.batch_size, progress=False, strict=True)
    return res.values[:, 0, :]


def _screening_progress(plan: _Plan, frames: list[pd.DataFrame]) -> tuple[list[int], int]:
    """Candidates passing each population's criteria so far, and the size of the trial's next draw."""
    allc = pd.concat(frames, ignore_index=True)
    passing = [int(_passes(allc, crit).sum()) for _, crit in plan.pops]
    rate = max(min(passing), 1) / len(allc)
    chunk = int(min(max(16, math.ceil((plan.n_max - min(passing)) / rate * 1.2)), 20 * plan.n_max))
    return passing, chunk


def _enrol(plan: _Plan, cands: dict[tuple[int, int], list[pd.DataFrame]]) -> pd.DataFrame:
    """The first ``n_max`` passing candidates of each trial and population, stratified and randomised to arms."""
    design = plan.design
    ratios = _ratios(design.allocation)
    rows = []
    for mi, rep in plan.keys:
        allc = pd.concat(cands[(mi, rep)], ignore_index=True)
        allc["uid"] = [f"{mi}:{rep}:{i}" for i in range(len(allc))]
        for pi, (pname, crit) in enumerate(plan.pops):
            sel = allc[_passes(allc, crit)].iloc[:plan.n_max].reset_index(drop=True)
            strata = _stratum(design, sel)
            arms = _randomise(strata, ratios, _stream(plan.seed, mi, rep, 2, pi))
            sel.insert(0, "arm", [design.arms[a].id for a in arms])
            sel.insert(0, "stratum", strata)
            sel.insert(0, "order", np.arange(len(sel)))
            sel.insert(0, "replicate", rep)
            sel.insert(0, "population", pname)
            sel.insert(0, "mode", plan.modes[mi])
            rows.append(sel)
    return pd.concat(rows, ignore_index=True)


def _simulate_arms(plan: _Plan, subjects: pd.DataFrame) -> tuple[np.ndarray, int]:
    """True responses (subjects x visits x outputs) and the number of failed simulations.

    The model runs once per distinct subject and arm, one ``simulate_cohort`` call per arm.
    """
    from qsp_sbml.population.cohort import Cohort
    from qsp_sbml.population.simulation import simulate_cohort

    design, outputs = plan.design, plan.design.outputs
    times = np.asarray(design.visits) * design.hours
    true = np.full((len(subjects), len(times), len(outputs)), np.nan)
    pcols = [c for c in subjects.columns if c.startswith("param:")]
    failed = 0
    for arm in design.arms:
        mask = (subjects["arm"] == arm.id).to_numpy()
        sub = subjects[mask]
        uniq = sub.drop_duplicates("uid")
        if uniq.empty:
            continue
        params = uniq[pcols].rename(columns=lambda c: c[len("param:"):]).reset_index(drop=True)
        params = params.loc[:, params.notna().all()]
        for pid, v in arm.parameters.items():
            params[pid] = v
        cohort = Cohort.from_parts(parameters=params) if params.shape[1] else Cohort.from_parts(
            parameters=pd.DataFrame(index=range(len(uniq))))
        res = simulate_cohort(plan.model, cohort, times, outputs=outputs, regimen=arm.regimen, engine=plan.engine,
                              batch_size=plan.batch_size, progress=False)
        failed += len(res.failed)
        pos = {u: i for i, u in enumerate(uniq["uid"])}
        idx = np.array([pos[u] for u in sub["uid"]])
        true[np.flatnonzero(mask)] = res.values[idx]
    return true, failed


def _observe(design: ParallelDesign, subjects: pd.DataFrame, true: np.ndarray, outputs: list[str], seed: int,
             modes: list[str], pops: list[str]) -> np.ndarray:
    """Response variability, measurement error and dropout, drawn per trial in recruitment order."""
    obs = true.copy()
    visits = np.asarray(design.visits)
    drop = np.full(len(subjects), np.inf)
    for (mode, pop, r), grp in subjects.groupby(["mode", "population", "replicate"], sort=False):
        rng = _stream(seed, modes.index(str(mode)), int(r), 3, pops.index(str(pop)))
        idx = grp.index.to_numpy()
        m = len(idx)
        for j, out in enumerate(outputs):
            if out in design.response_variability:
                dist, scale = design.response_variability[out]
                u = rng.logistic(0.0, scale, m) if dist == "logistic" else rng.normal(0.0, scale, m)
                obs[idx, 1:, j] *= np.exp(u)[:, None]
            if out in design.measurement_error:
                add, prop, lo, hi = design.measurement_error[out]
                e1 = rng.standard_normal((m, len(visits)))
                e2 = rng.standard_normal((m, len(visits)))
                obs[idx, :, j] = np.clip(obs[idx, :, j] * (1.0 + prop * e1) + add * e2, lo, hi)
        if design.dropout_hazard > 0:
            drop[idx] = rng.exponential(1.0 / design.dropout_hazard, m)
    gone = visits[None, :] > drop[:, None]
    obs[gone] = np.nan
    subjects["dropout"] = np.where(np.isfinite(drop), drop, np.nan)
    return obs


def endpoint_table(trials: SimulatedTrials, endpoint: Endpoint) -> pd.DataFrame:
    """One row per randomised subject of every trial, with the endpoint's value.

    Columns ``mode, population, replicate, order, arm``, the covariates, ``baseline`` (observed), ``y`` (the
    endpoint; 0/1 for a responder, NaN when missing) and ``time``/``event`` for a time to event.
    """
    d = trials.design
    j = trials.outputs.index(endpoint.output)
    visits = np.asarray(d.visits)
    obs = trials.observed[:, :, j]
    base = obs[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        change = obs - base[:, None]
        pct = 100.0 * change / base[:, None]
    metric = {"value": obs, "change": change, "percent_change": pct}[endpoint.of]
    cols = ["mode", "population", "replicate", "order", "arm"]
    cov_cols = [c for c in trials.subjects.columns if c not in (*cols, "uid", "stratum", "dropout")
                and not c.startswith("param:") and c not in trials.outputs]
    out = trials.subjects[cols + cov_cols].copy()
    out["baseline"] = base
    et = endpoint.type
    if et in ("value", "change", "percent_change", "responder"):
        k = int(np.flatnonzero(visits == endpoint.time)[0])
        series = {"value": obs, "change": change, "percent_change": pct}[et if et != "responder" else endpoint.of]
        y = series[:, k].copy()
        if et == "responder":
            hit = (y <= endpoint.threshold) if endpoint.direction == "below" else (y >= endpoint.threshold)
            y = np.where(np.isnan(y), np.nan, hit.astype(float))
        out["y"] = y
    elif et in ("auc", "cmax"):
        upto = visits <= endpoint.time
        seg = obs[:, upto]
        complete = ~np.isnan(seg).any(axis=1)
        if et == "auc":
            vals = np.trapezoid(seg, visits[upto], axis=1)
        else:
            vals = np.max(np.where(np.isnan(seg), -np.inf, seg), axis=1)
        out["y"] = np.where(complete, vals, np.nan)
    else:  # time to event: first post-baseline visit meeting the threshold; censored at the last one observed
        post = (visits > 0) & (visits <= endpoint.time)
        vis = visits[post]
        m = metric[:, post]
        hit = (m <= endpoint.threshold) if endpoint.direction == "below" else (m >= endpoint.threshold)
        hit &= ~np.isnan(m)
        first = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
        seen = (~np.isnan(m)).sum(axis=1)
        last = np.where(seen > 0, vis[np.maximum(seen - 1, 0)], np.nan)
        out["event"] = (first >= 0).astype(int)
        out["time"] = np.where(first >= 0, vis[np.maximum(first, 0)], last)
        out["y"] = out["time"]
    if endpoint.log and et != "time_to_event":
        with np.errstate(divide="ignore", invalid="ignore"):
            out["y"] = np.where(out["y"] > 0, np.log(out["y"]), np.nan)
            out["baseline"] = np.where(out["baseline"] > 0, np.log(out["baseline"]), np.nan)
    return out.reset_index(drop=True)
