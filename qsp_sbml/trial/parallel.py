"""Parallel-group trials (``type: parallel``): the trial-kind contract of :mod:`qsp_sbml.trial.runner`.

``validate(spec, source=)`` returns a :class:`~qsp_sbml.trial.design.ParallelDesign`; ``run(design, seed=,
engine=, out=)`` simulates the trials (:mod:`qsp_sbml.trial.simulate`), analyses each with the tests of
:mod:`qsp_sbml.trial.analysis`, and returns the summary and the Markdown report (PNG plots written to ``out``).

Per population (broad, enriched) and comparison (treatment vs control) of each endpoint:

- ``estimate``, ``ci_low``, ``ci_high``: mean over the conditional replicates at the design's ``n`` of the
  effect estimate and of its confidence limits (the expected result of one trial), with the 2.5th-97.5th
  percentiles of the estimate over replicates (``estimate_range``);
- ``power``: fraction of conditional replicates with a two-sided p-value below alpha (Monte Carlo SE
  sqrt(p(1-p)/R)); ``probability_of_success``: the same over replicates whose typical parameters were drawn
  from the posterior (assurance; only with ``population.posterior``);
- ``power_curve`` over ``sample_size.n`` and ``required_n``: the smallest grid ``n`` with power >= target;
- ``adaptive``: the primary comparison re-analysed at each look of a Lan-DeMets group-sequential design
  (:func:`~qsp_sbml.trial.adaptive.group_sequential_design`) on the subjects randomised by then: rejection
  rate, futility stops and expected n, next to the fixed design analysed once at ``n`` (one-sided Z test at
  the same level).  The endpoint is taken as observed at once (no overrunning subjects).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from qsp_sbml._optional import require
from qsp_sbml.engine import Engine
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial.analysis import AnalysisResult, ancova, logrank_test, responder_test, t_test
from qsp_sbml.trial.design import Endpoint, ParallelDesign, validate_parallel
from qsp_sbml.trial.simulate import SimulatedTrials, endpoint_table, simulate_trials
from qsp_sbml.typed_yaml import YamlDoc

__all__ = ["analyse_endpoint", "run", "validate"]

_TABLE_COLUMNS = ("mode", "population", "replicate", "order", "arm", "baseline", "y", "time", "event")


def validate(spec: Mapping[str, Any] | YamlDoc, *, source: Path) -> ParallelDesign:
    """Validate a parallel design (see :mod:`qsp_sbml.trial.design`)."""
    return validate_parallel(spec, source=source)


def analyse_endpoint(data: pd.DataFrame, endpoint: Endpoint, treatment: str) -> AnalysisResult:
    """The endpoint's analysis of one trial's table (:func:`~qsp_sbml.trial.simulate.endpoint_table`)."""
    a = endpoint.analysis
    sub = data[data["arm"].isin([treatment, a.control])]
    if endpoint.type == "responder" and a.missing == "nonresponder":
        sub = sub.assign(y=sub["y"].fillna(0.0))
    need = ["y"] + (["baseline"] if a.test == "ancova" and endpoint.type not in ("auc", "cmax") else [])
    need += list(a.covariates)
    if endpoint.type == "time_to_event":
        need = ["time", "event"]
        sub = sub[sub["time"] > 0]
    sub = sub.dropna(subset=need)
    if a.test == "t_test":
        return t_test(sub, outcome="y", treatment=treatment, control=a.control, alpha=a.alpha)
    if a.test == "ancova":
        base = "baseline" if endpoint.type not in ("auc", "cmax") else None
        return ancova(sub, outcome="y", baseline=base, covariates=a.covariates, treatment=treatment,
                      control=a.control, alpha=a.alpha)
    if a.test in ("chi2", "logistic"):
        return responder_test(sub, outcome="y", treatment=treatment, control=a.control, method=a.test,
                              alpha=a.alpha)
    return logrank_test(sub, time="time", event="event", treatment=treatment, control=a.control, alpha=a.alpha)


def _z(res: AnalysisResult, better: str) -> float:
    est = math.log(res.estimate) if res.estimand == "hazard ratio" else res.estimate
    if not (res.se > 0 and math.isfinite(est)):
        return math.nan
    z = est / res.se
    return z if better == "higher" else -z


def _analyses(trials: SimulatedTrials, tables: dict[str, pd.DataFrame], ns: list[int]) -> pd.DataFrame:
    rows = []
    for i, ep in enumerate(trials.design.endpoints):
        missing = [c for c in ep.analysis.covariates if c not in tables[ep.id].columns]
        if missing:
            raise TrialDesignError(f"covariate(s) {missing} are not covariates of the population (covariates: "
                                   f"{[c for c in tables[ep.id].columns if c not in _TABLE_COLUMNS]})",
                                   field=f"endpoints[{i}].analysis.covariates")
        for (mode, pop, rep), grp in tables[ep.id].groupby(["mode", "population", "replicate"], sort=False):
            for n in ns:
                first = grp[grp["order"] < n]
                for trt in ep.analysis.treatments:
                    row: dict[str, Any] = {"mode": mode, "population": pop, "replicate": rep, "n": n,
                                           "endpoint": ep.id, "treatment": trt}
                    try:
                        res = analyse_endpoint(first, ep, trt)
                    except TrialDesignError as err:  # e.g. every subject a responder: test undefined
                        row |= {"ok": False, "significant": False, "message": str(err)}
                    else:
                        row |= {"ok": True, "significant": res.significant(), "estimate": res.estimate,
                                "ci_low": res.ci_low, "ci_high": res.ci_high, "se": res.se, "p_value": res.p_value,
                                "test": res.test, "estimand": res.estimand}
                    rows.append(row)
    return pd.DataFrame(rows)


def _rate(x: pd.Series) -> tuple[float | None, float | None]:
    if len(x) == 0:
        return None, None
    p = float(np.mean(x.astype(float)))
    return p, math.sqrt(p * (1 - p) / len(x))


def _adaptive(trials: SimulatedTrials, tables: dict[str, pd.DataFrame], pop: str) -> dict[str, Any]:
    from qsp_sbml.trial.adaptive import group_sequential_design

    d = trials.design
    spec = dict(d.adaptive or {})
    ep = next(e for e in d.endpoints if e.id == d.primary)
    trt = ep.analysis.treatments[0]
    kw: dict[str, Any] = {"alpha": spec["alpha"], "sides": 1, "spending": spec["spending"]}
    if spec.get("futility"):
        kw |= {"beta": spec["beta"], "beta_spending": spec["futility"]}
    gsd = group_sequential_design(spec["looks"], **kw)
    looks = [max(4, int(round(t * d.n))) for t in spec["looks"]]
    from qsp_sbml.trial._checks import check_alpha

    check_alpha(spec["alpha"], "adaptive.alpha")
    st = require("scipy.stats", extra="trial")
    z_fixed = float(st.norm.isf(spec["alpha"]))
    out: dict[str, Any] = {"endpoint": ep.id, "treatment": trt, "control": ep.analysis.control,
                           "looks_information": spec["looks"], "looks_n": looks, "one_sided_alpha": spec["alpha"],
                           "spending": spec["spending"], "futility_spending": spec.get("futility"),
                           "efficacy_bounds": list(gsd.efficacy),
                           "futility_bounds": list(gsd.futility) if gsd.futility is not None else None}
    for mode in trials.modes:
        tab = tables[ep.id]
        tab = tab[(tab["mode"] == mode) & (tab["population"] == pop)]
        n_stop, reject, fut_stop, fixed = [], [], [], []
        for _rep, grp in tab.groupby("replicate", sort=True):
            done = False
            for k, nk in enumerate(looks):
                try:
                    z = _z(analyse_endpoint(grp[grp["order"] < nk], ep, trt), spec["better"])
                except TrialDesignError:
                    z = math.nan
                if k == len(looks) - 1:
                    fixed.append(bool(z >= z_fixed))
                if done:
                    continue
                if z >= gsd.efficacy[k]:
                    n_stop.append(nk)
                    reject.append(True)
                    fut_stop.append(False)
                    done = True
                elif gsd.futility is not None and k < len(looks) - 1 and z <= gsd.futility[k]:
                    n_stop.append(nk)
                    reject.append(False)
                    fut_stop.append(True)
                    done = True
            if not done:
                n_stop.append(looks[-1])
                reject.append(False)
                fut_stop.append(False)
        r = len(n_stop)
        key = "power" if mode == "conditional" else "probability_of_success"
        p, se = _rate(pd.Series(reject))
        pf, sef = _rate(pd.Series(fixed))
        out[mode] = {
            "replicates": r, f"sequential_{key}": p, f"sequential_{key}_se": se,
            "futility_stop": float(np.mean(fut_stop)) if r else None,
            "expected_n": float(np.mean(n_stop)) if r else None,
            "expected_n_se": float(np.std(n_stop, ddof=1) / math.sqrt(r)) if r > 1 else None,
            f"fixed_{key}": pf, f"fixed_{key}_se": sef, "fixed_n": d.n,
        }
    return out


def _dose_selection(trials: SimulatedTrials, tables: dict[str, pd.DataFrame], pop: str) -> dict[str, Any]:
    from qsp_sbml.trial.dose import select_dose, trend_test

    d = trials.design
    spec = dict(d.dose_selection or {})
    ep = next(e for e in d.endpoints if e.id == spec["endpoint"])
    doses = {a.id: float(a.dose if a.dose is not None else math.nan) for a in d.arms}
    control = doses[ep.analysis.control]
    tab = tables[ep.id]
    tab = tab[(tab["mode"] == "conditional") & (tab["population"] == pop) & (tab["order"] < d.n)]
    if ep.type == "responder" and ep.analysis.missing == "nonresponder":
        tab = tab.assign(y=tab["y"].fillna(0.0))
    tab = tab.dropna(subset=["y"]).assign(dose=lambda f: f["arm"].map(doses))
    chosen, trend = [], []
    for _rep, grp in tab.groupby("replicate", sort=True):
        try:
            sel = select_dose(grp, dose="dose", outcome="y", target=spec["target"], control_dose=control,
                              alpha=spec["alpha"], rule=spec["rule"])
            chosen.append(sel.dose)
            trend.append(trend_test(grp, dose="dose", outcome="y", alpha=spec["alpha"]).significant())
        except TrialDesignError:
            chosen.append(None)
            trend.append(False)
    levels = sorted({v for v in doses.values() if v != control})
    freq = {f"{lv:g}": sum(c == lv for c in chosen) / len(chosen) for lv in levels}
    freq["none"] = sum(c is None for c in chosen) / len(chosen)
    return {"endpoint": ep.id, "target": spec["target"], "rule": spec["rule"], "alpha": spec["alpha"],
            "control_dose": control, "probability_selected": freq, "trend_test_power": float(np.mean(trend)),
            "replicates": len(chosen)}


def _summarise(trials: SimulatedTrials, tables: dict[str, pd.DataFrame], res: pd.DataFrame,
               ns: list[int]) -> dict[str, Any]:
    """The summary of each population: arms, comparisons, power curve, required n, design extras."""
    d = trials.design
    pops: dict[str, Any] = {}
    for pop in trials.populations:
        comps: list[dict[str, Any]] = []
        curve: list[dict[str, Any]] = []
        required: dict[str, dict[str, int | None]] = {}
        for ep in d.endpoints:
            required[ep.id] = {}
            for trt in ep.analysis.treatments:
                sel = res[(res["population"] == pop) & (res["endpoint"] == ep.id) & (res["treatment"] == trt)]
                cond = sel[sel["mode"] == "conditional"]
                post = sel[sel["mode"] == "posterior"]
                at_n = cond[cond["n"] == d.n]
                ok = at_n[at_n["ok"]]
                p, se = _rate(at_n["significant"])
                pos, pos_se = _rate(post[post["n"] == d.n]["significant"]) if len(post) else (None, None)
                entry = {"endpoint": ep.id, "treatment": trt, "control": ep.analysis.control,
                         "test": ep.analysis.test, "alpha": ep.analysis.alpha,
                         "estimand": str(ok["estimand"].iloc[0]) if len(ok) else None,
                         "estimate": float(ok["estimate"].mean()) if len(ok) else None,
                         "ci_low": float(ok["ci_low"].mean()) if len(ok) else None,
                         "ci_high": float(ok["ci_high"].mean()) if len(ok) else None,
                         "estimate_range": [float(np.percentile(ok["estimate"], 2.5)),
                                            float(np.percentile(ok["estimate"], 97.5))] if len(ok) else None,
                         "power": p, "power_se": se, "probability_of_success": pos,
                         "probability_of_success_se": pos_se, "undefined_analyses": int((~at_n["ok"]).sum()),
                         "n": d.n}
                _add_standardised_effect(entry, d, ep, trt, tables[ep.id], pop)
                comps.append(entry)
                rows, required[ep.id][trt] = _power_curve_rows(d, ep, trt, cond, post, ns)
                curve += rows
        entry_pop: dict[str, Any] = {"n": d.n, "expected_n": float(d.n), "arms": _arm_summaries(d, tables, pop),
                                     "comparisons": comps, "power_curve": curve, "required_n": required,
                                     "target_power": d.target_power}
        if pop == "enriched":
            entry_pop["criteria"] = [c.label() for c in (*d.inclusion, *d.enrichment)]
        else:
            entry_pop["criteria"] = [c.label() for c in d.inclusion]
        if d.dose_selection:
            entry_pop["dose_selection"] = _dose_selection(trials, tables, pop)
        if d.adaptive:
            entry_pop["adaptive"] = _adaptive(trials, tables, pop)
            cond = entry_pop["adaptive"]["conditional"]
            entry_pop["expected_n"] = cond["expected_n"]
        pops[pop] = entry_pop
    return pops


def _arm_summaries(d: ParallelDesign, tables: dict[str, pd.DataFrame], pop: str) -> dict[str, Any]:
    """Arm -> endpoint -> observed summary of the conditional trials at the design's n."""
    arms: dict[str, Any] = {}
    for arm in d.arms:
        arms[arm.id] = {}
        for ep in d.endpoints:
            t = tables[ep.id]
            t = t[(t["mode"] == "conditional") & (t["population"] == pop) & (t["order"] < d.n)
                  & (t["arm"] == arm.id)]
            y = t["y"].dropna()
            entry: dict[str, Any] = {"subjects_per_trial": len(t) / max(1, t["replicate"].nunique()),
                                     "observed_fraction": float(len(y) / len(t)) if len(t) else None,
                                     "mean": float(y.mean()) if len(y) else None,
                                     "sd": float(y.std(ddof=1)) if len(y) > 1 else None,
                                     "baseline_mean": float(t["baseline"].mean()) if len(t) else None}
            if ep.type == "responder":
                entry["responder_rate"] = entry.pop("mean")
                entry.pop("sd")
            if ep.type == "time_to_event":
                entry["event_fraction"] = float(t["event"].mean()) if len(t) else None
            arms[arm.id][ep.id] = entry
    return arms


