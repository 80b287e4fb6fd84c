"""Markdown report and PNG plots of a parallel-group trial (power curve, forest plot, VPC, spaghetti)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml.trial.design import ParallelDesign
from qsp_sbml.trial.simulate import SimulatedTrials

__all__ = ["fmt", "parallel_report"]


def fmt(x: object, digits: int = 3) -> str:
    """A number for a Markdown table (``-`` for missing)."""
    if x is None:
        return "-"
    if isinstance(x, float):
        return "-" if not np.isfinite(x) else f"{x:.{digits}g}"
    return str(x)


def _power_curve(summary: dict[str, Any], path: Path, target: float) -> None:
    from qsp_sbml.plot import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for pop, entry in summary["populations"].items():
        curve = pd.DataFrame(entry["power_curve"])
        for (ep, trt), grp in curve.groupby(["endpoint", "treatment"], sort=False):
            ax.errorbar(grp["n"], grp["power"], yerr=1.96 * grp["power_se"], marker="o", capsize=3,
                        label=f"{pop}: {ep} {trt}")
            if "probability_of_success" in grp:
                ax.plot(grp["n"], grp["probability_of_success"], ls="--", marker="x", label=f"{pop}: {ep} {trt} (PoS)")
    ax.axhline(target, color="grey", ls=":", lw=1)
    ax.set_xlabel("total subjects n")
    ax.set_ylabel("power (95% Monte Carlo interval)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def _forest(summary: dict[str, Any], path: Path) -> None:
    from qsp_sbml.plot import pyplot, save_figure

    plt = pyplot()
    rows = [(pop, c) for pop, e in summary["populations"].items() for c in e["comparisons"]
            if c["estimate"] is not None]
    endpoints = list(dict.fromkeys(c["endpoint"] for _, c in rows)) or ["-"]
    height = 1.0 + 0.45 * max(1, len(rows))
    fig, axes = plt.subplots(len(endpoints), 1, figsize=(7.5, height), squeeze=False)
    for ax, ep in zip(axes[:, 0], endpoints, strict=True):
        mine = [(pop, c) for pop, c in rows if c["endpoint"] == ep]
        for i, (_pop, c) in enumerate(mine):
            ax.plot([c["ci_low"], c["ci_high"]], [i, i], color="C0")
            ax.plot(c["estimate"], i, "o", color="C0")
        ax.set_yticks(range(len(mine)))
        ax.set_yticklabels([f"{pop}: {c['treatment']} vs {c['control']}" for pop, c in mine], fontsize=8)
        ax.set_ylim(len(mine) - 0.5, -0.5)
        if mine:
            ax.axvline(1.0 if mine[0][1]["estimand"] == "hazard ratio" else 0.0, color="grey", ls=":", lw=1)
            ax.set_title(f"{ep}: {mine[0][1]['estimand']}, mean estimate and CI", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def _vpc(design: ParallelDesign, trials: SimulatedTrials, path: Path, spaghetti: Path) -> None:
    from qsp_sbml.plot import pyplot, save_figure

    plt = pyplot()
    subj = trials.subjects
    keep = ((subj["mode"] == "conditional") & (subj["population"] == trials.populations[0])
            & (subj["order"] < design.n)).to_numpy()
    outs = list(dict.fromkeys(e.output for e in design.endpoints))
    visits = np.asarray(design.visits)
    fig, axes = plt.subplots(1, len(outs), figsize=(5 * len(outs), 3.6), squeeze=False)
    fig2, axes2 = plt.subplots(1, len(outs), figsize=(5 * len(outs), 3.6), squeeze=False)
    for j, out in enumerate(outs):
        k = trials.outputs.index(out)
        ax, ax2 = axes[0, j], axes2[0, j]
        for i, arm in enumerate(design.arms):
            m = keep & (subj["arm"] == arm.id).to_numpy()
            obs = trials.observed[m, :, k]
            with np.errstate(all="ignore"):
                lo, med, hi = (np.nanpercentile(obs, q, axis=0) for q in (5, 50, 95))
            ax.fill_between(visits, lo, hi, color=f"C{i}", alpha=0.2)
            ax.plot(visits, med, color=f"C{i}", label=f"{arm.id} (median, 5-95%)")
            first = np.flatnonzero(m & (subj["replicate"] == 0).to_numpy())[:15]
            for r, row in enumerate(first):
                ax2.plot(visits, trials.true[row, :, k], color=f"C{i}", alpha=0.5, lw=0.8,
                         label=arm.id if r == 0 else None)
        for a in (ax, ax2):
            a.set_xlabel(f"time ({design.time_unit})")
            a.set_ylabel(out)
            a.legend(fontsize=7)
        ax.set_title("observed (with error and dropout)", fontsize=9)
        ax2.set_title("model trajectories, replicate 1 (15 per arm)", fontsize=9)
    fig.tight_layout()
    fig2.tight_layout()
    save_figure(fig, path)
    save_figure(fig2, spaghetti)


def parallel_report(design: ParallelDesign, trials: SimulatedTrials, tables: dict[str, pd.DataFrame],
                    summary: dict[str, Any], out: Path) -> str:
    """Write the plots into ``out`` and return the Markdown report."""
    out = Path(out)
    _power_curve(summary, out / "power_curve.png", design.target_power)
    _forest(summary, out / "forest.png")
    _vpc(design, trials, out / "vpc.png", out / "spaghetti.png")
    lines = _design_lines(design, summary["design"])
    for pop, entry in summary["populations"].items():
        lines += _population_lines(design, pop, entry)
    lines += _closing_lines(design)
    return "\n".join(lines) + "\n"


def _design_lines(design: ParallelDesign, s: dict[str, Any]) -> list[str]:
    """Title, the design in one paragraph, the arms table and the failed simulations."""
    lines = [f"# Virtual trial: {design.name}", "",
             f"Design `{design.source.name}` (parallel groups), model `{design.model_path.name}`, seed {s['seed']}, "
             f"{s['replicates']} replicate trials per population"
             + (" and as many with typical parameters drawn from the posterior" if "posterior" in s["modes"] else "")
             + f"; n = {design.n} randomised (allocation {', '.join(fmt(a) for a in design.allocation)}); "
             f"visits at {', '.join(fmt(v) for v in design.visits)} {design.time_unit}.", "",
             "| arm | regimen | dose |", "|---|---|---|"]
    lines += [f"| {a['id']} | `{a['regimen']}` | {fmt(a['dose'])} |" for a in s["arms"]]
    if s["failed_simulations"]:
        lines += ["", f"**{s['failed_simulations']} subject simulations failed** (their observations are missing)."]
    return lines


def _population_lines(design: ParallelDesign, pop: str, entry: dict[str, Any]) -> list[str]:
    """One population's section: comparisons, arm summaries, power curve, dose selection, adaptive design."""
    lines = ["", f"## Population: {pop}", "",
             f"Criteria: {'; '.join(entry['criteria']) or 'none'}. n = {entry['n']}, expected n = "
             f"{fmt(entry['expected_n'], 4)}.", "",
             "| endpoint | comparison | test | estimand | estimate | CI (mean limits) | 95% range of estimate "
             "| power | prob. of success | std. effect |", "|---|---|---|---|---|---|---|---|---|---|"]
    for c in entry["comparisons"]:
        rng = c["estimate_range"]
        lines.append(
            f"| {c['endpoint']} | {c['treatment']} vs {c['control']} | {c['test']} | {c['estimand'] or '-'} | "
            f"{fmt(c['estimate'])} | {fmt(c['ci_low'])} to {fmt(c['ci_high'])} | "
            f"{fmt(rng[0]) if rng else '-'} to {fmt(rng[1]) if rng else '-'} | "
            f"{fmt(c['power'])} ± {fmt(c['power_se'], 2)} | {fmt(c['probability_of_success'])} | "
            f"{fmt(c.get('standardised_effect'))} |")
    lines += ["", "| arm | " + " | ".join(e.id for e in design.endpoints) + " |",
              "|---|" + "---|" * len(design.endpoints)]
    for arm, eps in entry["arms"].items():
        cells = []
        for e in design.endpoints:
            v = eps[e.id]
            cells.append(f"rate {fmt(v['responder_rate'])}" if e.type == "responder"
                         else f"{fmt(v['mean'])} (SD {fmt(v['sd'])})")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    if len({r["n"] for r in entry["power_curve"]}) > 1:
        lines += ["", f"Power curve (target {fmt(design.target_power)}); required n: "
                  + "; ".join(f"{ep} {t}: {fmt(n)}" for ep, d in entry["required_n"].items() for t, n in d.items()),
                  "", "| endpoint | treatment | n | power | MC SE |", "|---|---|---|---|---|"]
        lines += [f"| {r['endpoint']} | {r['treatment']} | {r['n']} | {fmt(r['power'])} | {fmt(r['power_se'], 2)} |"
                  for r in entry["power_curve"]]
    if "dose_selection" in entry:
        lines += _dose_selection_lines(entry["dose_selection"])
    if "adaptive" in entry:
        lines += _adaptive_lines(entry["adaptive"])
    return lines


