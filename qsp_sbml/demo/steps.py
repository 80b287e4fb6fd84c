"""Steps of the flagship demo: compose, calibrate, virtual population (see :mod:`qsp_sbml.demo.pipeline`).

1. **compose** the risankizumab PK, Emax and psoriasis modules with the shipped spec
   ``models/composed/mab_psoriasis.yaml`` and simulate the label regimen (150 mg SC at weeks 0 and 4, then
   every 12 weeks); checked against the independently written single-file model
   ``models/disease/psoriasis_risankizumab.xml`` and against the regimen written as SBML events.
2. **calibrate** the shipped PEtab problem ``petab_problems/psoriasis_ultimma`` (UltIMMa-1 PASI90 rates;
   Gordon et al. 2018, Lancet 392:650) with a few fides starts on our objective with exact gradients.
3. **population**: a virtual population on the composed model with the calibrated values as typical values,
   log-normal IIV on risankizumab clearance and the psoriasis module's own between-patient response model,
   simulated under the label regimen and placebo; 90 % prediction bands, spaghetti and waterfall plots and
   responder rates compared with UltIMMa-1.
4. **trial**: the shipped three-arm design ``trials/psoriasis_dose_selection.yaml`` (placebo vs risankizumab
   18 mg once vs 150 mg at weeks 0 and 4; PASI75 at week 12; power vs n) with the calibrated values of step 2
   written into it, run by :func:`qsp_sbml.trial.runner.run_trial` (what ``qsp-sbml trial`` runs).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml._io import atomic_write_text
from qsp_sbml.demo.pipeline import DemoContext, Step, StepOutcome

__all__ = ["IIV_CL_CV", "STEPS", "ULTIMMA1", "step_calibrate", "step_compose", "step_population", "step_trial"]

WEEK_H = 168.0
END_H = 52 * WEEK_H
#: Between-subject CV of risankizumab clearance: 37 % (Suleiman et al. 2018, Clin Pharmacokinet 58:375,
#: abstract, "Inter-individual variability for clearance was 37 %"; phase I/II psoriasis and Crohn's data).
IIV_CL_CV = 0.37
#: UltIMMa-1 PASI90 proportions (Gordon KB et al. 2018, Lancet 392:650-661; the same rows as
#: petab_problems/psoriasis_ultimma/measurements.tsv): (arm, week) -> (proportion, n).
#: llh at the optimum found by a local Nelder-Mead fit (scipy; petab_problems/psoriasis_ultimma/README.md,
#: tests/test_petab_problems.py): another optimiser than the demo's fides starts.
REFERENCE_LLH = 8.585
ULTIMMA1: dict[tuple[str, int], tuple[float, int]] = {
    ("placebo", 16): (0.049, 102),
    ("risankizumab", 16): (0.753, 304),
    ("risankizumab", 52): (0.82, 304),
}


def _paths() -> tuple[Path, Path]:
    from qsp_sbml.resources import project_dir

    return (project_dir("models") / "composed" / "mab_psoriasis.yaml",
            project_dir("petab_problems") / "psoriasis_ultimma" / "psoriasis_ultimma.yaml")


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference relative to the larger peak of the two series (0 for two zero series)."""
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else 0.0