def _add_standardised_effect(entry: dict[str, Any], d: ParallelDesign, ep: Endpoint, trt: str, table: pd.DataFrame,
                             pop: str) -> None:
    """Cohen's d of a continuous endpoint (pooled SD of the conditional trials at the design's n)."""
    if ep.type in ("value", "change", "percent_change", "auc", "cmax"):
        t = table[(table["mode"] == "conditional") & (table["population"] == pop) & (table["order"] < d.n)]
        a, b = t.loc[t["arm"] == trt, "y"].dropna(), t.loc[t["arm"] == ep.analysis.control, "y"].dropna()
        if len(a) > 1 and len(b) > 1:
            sd = math.sqrt(((len(a) - 1) * a.var() + (len(b) - 1) * b.var()) / (len(a) + len(b) - 2))
            entry["standardised_effect"] = float((a.mean() - b.mean()) / sd) if sd > 0 else None


def _power_curve_rows(d: ParallelDesign, ep: Endpoint, trt: str, cond: pd.DataFrame, post: pd.DataFrame,
                      ns: list[int]) -> tuple[list[dict[str, Any]], int | None]:
    """Power (and probability of success) of one comparison at each n; the smallest n reaching the target."""
    rows: list[dict[str, Any]] = []
    hit = None
    for n in ns:
        c = cond[cond["n"] == n]
        pn, sen = _rate(c["significant"])
        row = {"endpoint": ep.id, "treatment": trt, "n": n, "power": pn, "power_se": sen}
        if len(post):
            row["probability_of_success"] = _rate(post[post["n"] == n]["significant"])[0]
        rows.append(row)
        if hit is None and pn is not None and pn >= d.target_power:
            hit = n
    return rows, hit


