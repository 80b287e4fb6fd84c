"""Autoimmune hepatitis module: effector/regulatory T cells, hepatocyte injury, ALT/AST, stellate cells, collagen.

Writes ``models/disease/liver_autoimmune.xml`` (model card beside it).  Time in
hours, transaminases in U/L, cells and collagen relative (dimensionless).  The
untreated module sits at the published active-AIH baseline (ALT 757 U/L,
AST/ALT 0.7); ``E_drug`` (0-1) is fractional inhibition of effector T-cell
activation (immunosuppression: corticosteroids such as budesonide or
prednisolone, with or without azathioprine).

Every number is in :data:`PARAMETERS` with its source; values marked
"assumption" are not measured quantities and are listed as such in the model
card.  :func:`validate` reproduces the rapid-response observation of Pape et al.
2020 (AST fall at week 8 in patients whose transaminases normalise by week 26).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from qsp_sbml._sbml_build import ModuleBuilder
from qsp_sbml.errors import QspError
from qsp_sbml.library import ValidationOutcome
from qsp_sbml.library._common import Value, read_observed, shipped_model
from qsp_sbml.library.report import Qualification
from qsp_sbml.resources import project_models_dir

__all__ = ["BASELINE", "FILES", "PARAMETERS", "ast_decrease", "build_liver_autoimmune", "derived", "qualification",
           "normalising_effect", "validate"]

MODEL_FILE = "disease/liver_autoimmune.xml"
#: Columns the observed table must have.
OBSERVED_COLUMNS = frozenset({"quantity", "week", "value", "unit", "tolerance", "source"})
OBSERVED_FILE = "disease/validation/liver_autoimmune_observed.tsv"
HOURS_PER_DAY = 24.0



#: Published and assumed inputs (before conversion to the SBML's hourly rates).
PARAMETERS: dict[str, Value] = {
    # Plasma half-lives of the transaminases.
    "t_half_ALT": Value(47.0, "h", "Dufour DR et al. 2000 Clin Chem 46:2027 (47 +/- 10 h, after Price CP & "
                                   "Alberti KGMM 1979; not re-read here); Wallach's Interpretation of Diagnostic "
                                   "Tests gives 48 h"),
    "t_half_AST": Value(17.0, "h", "Dufour DR et al. 2000 Clin Chem 46:2027 (17 +/- 5 h, after Price & Alberti "
                                   "1979; not re-read here); Wallach's Interpretation of Diagnostic Tests gives 18 h"),
    # Steady states.
    "ALT_baseline": Value(757.0, "U/L", "active AIH, peak ALT at liver biopsy, median (range 165-3301), n=11: "
                                        "J Immunother Cancer 2022 (PMID 36283734), Table 2, autoimmune liver "
                                        "disease group"),
    "AST_ALT_ratio_baseline": Value(0.7, "1", "same table: AST/ALT median 0.7 (range 0.2-1.1)"),
    "ALT_remission": Value(16.0, "U/L", "AIH in histological remission, median: Eur J Intern Med 2021, "
                                        "doi:10.1016/j.ejim.2021.03.024 (abstract)"),
    "AST_remission": Value(22.0, "U/L", "same study: AST median 22 U/L in histological remission"),
    "ULN": Value(40.0, "U/L", "assumption: a common laboratory upper limit of normal for ALT and AST; "
                              "Pape 2020 used each centre's ULN"),
    # T cells.
    "t_half_Teff": Value(math.log(2) / 0.047, "day",
                         "CD4 effector-memory T cells proliferate at 4.7 %/day (steady state: equal loss), "
                         "Macallan DC et al. 2004 J Exp Med 200:255, abstract (PMC2212011)"),
    "t_half_Treg": Value(math.log(2) / 0.047, "day", "assumption: as effector-memory T cells"),
    "s_reg": Value(1.0, "1", "assumption: Tregs halve effector activation at the AIH baseline "
                             "(numerical/functional Treg defect in AIH, Longhi MS et al. 2004 J Hepatol 41:31; "
                             "strength not measured)"),
    "w_reg": Value(0.5, "1", "assumption: half of the hepatic Treg pool follows inflammation (IL-2 from Teff)"),
    # Hepatocytes.
    "H_baseline": Value(0.9, "1", "assumption: 10 % functional hepatocyte mass lost in active non-cirrhotic AIH"),
    "t_half_regen": Value(7.0, "day", "assumption: hepatocyte mass deficit halves in one week "
                                      "(regeneration after injury; no human AIH measurement found)"),
    # Stellate cells and collagen.
    "S_healthy": Value(0.02, "1", "assumption: activated fraction of hepatic stellate cells in healthy liver "
                                  "(quiescent HSCs dominate; Friedman SL 2008 Physiol Rev 88:125)"),
    "S_baseline": Value(0.3, "1", "assumption: activated HSC fraction in active AIH"),
    "t_half_HSC": Value(14.0, "day", "assumption: activated HSCs revert or die with a 2-week half-life "
                                     "(regression studies in mice: Kisseleva T et al. 2012 PNAS 109:9448; "
                                     "Troeger JS et al. 2012 Gastroenterology 143:1073)"),
    "collagen_baseline": Value(2.0, "1", "assumption: hepatic collagen twice the healthy content "
                                         "(moderate fibrosis; cirrhotic liver holds several-fold more, "
                                         "Friedman SL 2008 Physiol Rev 88:125)"),
    "t_half_collagen": Value(60.0, "day", "assumption: turnover half-life of excess hepatic collagen"),
}


def _v(key: str) -> float:
    return PARAMETERS[key].value


def derived() -> dict[str, float]:
    """SBML parameter values (hourly rates) computed once from :data:`PARAMETERS`."""
    ln2 = math.log(2)
    alt_b = _v("ALT_baseline")
    ast_b = _v("AST_ALT_ratio_baseline") * alt_b
    h_b = _v("H_baseline")
    k_rg = ln2 / (_v("t_half_regen") * HOURS_PER_DAY)
    k_sd = ln2 / (_v("t_half_HSC") * HOURS_PER_DAY)
    s0, sb = _v("S_healthy"), _v("S_baseline")
    a0, a1 = k_sd * s0 / (1 - s0), k_sd * sb / (1 - sb)
    cb = _v("collagen_baseline")
    return {
        "k_el_ALT": ln2 / _v("t_half_ALT"),
        "k_el_AST": ln2 / _v("t_half_AST"),
        "ALT_0": _v("ALT_remission"),
        "AST_0": _v("AST_remission"),
        "q_ALT": alt_b - _v("ALT_remission"),
        "q_AST": ast_b - _v("AST_remission"),
        "k_Teff": ln2 / (_v("t_half_Teff") * HOURS_PER_DAY),
        "k_Treg": ln2 / (_v("t_half_Treg") * HOURS_PER_DAY),
        "s_reg": _v("s_reg"),
        "w_reg": _v("w_reg"),
        "k_regen": k_rg,
        "k_kill": k_rg * (1 - h_b),
        "H_b": h_b,
        "k_HSC_act": a1 - a0,
        "b_HSC": a0 / (a1 - a0),
        "k_HSC_deact": k_sd,
        "k_col": ln2 / (_v("t_half_collagen") * HOURS_PER_DAY),
        "c_q": (sb - cb * s0) / (cb - 1),
        "S_0": s0,
    }


#: Untreated steady state (initial values of the states).
BASELINE: dict[str, float] = {
    "Teff": 1.0,
    "Treg": 1.0,
    "hepatocyte_mass": _v("H_baseline"),
    "ALT": _v("ALT_baseline"),
    "AST": _v("AST_ALT_ratio_baseline") * _v("ALT_baseline"),
    "HSC_active": _v("S_baseline"),
    "collagen": _v("collagen_baseline"),
}

_UNITS = {"k_el_ALT": "per_hour", "k_el_AST": "per_hour", "ALT_0": "U_per_litre", "AST_0": "U_per_litre",
          "q_ALT": "U_per_litre", "q_AST": "U_per_litre", "k_Teff": "per_hour", "k_Treg": "per_hour",
          "s_reg": "dimensionless", "w_reg": "dimensionless", "k_regen": "per_hour", "k_kill": "per_hour",
          "H_b": "dimensionless", "k_HSC_act": "per_hour", "b_HSC": "dimensionless", "k_HSC_deact": "per_hour",
          "k_col": "per_hour", "c_q": "dimensionless", "S_0": "dimensionless"}

_STATE_UNITS = {"Teff": "dimensionless", "Treg": "dimensionless", "hepatocyte_mass": "dimensionless",
                "ALT": "U_per_litre", "AST": "U_per_litre", "HSC_active": "dimensionless",
                "collagen": "dimensionless"}


def build_liver_autoimmune() -> str:
    """SBML text of the autoimmune-hepatitis module."""
    b = ModuleBuilder("liver_autoimmune", name="Autoimmune hepatitis: T cells, hepatocyte injury, ALT/AST, fibrosis",
                      substance="umol", time="hour")
    b.parameter("E_drug", 0.0, "dimensionless", name="fractional inhibition of effector T-cell activation")
    for pid, value in derived().items():
        b.parameter(pid, value, _UNITS[pid])
    for sid, value in BASELINE.items():
        b.parameter(sid, value, _STATE_UNITS[sid], constant=False)
    b.parameter("injury", None, "dimensionless", name="immune hepatocyte killing relative to AIH baseline",
                constant=False)
    b.assignment("injury", "Teff * hepatocyte_mass / H_b")
    b.rate_rule("Teff", "k_Teff * ((1 dimensionless - E_drug) * (1 dimensionless + s_reg)"
                        " / (1 dimensionless + s_reg * Treg) - Teff)")
    b.rate_rule("Treg", "k_Treg * (1 dimensionless - w_reg + w_reg * Teff - Treg)")
    b.rate_rule("hepatocyte_mass", "k_regen * hepatocyte_mass * (1 dimensionless - hepatocyte_mass)"
                                   " - k_kill * Teff * hepatocyte_mass")
    b.rate_rule("ALT", "k_el_ALT * (ALT_0 + q_ALT * injury - ALT)")
    b.rate_rule("AST", "k_el_AST * (AST_0 + q_AST * injury - AST)")
    b.rate_rule("HSC_active", "k_HSC_act * (b_HSC + injury) * (1 dimensionless - HSC_active)"
                              " - k_HSC_deact * HSC_active")
    b.rate_rule("collagen", "k_col * ((c_q + HSC_active) / (c_q + S_0) - collagen)")
    b.port("E_drug", direction="input")
    b.ports(["ALT", "AST", "Teff", "Treg", "hepatocyte_mass", "HSC_active", "collagen"], direction="output")
    b.check()
    return b.to_string()


FILES = {MODEL_FILE: build_liver_autoimmune}


# -- validation -------------------------------------------------------------
SOURCE = ("Pape S et al. 2020 Clin Gastroenterol Hepatol 18:1609 (abstract): AST decrease >= 80 % at week 8 "
          "of predniso(lo)ne is the optimal threshold for normalised transaminases at week 26 (2 cohorts, n=370 each)")
WEEK = 7 * HOURS_PER_DAY


def _simulate(e_drug: float, times_h: np.ndarray, overrides: Mapping[str, float] | None = None) -> pd.DataFrame:
    return shipped_model(MODEL_FILE).simulate(
        times_h, selections=["ALT", "AST", "Teff", "Treg", "hepatocyte_mass", "collagen"],
        parameters={**(overrides or {}), "E_drug": e_drug})


def normalising_effect(week: float = 26.0, uln: float | None = None,
                       overrides: Mapping[str, float] | None = None) -> float:
    """Smallest constant ``E_drug`` that brings ALT and AST to the ULN by ``week`` (bisection, 1e-4).

    ``overrides`` replaces SBML parameter values (for sensitivity checks).  Raises
    :class:`~qsp_sbml.errors.QspError` when even ``E_drug = 1`` does not normalise them.
    """
    limit = _v("ULN") if uln is None else uln
    t = np.array([0.0, week * WEEK])

    def normal(e: float) -> bool:
        end = _simulate(e, t, overrides).iloc[-1]
        return bool(end["ALT"] <= limit and end["AST"] <= limit)

    lo, hi = 0.0, 1.0
    if not normal(hi):
        raise QspError(f"liver_autoimmune: even E_drug = 1 leaves transaminases above {limit} U/L at week {week}")
    while hi - lo > 1e-4:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if normal(mid) else (mid, hi)
    return hi


def ast_decrease(week: float, e_drug: float, overrides: Mapping[str, float] | None = None) -> float:
    """Simulated AST decrease from baseline (%) at ``week`` under constant ``e_drug``."""
    ast = _simulate(e_drug, np.array([0.0, week * WEEK]), overrides)["AST"].to_numpy()
    return float(100.0 * (1.0 - ast[-1] / ast[0]))


def validate(plot: Path | None = None) -> ValidationOutcome:
    """Week-8 AST fall of the patient whose ALT and AST just normalise by week 26 vs Pape et al. 2020 (80 %)."""
    path = project_models_dir() / OBSERVED_FILE
    obs = read_observed(path, OBSERVED_COLUMNS)
    rows = obs[obs["quantity"] == "AST_percent_decrease"]
    if rows.empty:
        raise QspError(f"{path}: no row with quantity 'AST_percent_decrease'; the validation needs one")
    row = rows.iloc[0]
    e_crit = normalising_effect(26.0)
    weeks = np.linspace(0.0, 26.0, 183)
    sim = _simulate(e_crit, weeks * WEEK)
    simulated = ast_decrease(float(row["week"]), e_crit)
    table = pd.DataFrame({"quantity": [row["quantity"]], "week": [row["week"]], "observed": [row["value"]],
                          "simulated": [round(simulated, 2)], "E_drug": [round(e_crit, 4)]})
    if plot is not None:
        _plot(sim, weeks, (float(row["value"]), float(row["week"]), float(row["tolerance"])), e_crit, plot)
    return ValidationOutcome(
        name="liver_autoimmune",
        metric=(f"|simulated - observed| AST % decrease at week {row['week']:g} (patient normalising ALT and AST "
                f"by week 26, E_drug = {e_crit:.3f})"),
        value=abs(simulated - float(row["value"])),
        tolerance=float(row["tolerance"]),
        source=str(row["source"]),
        table=table,
    )


def _plot(sim: pd.DataFrame, weeks: np.ndarray, obs: tuple[float, float, float], e_crit: float, path: Path) -> None:
    observed, week, tol = obs
    from qsp_sbml.plot import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
    ax = axes[0]
    ax.plot(weeks, sim["ALT"], label="ALT (t1/2 47 h)")
    ax.plot(weeks, sim["AST"], label="AST (t1/2 17 h)")
    ax.axhline(_v("ULN"), color="k", ls=":", lw=0.8, label="ULN")
    ax.set(yscale="log", xlabel="week of treatment", ylabel="U/L",
           title=f"E_drug = {e_crit:.3f} (just normalises by week 26)")
    ax.legend(fontsize=8)
    ax = axes[1]
    decrease = 100.0 * (1.0 - sim["AST"] / sim["AST"].iloc[0])
    ax.plot(weeks, decrease, label="simulated AST decrease")
    ax.errorbar([week], [observed], yerr=[[tol], [tol]], fmt="o", color="k",
                label="Pape 2020: >= 80 % at week 8 (band = tolerance)")
    ax.set(xlabel="week of treatment", ylabel="% decrease from baseline", ylim=(0, 100))
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def qualification() -> Qualification:
    """The Pape 2020 week-8 AST fall, fitted: E_drug is chosen from the week-26 normalisation it is tied to."""
    outcome = validate()
    r = outcome.table.iloc[0]
    rows = [{"role": "fitted", "arm": f"predniso(lo)ne, patient normalising by week 26 (E_drug {r['E_drug']:g})",
             "endpoint": "AST % decrease", "time": r["week"], "time_unit": "week", "observed": r["observed"],
             "simulated": r["simulated"]}]
    return Qualification.from_rows(
        "liver_autoimmune", rows,
        fitted=("the constant E_drug of induction therapy, chosen (normalising_effect) as the smallest effect that "
                "brings ALT and AST to the upper limit of normal by week 26, the outcome that defines the observed "
                "80 % week-8 threshold"),
        sources=(outcome.source,),
        method="typical-patient simulation under that constant E_drug",
        notes=("The model card argues that the week-8 fall is set by effector-T-cell turnover and the AST "
               "half-life, not by the choice of E_drug; with no held-back observation it is still not a "
               "prediction (issue 19).",
               "The observation is a population ROC optimum, not a measured patient trajectory."))