# -- 1. compose ---------------------------------------------------------------
def step_compose(ctx: DemoContext) -> StepOutcome:
    """Compose mAb PK + Emax + psoriasis from the shipped spec, simulate the label regimen and placebo."""
    from qsp_sbml.compose import load_spec
    from qsp_sbml.compose.spec import compose_spec, outputs_for
    from qsp_sbml.loading import load_model

    spec_path, _ = _paths()
    spec = load_spec(spec_path)
    composition = compose_spec(spec)
    shipped_flat = outputs_for(spec_path)[1].read_text(encoding="utf-8")
    atomic_write_text(ctx.folder / "mab_psoriasis.xml", composition.comp_sbml)
    atomic_write_text(ctx.folder / "mab_psoriasis_flat.xml", composition.flat_sbml)
    model = load_model(composition.flat_sbml)
    if spec.exchange is None or spec.exchange.regimen is None:
        raise ValueError(f"{spec_path}: the demo needs the spec's exchange regimen (the label regimen)")
    regimen = spec.exchange.regimen
    times = np.arange(0.0, END_H + 1e-9, 24.0)
    outputs = ["pk_C_free", "pd_inhibition", "disease__PASI", "disease__PASI_ratio", "disease__P_PASI90"]
    treated = model.simulate(times, selections=outputs, regimen=regimen)
    placebo = model.simulate(times, selections=outputs)
    vs_single, events_vs_timeline = _compose_cross_checks(model, regimen, times, treated)
    atomic_write_text(ctx.folder / "typical_patient.tsv",
                      treated.assign(arm="risankizumab").pipe(
                          lambda d: pd.concat([d, placebo.assign(arm="placebo")])).to_csv(sep="\t", index=False))
    _typical_patient_plot(times, treated, placebo, ctx.folder / "typical_patient.png")

    week = {w: int(np.searchsorted(times, w * WEEK_H)) for w in (16, 52)}
    summary: dict[str, Any] = {
        "spec": str(spec_path), "modules": {k: str(v) for k, v in spec.modules.items()},
        "links": [str(link) for link, _ in composition.links], "regimen": regimen,
        "flat_equals_shipped": composition.flat_sbml == shipped_flat,
        "max_rel_diff_vs_single_file_model": vs_single, "events_vs_timeline_max_rel_diff": events_vs_timeline,
        "typical": {f"week{w}": {"C_free_nM": float(treated["pk_C_free"].iloc[k]),
                                 "PASI": float(treated["disease__PASI"].iloc[k]),
                                 "P_PASI90": float(treated["disease__P_PASI90"].iloc[k]),
                                 "P_PASI90_placebo": float(placebo["disease__P_PASI90"].iloc[k])}
                    for w, k in week.items()},
    }
    ctx.shared.update(model=model, composition=composition, regimen=regimen, spec=spec)
    markdown = [
        f"Spec `{spec_path.name}`: modules {', '.join(f'`{k}` ({Path(v).name})' for k, v in spec.modules.items())}; "
        f"links {'; '.join(f'`{s}`' for s in summary['links'])}. Regimen `{regimen}` (150 mg / 149 kDa).",
        "",
        "| quantity | week 16 | week 52 |", "|---|---|---|",
        *(f"| {label} | {summary['typical']['week16'][key]:.4g} | {summary['typical']['week52'][key]:.4g} |"
          for label, key in (("free risankizumab (nM)", "C_free_nM"), ("PASI (baseline 20)", "PASI"),
                             ("P(PASI90), treated", "P_PASI90"), ("P(PASI90), placebo", "P_PASI90_placebo"))),
        "",
        f"Composed vs the hand-written single-file model `psoriasis_risankizumab.xml`: max relative difference "
        f"C_free {vs_single['C_free']:.1e}, PASI {vs_single['PASI']:.1e}; regimen as SBML events vs the dose "
        f"timeline {events_vs_timeline:.1e}.",
    ]
    checks = {"composition equals the shipped flat model": summary["flat_equals_shipped"],
              "composed = single-file model (rel. diff <= 1e-6)": max(vs_single.values()) <= 1e-6,
              "SBML events = dose timeline (rel. diff <= 1e-6)": events_vs_timeline <= 1e-6}
    return StepOutcome("Compose and simulate: risankizumab PK -> IL-23 inhibition -> psoriasis", summary, markdown,
                       checks, ["mab_psoriasis.xml", "mab_psoriasis_flat.xml", "typical_patient.tsv",
                                "typical_patient.png"])