@dataclass(frozen=True)
class ParallelSimulation:
    """The replicate trials of a parallel design and their endpoint tables."""

    trials: SimulatedTrials
    tables: dict[str, pd.DataFrame]
    replicates: int


def simulate(design: ParallelDesign, *, seed: int, engine: Engine,
             max_replicates: int | None = None) -> ParallelSimulation:
    """Simulate the replicate trials (``max_replicates`` caps them for quick runs)."""
    reps = design.replicates if max_replicates is None else max(1, min(design.replicates, max_replicates))
    trials = simulate_trials(design, seed=seed, engine=engine, replicates=reps)
    return ParallelSimulation(trials, {ep.id: endpoint_table(trials, ep) for ep in design.endpoints}, reps)


def analyse(design: ParallelDesign, simulation: ParallelSimulation, *, seed: int) -> dict[str, Any]:
    """The summary: the design, then per population power, effect estimates and decisions."""
    trials, tables = simulation.trials, simulation.tables
    ns = sorted({*design.sample_size, design.n})
    res = _analyses(trials, tables, ns)
    summary: dict[str, Any] = {
        "design": {"type": "parallel", "name": design.name, "file": design.source.name,
                   "model": design.model_path.name, "seed": seed, "replicates": simulation.replicates,
                   "n": design.n, "allocation": list(design.allocation), "time_unit": design.time_unit,
                   "duration": design.duration, "visits": list(design.visits),
                   "arms": [{"id": a.id, "regimen": a.regimen or "placebo", "dose": a.dose,
                             "parameters": dict(a.parameters)} for a in design.arms],
                   "primary": design.primary, "modes": trials.modes, "populations": trials.populations,
                   "failed_simulations": trials.failed},
        "populations": _summarise(trials, tables, res, ns),
    }
    return summary


def report(design: ParallelDesign, simulation: ParallelSimulation, summary: Mapping[str, Any], out: Path) -> str:
    """Draw the figures into ``out``; return the Markdown report."""
    from qsp_sbml.trial import report as reports

    return reports.parallel_report(design, simulation.trials, simulation.tables, dict(summary), out)


def run(design: ParallelDesign, *, seed: int, engine: Engine, out: Path,
        max_replicates: int | None = None) -> tuple[dict[str, Any], str]:
    """Simulate, analyse and report (:func:`~qsp_sbml.trial.kinds.run_kind`); figures go to ``out``."""
    import sys

    from qsp_sbml.trial.kinds import TrialKind, run_kind

    return run_kind(cast(TrialKind, sys.modules[__name__]), design, seed=seed, engine=engine, out=out,
                    max_replicates=max_replicates)