def _dose_selection_lines(ds: dict[str, Any]) -> list[str]:
    what = "has its one-sided lower bound" if ds["rule"] == "lower_bound" else "is"
    lines = ["", f"Dose selection on `{ds['endpoint']}` (smallest dose whose difference from control "
             f"dose {fmt(ds['control_dose'])} {what} >= {fmt(ds['target'])}, significant at one-sided "
             f"{fmt(ds['alpha'])}; "
             "qsp_sbml.trial.dose.select_dose); linear trend test power "
             f"{fmt(ds['trend_test_power'])}.", "", "| dose | probability selected |", "|---|---|"]
    lines += [f"| {k} | {fmt(v)} |" for k, v in ds["probability_selected"].items()]
    return lines


def _adaptive_lines(a: dict[str, Any]) -> list[str]:
    c = a["conditional"]
    return ["", f"Group-sequential ({a['spending']} spending"
            + (f", {a['futility_spending']} futility" if a["futility_spending"] else "")
            + f", one-sided alpha {fmt(a['one_sided_alpha'])}) at n = {a['looks_n']}: efficacy bounds "
            f"{', '.join(fmt(b) for b in a['efficacy_bounds'])}"
            + (f", futility bounds {', '.join(fmt(b) for b in a['futility_bounds'])}"
               if a["futility_bounds"] else "") + ".", "",
            "| design | power | expected n | futility stops |", "|---|---|---|---|",
            f"| group-sequential | {fmt(c['sequential_power'])} ± {fmt(c['sequential_power_se'], 2)} | "
            f"{fmt(c['expected_n'], 4)} | {fmt(c['futility_stop'])} |",
            f"| fixed | {fmt(c['fixed_power'])} ± {fmt(c['fixed_power_se'], 2)} | {c['fixed_n']} | - |"]


def _closing_lines(design: ParallelDesign) -> list[str]:
    """The plots, the methods and the sources of the scenario's numbers."""
    lines = ["", "## Plots", "", "![power curve](power_curve.png)", "", "![forest plot](forest.png)", "",
             "![visual predictive check](vpc.png)", "", "![spaghetti](spaghetti.png)", "",
             "## Methods", "",
             "Each replicate recruits candidates from the population until n pass the criteria, randomises them in "
             "permuted blocks of the allocation ratios (within strata), simulates each subject once under its "
             "arm's regimen, adds response variability, measurement error and exponential dropout, and analyses "
             "every comparison with the endpoint's test (qsp_sbml.trial.analysis). Smaller n of the power curve "
             "are the first n randomised subjects of the same replicates. Estimates and confidence limits are "
             "means over replicates; power is the fraction of replicates with p < alpha (two-sided) with its "
             "Monte Carlo standard error."]
    if design.references:
        lines += ["", "## Sources of the scenario's numbers", ""] + [f"- {r}" for r in design.references]
    return lines