def _compose_cross_checks(model: Any, regimen: str, times: np.ndarray,
                          treated: pd.DataFrame) -> tuple[dict[str, float], float]:
    """Max relative differences: composed vs the single-file model, and the regimen as SBML events vs timeline."""
    from qsp_sbml.loading import load_model
    from qsp_sbml.resources import project_models_dir

    # the same equations written by hand in one file (doses at weeks 0, 4, 16, 28, 40 as SBML events)
    single = load_model(project_models_dir() / "disease" / "psoriasis_risankizumab.xml")
    ref = single.simulate(times, selections=["C_free", "PASI", "P_PASI90"])
    vs_single = {
        "C_free": _max_rel(treated["pk_C_free"].to_numpy(), ref["C_free"].to_numpy()),
        "PASI": _max_rel(treated["disease__PASI"].to_numpy(), ref["PASI"].to_numpy()),
    }
    # the regimen exported as SBML events (what another simulator receives) vs the simulator's dose timeline
    exported = load_model(model.to_sbml(regimen, end=END_H))
    via_events = exported.simulate(times, selections=["pk_C_free", "disease__PASI"])
    events_vs_timeline = max(_max_rel(via_events[c].to_numpy(), treated[c].to_numpy())
                             for c in ("pk_C_free", "disease__PASI"))
    return vs_single, events_vs_timeline


def _typical_patient_plot(times: np.ndarray, treated: pd.DataFrame, placebo: pd.DataFrame, path: Path) -> None:
    from qsp_sbml.plot import pyplot, save_figure

    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax1.plot(times / WEEK_H, treated["pk_C_free"], color="C0")
    ax1.set(yscale="log", ylim=(0.1, None), xlabel="week", ylabel="free risankizumab (nM)",
            title="typical patient, 150 mg SC wk 0, 4, q12w")
    for frame, label, colour in ((treated, "risankizumab", "C0"), (placebo, "placebo", "C7")):
        ax2.plot(times / WEEK_H, frame["disease__PASI"], color=colour, label=label)
    ax2.set(xlabel="week", ylabel="PASI", title="typical patient")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


# -- 2. calibrate ---------------------------------------------------------------
def step_calibrate(ctx: DemoContext) -> StepOutcome:
    """A short multistart calibration of the shipped UltIMMa-1 PEtab problem (fides, exact gradients)."""
    from qsp_sbml.calibrate import multistart, plot_fit, plot_waterfall
    from qsp_sbml.petab import PetabObjective, PetabProblem

    _, problem_path = _paths()
    objective = PetabObjective(PetabProblem.from_yaml(problem_path))
    n = ctx.settings.n_starts
    result = multistart(objective, n_starts=n, seed=ctx.settings.seed, optimizer="fides",
                        progress=ctx.settings.progress)
    if not math.isfinite(result.best_fval):
        raise RuntimeError(f"{problem_path}: all {n} starts failed (first: {result.starts['message'].iloc[0]})")
    best = objective.evaluate(result.best_x_scaled)
    atomic_write_text(ctx.folder / "calibration_starts.tsv", result.starts.to_csv(sep="\t", index=False))
    plot_waterfall(result.starts, ctx.folder / "calibration_waterfall.png")
    plot_fit(objective, result.best_x_scaled, ctx.folder / "calibration_fit.png")
    # PEtab ids are the disease module's ids: map them to the composed model through its provenance
    composition = ctx.shared.get("composition")
    flat_of = {(o.module, o.original_id): fid for fid, o in composition.origins.items()} if composition else {}
    calibrated = {flat_of.get(("disease", pid), pid): value for pid, value in result.best_x.items()}
    ctx.shared["calibrated"] = calibrated
    summary = {"problem": str(problem_path), **result.summary(), "llh": best.llh, "chi2": best.chi2,
               "calibrated_composed_ids": calibrated}
    markdown = [
        f"PEtab problem `{problem_path.parent.name}` (UltIMMa-1 PASI90 rates, Gordon et al. 2018 Lancet "
        "392:650): three estimated parameters, three proportions.",
        f"{n} fides starts (seed {ctx.settings.seed}): best llh {best.llh:.4f}, chi2 {best.chi2:.2e}, "
        f"{result.n_converged()} of {n} starts within 0.1 of the best, {result.wall_time_s:.1f} s.", "",
        "| parameter | fitted | composed-model id |", "|---|---|---|",
        *(f"| {pid} | {value:.5g} | `{flat_of.get(('disease', pid), pid)}` |" for pid, value in result.best_x.items()),
    ]
    checks = {f"best llh = Nelder-Mead optimum {REFERENCE_LLH} (README of the problem) within 0.01":
              abs(best.llh - REFERENCE_LLH) <= 0.01}
    return StepOutcome("Calibrate: psoriasis module on UltIMMa-1 (PEtab, pyPESTO/fides)", summary, markdown,
                       checks, ["calibration_starts.tsv", "calibration_waterfall.png", "calibration_fit.png"])


# -- 3. virtual population ------------------------------------------------------
def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score 95 % interval of a proportion k/n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def step_population(ctx: DemoContext) -> StepOutcome:
    """Virtual population on the composed model: prediction bands and responder rates vs UltIMMa-1."""
    from qsp_sbml.population import simulate_cohort

    if "model" not in ctx.shared:
        step_compose_quiet(ctx)
    model, regimen = ctx.shared["model"], ctx.shared["regimen"]
    n, seed = ctx.settings.n_subjects, ctx.settings.seed
    cohort, typical, s_resp, u = _virtual_cohort(ctx, model, n, seed)
    cohort.to_parquet(ctx.folder / "cohort.parquet")
    times = np.arange(0.0, END_H + 1e-9, WEEK_H / 2)
    outputs = ["pk_C_free", "disease__PASI_ratio"]
    arms: dict[str, Any] = {}
    for arm, reg in (("risankizumab", regimen), ("placebo", None)):
        res = simulate_cohort(model, cohort, times, outputs=outputs, regimen=reg, progress=ctx.settings.progress)
        ratio = res.values[:, :, 1] * np.exp(u)[:, None]        # individual PASI / baseline PASI
        arms[arm] = {"result": res, "ratio": ratio}
    treated = arms["risankizumab"]
    k16 = int(np.searchsorted(times, 16 * WEEK_H))
    _population_plots(ctx.folder, times, treated, n, seed, k16)
    observed = pd.DataFrame([{"time": wk * WEEK_H, "value": 100 * p, "lower": 100 * _wilson(round(p * m), m)[0],
                              "upper": 100 * _wilson(round(p * m), m)[1]}
                             for (arm, wk), (p, m) in ULTIMMA1.items() if arm == "risankizumab"])
    typical_p90 = {arm: model.simulate(times, selections=["disease__P_PASI90"], regimen=reg,
                                       parameters={k: v for k, v in typical.items() if k != "pk__CL"}
                                       )["disease__P_PASI90"].to_numpy()
                   for arm, reg in (("risankizumab", regimen), ("placebo", None))}
    rates, rows = _responder_rates(times, arms, typical_p90)
    atomic_write_text(ctx.folder / "ultimma1_observed.tsv", observed.to_csv(sep="\t", index=False))
    _responder_plot(times, arms, typical_p90, ctx.folder / "population_PASI90_rate.png")
    failed = {arm: len(d["result"].failed) for arm, d in arms.items()}
    c16 = treated["result"].values[:, k16, 0]
    summary: dict[str, Any] = {"n_subjects": n, "seed": seed, "typical": typical, "iiv_cv": {"pk__CL": IIV_CL_CV},
               "response_scale_s_resp": s_resp, "failed": failed, "PASI90": rates,
               "C_free_week16_nM_p5_p50_p95": [float(np.nanquantile(c16, q)) for q in (0.05, 0.5, 0.95)]}
    markdown = [
        f"{n} virtual patients (seed {seed}): typical values from steps 1-2, log-normal IIV on risankizumab "
        f"clearance (CV {IIV_CL_CV:.0%}, Suleiman et al. 2018 Clin Pharmacokinet 58:375), and the psoriasis "
        f"module's between-patient response model: log residual PASI logistic with scale s_resp = {s_resp:.4g}, "
        "one draw per patient. Arms simulated on the same cohort: risankizumab (label regimen) and placebo.",
        f"Free risankizumab at week 16: median {summary['C_free_week16_nM_p5_p50_p95'][1]:.3g} nM "
        f"(90 % of patients {summary['C_free_week16_nM_p5_p50_p95'][0]:.3g}-"
        f"{summary['C_free_week16_nM_p5_p50_p95'][2]:.3g}). Failed simulations: {failed}.", "",
        "| arm | week | PASI90, virtual (95 % CI) | typical patient, module formula | UltIMMa-1 observed (Wilson "
        "95 % CI) | virtual rate in the trial's 95 % CI |",
        "|---|---|---|---|---|---|", *rows, "",
        "These are **fitted** comparisons, not predictions: UltIMMa-1's rates are what step 2 calibrated the "
        "typical patient on. The held-out trials of the psoriasis module's split (reSURFACE 1, UltIMMa-2) are "
        "predicted in `models/disease/validation/psoriasis_prediction.md`.",
        "The module formula P(PASI90) is the typical patient's responder probability (no PK variability); the "
        "calibration (step 2) fitted it to UltIMMa-1. With clearance variability the virtual rate under "
        "treatment can differ from it: the residual Th17 activity f_ind + (1 - f_ind) IC50/(C + IC50) is "
        "convex in exposure, so patients with a high clearance lose more than those with a low one gain. "
        "A population-level calibration would absorb this; it is not part of this demo.",
    ]
    # placebo: no drug, so every patient's model PASI ratio is 1 and the virtual rate must match the module's own
    # formula P(PASI90) = 1/(1 + exp(-ln(0.1)/s_resp)): a check of the cohort machinery and the response draws
    p_placebo = rates["placebo_week16"]
    checks = {"no failed simulation": not any(failed.values()),
              "placebo PASI90: virtual rate matches the module formula (inside the 95 % CI)":
                  p_placebo["ci95"][0] <= p_placebo["typical_formula"] <= p_placebo["ci95"][1]}
    return StepOutcome("Virtual population: 90 % prediction bands and responder rates", summary, markdown, checks,
                       ["cohort.parquet", "ultimma1_observed.tsv", "population_PASI90_rate.png",
                        "population_C_free_band.png",
                        "population_PASI_band.png", "population_PASI_spaghetti.png",
                        "population_week16_waterfall.png"])


def _virtual_cohort(ctx: DemoContext, model: Any, n: int, seed: int) -> tuple[Any, dict[str, float], float,
                                                                            np.ndarray]:
    """The cohort (typical values of steps 1-2, IIV on clearance, one response draw per patient).

    Returns the cohort, the typical values, the response scale ``s_resp`` and the patients' response draws.
    """
    from qsp_sbml.population import Cohort, lognormal_iiv

    sbml = model.sbml_model
    typical = {"pk__CL": float(sbml.getParameter("pk__CL").getValue()),
               **{k: float(v) for k, v in ctx.shared.get("calibrated", {}).items()}}
    s_resp = typical.get("disease__s_resp", float(sbml.getParameter("disease__s_resp").getValue()))
    rng_iiv, rng_resp = np.random.default_rng(seed).spawn(2)
    params = lognormal_iiv(typical, n, seed=rng_iiv, cv={"pk__CL": IIV_CL_CV})
    # The module's between-patient response model (models/disease/psoriasis.md): a patient's log residual PASI
    # is logistic around the typical value with scale s_resp; one draw per patient, fixed over time.
    u = rng_resp.logistic(0.0, s_resp, size=n)
    cohort = Cohort.from_parts(covariates=pd.DataFrame({"log_pasi_offset": u}), parameters=params, seed=seed,
                               provenance={"typical": typical, "iiv_cv": {"pk__CL": IIV_CL_CV},
                                           "response_scale": s_resp})
    return cohort, typical, s_resp, u


def _population_plots(folder: Path, times: np.ndarray, treated: dict[str, Any], n: int, seed: int,
                      k16: int) -> None:
    """Prediction bands of free drug and PASI improvement, PASI spaghetti and the week-16 waterfall."""
    from qsp_sbml.plot import prediction_band, spaghetti, waterfall

    improvement = 100.0 * (1.0 - np.minimum(treated["ratio"], 1.0))
    prediction_band(times, treated["result"].values[:, :, 0], folder / "population_C_free_band.png",
                    logy=True, time_scale=WEEK_H, xlabel="week", ylabel="free risankizumab (nM)",
                    title=f"{n} virtual patients, 150 mg SC wk 0, 4, q12w")
    prediction_band(times, improvement, folder / "population_PASI_band.png", time_scale=WEEK_H,
                    xlabel="week", ylabel="PASI improvement (%)", title="90 % prediction band, risankizumab")
    spaghetti(times, 20.0 * treated["ratio"], folder / "population_PASI_spaghetti.png", seed=seed,
              time_scale=WEEK_H, xlabel="week", ylabel="PASI (typical baseline 20)")
    waterfall(-improvement[:, k16], folder / "population_week16_waterfall.png",
              ylabel="PASI change from baseline at week 16 (%)", thresholds=(-75.0, -90.0),
              title="week 16, risankizumab")


def _responder_rates(times: np.ndarray, arms: dict[str, Any],
                     typical_p90: dict[str, np.ndarray]) -> tuple[dict[str, Any], list[str]]:
    """PASI90 rates per arm at weeks 16 and 52 (Wilson 95 % CI) vs the module formula and UltIMMa-1; table rows."""
    rates: dict[str, Any] = {}
    rows = []
    for arm, data in arms.items():
        ok = data["result"].status == "ok"
        for wk in (16, 52):
            k = int(np.searchsorted(times, wk * WEEK_H))
            hits = int(np.sum(data["ratio"][ok, k] <= 0.1))
            m = int(ok.sum())
            lo, hi = _wilson(hits, m)
            obs = ULTIMMA1.get((arm, wk))
            formula = typical_p90[arm][k]
            obs_ci = _wilson(round(obs[0] * obs[1]), obs[1]) if obs else None
            inside = None if obs_ci is None else bool(obs_ci[0] <= hits / m <= obs_ci[1])
            rates[f"{arm}_week{wk}"] = {"PASI90": hits / m, "ci95": [lo, hi], "n": m, "typical_formula": formula,
                                        "observed": obs[0] if obs else None,
                                        "observed_ci95": list(obs_ci) if obs_ci else None,
                                        "inside_observed_ci95": inside}
            rows.append(f"| {arm} | {wk} | {100 * hits / m:.1f} % ({100 * lo:.1f}-{100 * hi:.1f}) | "
                        f"{100 * formula:.1f} % | "
                        + (f"{100 * obs[0]:.1f} % (n = {obs[1]}; 95 % CI {100 * obs_ci[0]:.1f}-{100 * obs_ci[1]:.1f})"
                           f" | {'inside' if inside else 'outside'}" if obs and obs_ci else "- | -") + " |")
    return rates, rows


def _responder_plot(times: np.ndarray, arms: dict[str, Any], typical_p90: dict[str, np.ndarray], path: Path) -> None:
    from qsp_sbml.plot import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for k, (arm, data) in enumerate(arms.items()):
        ok = data["result"].status == "ok"
        ax.plot(times / WEEK_H, 100 * np.mean(data["ratio"][ok] <= 0.1, axis=0), color=f"C{k}",
                label=f"{arm}: virtual population")
        ax.plot(times / WEEK_H, 100 * typical_p90[arm], color=f"C{k}", ls="--", lw=0.9,
                label=f"{arm}: typical-patient formula")
        for (obs_arm, wk), (p, m) in ULTIMMA1.items():
            if obs_arm == arm:
                lo, hi = _wilson(round(p * m), m)
                ax.errorbar([wk], [100 * p], yerr=[[100 * (p - lo)], [100 * (hi - p)]], fmt="o", color=f"C{k}",
                            mec="k", capsize=3)
    ax.set(xlabel="week", ylabel="PASI90 responders (%)", ylim=(0, 100),
           title="PASI90 rate; points: UltIMMa-1 with 95 % CI")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def step_compose_quiet(ctx: DemoContext) -> None:
    """Compose the model without writing a report section (for a pipeline that starts after step 1)."""
    from qsp_sbml.compose import load_spec
    from qsp_sbml.compose.spec import compose_spec
    from qsp_sbml.loading import load_model

    spec = load_spec(_paths()[0])
    composition = compose_spec(spec)
    if spec.exchange is None or spec.exchange.regimen is None:
        raise ValueError(f"{spec.path}: the demo needs the spec's exchange regimen (the label regimen)")
    ctx.shared.update(model=load_model(composition.flat_sbml), composition=composition,
                      regimen=spec.exchange.regimen, spec=spec)


# -- 4. three-arm trial ----------------------------------------------------------
def step_trial(ctx: DemoContext) -> StepOutcome:
    """The shipped three-arm psoriasis dose-selection trial with the calibrated module parameters."""
    import yaml

    from qsp_sbml.resources import project_dir
    from qsp_sbml.trial.runner import run_trial

    source = project_dir("trials") / "psoriasis_dose_selection.yaml"
    design = yaml.safe_load(source.read_text(encoding="utf-8"))
    design["model"] = str((source.parent / design["model"]).resolve())
    calibrated = dict(ctx.shared.get("calibrated", {}))
    # the module's between-patient response scale is the design's response variability of PASI
    s_resp = calibrated.pop("disease__s_resp", None)
    if s_resp is not None:
        design["response_variability"]["disease__PASI"]["scale"] = float(s_resp)
    design["population"].setdefault("parameters", {}).update({k: float(v) for k, v in calibrated.items()})
    design_path = ctx.folder / "trial_design.yaml"
    atomic_write_text(design_path, f"# {source.name} with the calibrated values of the demo's step 2\n"
                      + yaml.safe_dump(design, sort_keys=False))
    summary = run_trial(design_path, seed=ctx.settings.seed, out=ctx.folder / "trial",
                        max_replicates=ctx.settings.n_replicates)
    population = next(iter(summary["populations"].values()))
    rows = [f"| {c['endpoint']} | {c['treatment']} vs {c['control']} | {c['estimate']:.3f} "
            f"({c['ci_low']:.3f}, {c['ci_high']:.3f}) | {c['power']:.2f} |" for c in population["comparisons"]]
    d = summary["design"]
    markdown = [
        f"`{source.name}` (three arms, n = {d['n']}, PASI75 at week 12) with the calibrated values of step 2 "
        f"(`trial_design.yaml`), {d['replicates']} replicate trials (seed {ctx.settings.seed}); full report "
        "in `trial/report.md`.", "",
        "| endpoint | comparison | mean estimate (mean 95 % CI) | power |", "|---|---|---|---|", *rows]
    primary = [c for c in population["comparisons"] if c["endpoint"] == "pasi75"]
    # the risankizumab arms beat placebo in UltIMMa-1 and in the phase 2 trial: the simulated trial must, too
    checks = {"both doses beat placebo on PASI75 (mean estimate > 0)": bool(primary) and all(
        c["estimate"] > 0 for c in primary)}
    files = ["trial_design.yaml", *(f"trial/{p.name}" for p in sorted((ctx.folder / "trial").iterdir()))]
    return StepOutcome("Three-arm trial: placebo vs risankizumab 18 mg vs 150 mg (PASI75, week 12)",
                       {"design": d, "comparisons": population["comparisons"],
                        "required_n": population.get("required_n"), "expected_n": population.get("expected_n")},
                       markdown, checks, files)


#: The flagship pipeline, in order.
STEPS: tuple[Step, ...] = (
    ("compose", step_compose),
    ("calibrate", step_calibrate),
    ("population", step_population),
    ("trial", step_trial),
)
