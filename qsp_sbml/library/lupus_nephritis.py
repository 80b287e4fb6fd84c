"""Lupus nephritis module: autoreactive B cells, plasma cells, anti-dsDNA, C3/C4 consumption, proteinuria, eGFR.

Writes ``models/disease/lupus_nephritis.xml`` (model card beside it).  Time in
hours, complement in g/L, UPCR in g/g, eGFR in mL/min/1.73 m2, cells and
anti-dsDNA relative to the untreated baseline.  The untreated module sits at the
BLISS-LN baseline (mean UPCR 3.35 g/g) with assumed C3/C4/eGFR baselines
consistent with the trial's reported proportions; ``E_drug`` (0-1) is fractional
inhibition of the BAFF-dependent generation of autoreactive B cells and
plasmablasts (belimumab).

Every number is in :data:`PARAMETERS` with its source; values marked
"assumption" are not measured quantities and are listed as such in the model
card.  :func:`validate` compares the anti-dsDNA course on continuous belimumab
with the 40-60 % decline over years 2-7 reported by Ginzler et al. 2014.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from qsp_sbml._sbml_build import ModuleBuilder
from qsp_sbml.errors import QspError
from qsp_sbml.library import ValidationOutcome
from qsp_sbml.library._common import Value, read_observed, shipped_model
from qsp_sbml.library.report import Qualification
from qsp_sbml.resources import project_models_dir

__all__ = ["BASELINE", "BELIMUMAB_E_DRUG", "FILES", "PARAMETERS", "build_lupus_nephritis", "derived", "qualification",
           "validate"]

MODEL_FILE = "disease/lupus_nephritis.xml"
#: Columns the observed table must have.
OBSERVED_COLUMNS = frozenset({"quantity", "year", "lower", "upper", "unit", "tolerance", "source"})
OBSERVED_FILE = "disease/validation/lupus_nephritis_observed.tsv"
HOURS_PER_DAY = 24.0
HOURS_PER_YEAR = 365.25 * HOURS_PER_DAY



#: Published and assumed inputs (before conversion to the SBML's hourly rates).
PARAMETERS: dict[str, Value] = {
    # Antibody and cell turnover.
    "t_half_IgG": Value(21.0, "day", "IgG1 plasma half-life ~21 days: Morell A, Terry WD, Waldmann TA 1970 "
                                     "J Clin Invest 49:673"),
    "t_half_B": Value(28.0, "day", "assumption: turnover of the BAFF-dependent autoreactive B-cell/plasmablast "
                                   "supply (belimumab lowers naive/transitional B cells over months, "
                                   "Stohl W et al. 2012 Arthritis Rheum 64:2328; no rate constant reported)"),
    "t_half_LLPC": Value(365.0, "day", "assumption: long-lived plasma cells persist for years "
                                       "(antiviral antibody half-lives 11->200 years, Amanna IJ et al. 2007 "
                                       "NEJM 357:1903); one year chosen for autoreactive LLPCs"),
    "f_LLPC": Value(0.5, "1", "assumption: share of anti-dsDNA made by long-lived plasma cells at baseline"),
    # Complement.
    "C3_normal": Value(1.3, "g/L", "mid-point of the adult reference interval 0.9-1.8 g/L (lower limit 90 mg/dL "
                                   "as used in BLISS-LN: Frontiers Immunol 2022 13:999704, Table 2)"),
    "C4_normal": Value(0.25, "g/L", "mid-point of the adult reference interval 0.1-0.4 g/L (lower limit 10 mg/dL "
                                    "as used in BLISS-LN, same table)"),
    "FCR_C3": Value(2.3, "%/h", "C3 fractional catabolic rate in normal subjects 2.3 +/- 1.0 % of the plasma "
                                "pool per hour: Alper CA & Rosen FS 1967 J Clin Invest 46:2021 (PMC292954, "
                                "abstract); 1.8-3.5 %/h in Sliwinski AJ & Zvaifler NJ 1972 Clin Exp Immunol 11:21"),
    "FCR_C4": Value(2.3, "%/h", "assumption: as C3 (no C4 turnover value was read; Charlesworth JA et al. 1989 "
                                "Aust NZ J Med, doi:10.1111/j.1445-5994.1989.tb00218.x, report C4 "
                                "hypercatabolism with immune complexes)"),
    "C3_baseline": Value(0.8, "g/L", "assumption: 60 % of BLISS-LN patients had C3 < 0.9 g/L (Frontiers Immunol "
                                     "2022 13:999704, Table 2), so the median lies below 0.9 g/L"),
    "C4_baseline": Value(0.12, "g/L", "assumption: 26-29 % of BLISS-LN patients had C4 < 0.10 g/L (same table), "
                                      "so the median lies above 0.10 g/L"),
    # Kidney.
    "UPCR_baseline": Value(3.35, "g/g", "BLISS-LN baseline UPCR mean 3.5 (placebo, n=223) and 3.2 (belimumab, "
                                        "n=223) g/g: Frontiers Immunol 2022 13:999704, Table 2; arm mean"),
    "UPCR_normal": Value(0.15, "g/g", "upper limit of normal protein/creatinine ratio 150 mg/g: KDIGO 2012 CKD "
                                      "guideline, albuminuria category A1"),
    "eGFR_baseline": Value(95.0, "mL/min/1.73m2", "assumption: 59-60 % of BLISS-LN patients had eGFR >= 90 "
                                                  "(same table), so the median lies just above 90"),
    "eGFR_quiescent": Value(110.0, "mL/min/1.73m2", "assumption: eGFR without active nephritis in young women "
                                                    "(BLISS-LN mean age 33 years)"),
    "t_half_glom": Value(56.0, "day", "assumption: glomerular immune-complex inflammation (and the proteinuria it "
                                      "causes) halves in 8 weeks once its drive falls"),
}

#: E_drug for intravenous belimumab 10 mg/kg every 4 weeks (validation scenario).
BELIMUMAB_E_DRUG = Value(0.5, "1", "assumption, not a measurement: belimumab neutralises soluble BAFF at 10 mg/kg "
                                   "(trough concentrations far above BAFF levels), but part of autoreactive B-cell "
                                   "output is BAFF-independent (APRIL, membrane BAFF); 0.5 places the eventual "
                                   "anti-dsDNA fall at the middle of the 40-60 % range of Ginzler 2014, so the "
                                   "validation tests the time course, not the magnitude")


def _v(key: str) -> float:
    return PARAMETERS[key].value


def derived() -> dict[str, float]:
    """SBML parameter values (hourly rates) computed once from :data:`PARAMETERS`."""
    ln2 = math.log(2)
    return {
        "k_IgG": ln2 / (_v("t_half_IgG") * HOURS_PER_DAY),
        "k_B": ln2 / (_v("t_half_B") * HOURS_PER_DAY),
        "k_LLPC": ln2 / (_v("t_half_LLPC") * HOURS_PER_DAY),
        "f_LLPC": _v("f_LLPC"),
        "k_C3": _v("FCR_C3") / 100.0,
        "k_C4": _v("FCR_C4") / 100.0,
        "C3_normal": _v("C3_normal"),
        "C4_normal": _v("C4_normal"),
        "x_C3": _v("C3_normal") / _v("C3_baseline") - 1.0,
        "x_C4": _v("C4_normal") / _v("C4_baseline") - 1.0,
        "k_glom": ln2 / (_v("t_half_glom") * HOURS_PER_DAY),
        "UPCR_normal": _v("UPCR_normal"),
        "UPCR_excess": _v("UPCR_baseline") - _v("UPCR_normal"),
        "eGFR_quiescent": _v("eGFR_quiescent"),
        "eGFR_loss": _v("eGFR_quiescent") - _v("eGFR_baseline"),
    }


#: Untreated steady state (initial values of the states and outputs).
BASELINE: dict[str, float] = {
    "B_auto": 1.0,
    "LLPC": 1.0,
    "anti_dsDNA": 1.0,
    "C3": _v("C3_baseline"),
    "C4": _v("C4_baseline"),
    "glom_inflammation": 1.0,
}

_UNITS = {"k_IgG": "per_hour", "k_B": "per_hour", "k_LLPC": "per_hour", "f_LLPC": "dimensionless",
          "k_C3": "per_hour", "k_C4": "per_hour", "C3_normal": "g_per_litre", "C4_normal": "g_per_litre",
          "x_C3": "dimensionless", "x_C4": "dimensionless", "k_glom": "per_hour", "UPCR_normal": "dimensionless",
          "UPCR_excess": "dimensionless", "eGFR_quiescent": "mL_per_min_per_1_73m2",
          "eGFR_loss": "mL_per_min_per_1_73m2"}

_STATE_UNITS = {"B_auto": "dimensionless", "LLPC": "dimensionless", "anti_dsDNA": "dimensionless",
                "C3": "g_per_litre", "C4": "g_per_litre", "glom_inflammation": "dimensionless"}


def build_lupus_nephritis() -> str:
    """SBML text of the lupus nephritis module."""
    b = ModuleBuilder("lupus_nephritis", name="Lupus nephritis: B cells, anti-dsDNA, complement, proteinuria, eGFR",
                      substance="umol", time="hour")
    b.parameter("E_drug", 0.0, "dimensionless",
                name="fractional inhibition of BAFF-dependent autoreactive B-cell/plasmablast generation")
    for pid, value in derived().items():
        b.parameter(pid, value, _UNITS[pid])
    for sid, value in BASELINE.items():
        b.parameter(sid, value, _STATE_UNITS[sid], constant=False)
    b.parameter("UPCR", _v("UPCR_baseline"), "dimensionless", name="urine protein/creatinine ratio (g/g)",
                constant=False)
    b.parameter("eGFR", _v("eGFR_baseline"), "mL_per_min_per_1_73m2", constant=False)
    b.rate_rule("B_auto", "k_B * (1 dimensionless - E_drug - B_auto)")
    b.rate_rule("LLPC", "k_LLPC * (B_auto - LLPC)")
    b.rate_rule("anti_dsDNA", "k_IgG * ((1 dimensionless - f_LLPC) * B_auto + f_LLPC * LLPC - anti_dsDNA)")
    b.rate_rule("C3", "k_C3 * (C3_normal - (1 dimensionless + x_C3 * anti_dsDNA) * C3)")
    b.rate_rule("C4", "k_C4 * (C4_normal - (1 dimensionless + x_C4 * anti_dsDNA) * C4)")
    b.rate_rule("glom_inflammation", "k_glom * (anti_dsDNA - glom_inflammation)")
    b.assignment("UPCR", "UPCR_normal + UPCR_excess * glom_inflammation")
    b.assignment("eGFR", "eGFR_quiescent - eGFR_loss * glom_inflammation")
    b.port("E_drug", direction="input")
    b.ports(["anti_dsDNA", "C3", "C4", "UPCR", "eGFR", "B_auto", "LLPC"], direction="output")
    b.check()
    return b.to_string()


FILES = {MODEL_FILE: build_lupus_nephritis}


# -- validation -------------------------------------------------------------
def simulate(e_drug: float, times_h: np.ndarray) -> pd.DataFrame:
    """Biomarkers of the shipped module at ``times_h`` (hours) under constant ``E_drug``."""
    return shipped_model(MODEL_FILE).simulate(
        times_h, selections=["anti_dsDNA", "C3", "C4", "UPCR", "eGFR", "B_auto", "LLPC"],
        parameters={"E_drug": e_drug})


def validate(plot: Path | None = None) -> ValidationOutcome:
    """Anti-dsDNA % decrease on continuous belimumab (E_drug 0.5) vs the 40-60 % range of Ginzler 2014, years 2-7."""
    path = project_models_dir() / OBSERVED_FILE
    obs = read_observed(path, OBSERVED_COLUMNS)
    rows = obs[obs["quantity"] == "anti_dsDNA_percent_decrease"]
    if rows.empty:
        raise QspError(f"{path}: no row with quantity 'anti_dsDNA_percent_decrease'; the validation needs them")
    years = rows["year"].to_numpy(dtype=float)
    sim = simulate(BELIMUMAB_E_DRUG.value, years * HOURS_PER_YEAR)
    decrease = 100.0 * (1.0 - sim["anti_dsDNA"].to_numpy())
    lower, upper = rows["lower"].to_numpy(dtype=float), rows["upper"].to_numpy(dtype=float)
    outside = np.maximum(0.0, np.maximum(lower - decrease, decrease - upper))
    table = pd.DataFrame({"year": years, "observed_lower": lower, "observed_upper": upper,
                          "simulated": np.round(decrease, 2), "outside_by": np.round(outside, 2)})
    if plot is not None:
        _plot(rows, plot)
    return ValidationOutcome(
        name="lupus_nephritis",
        metric=("max distance (percentage points) of the simulated anti-dsDNA % decrease outside the reported "
                f"40-60 % range, years 2-7 of belimumab (E_drug = {BELIMUMAB_E_DRUG.value:g})"),
        value=float(outside.max()),
        tolerance=float(rows["tolerance"].max()),
        source=str(rows["source"].iloc[0]),
        table=table,
    )


def _plot(rows: pd.DataFrame, path: Path) -> None:
    from qsp_sbml.plot import pyplot, save_figure

    plt = pyplot()
    years = np.linspace(0.0, 7.0, 365)
    sim = simulate(BELIMUMAB_E_DRUG.value, years * HOURS_PER_YEAR)
    fig, axes = plt.subplots(1, 3, figsize=(12.0, 3.6))
    ax = axes[0]
    ax.plot(years, 100.0 * (1.0 - sim["anti_dsDNA"]), label="simulated (E_drug 0.5)")
    ax.fill_between(rows["year"], rows["lower"], rows["upper"], color="0.8", label="Ginzler 2014: 40-60 %, years 2-7")
    ax.set(xlabel="years on belimumab", ylabel="anti-dsDNA % decrease", ylim=(0, 100))
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[1]
    ax.plot(years, sim["C3"], label="C3")
    ax.plot(years, sim["C4"], label="C4")
    ax.axhline(0.9, color="C0", ls=":", lw=0.8)
    ax.axhline(0.1, color="C1", ls=":", lw=0.8)
    ax.set(xlabel="years on belimumab", ylabel="g/L (dotted: lower reference limits)")
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot(years, sim["UPCR"], color="C3", label="UPCR (g/g)")
    ax.set(xlabel="years on belimumab", ylabel="UPCR (g/g)")
    twin = ax.twinx()
    twin.plot(years, sim["eGFR"], color="C2", label="eGFR")
    twin.set(ylabel="eGFR (mL/min/1.73 m2)")
    ax.set_title("renal outputs (no standard therapy in the model)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def qualification() -> Qualification:
    """The Ginzler 2014 anti-dsDNA range, years 2-7, every point fitted (E_drug was chosen to land in it)."""
    outcome = validate()
    rows = [{"role": "fitted", "arm": "belimumab 10 mg/kg IV q28d", "endpoint": "anti-dsDNA % decrease",
             "time": r["year"], "time_unit": "year", "observed_lower": r["observed_lower"],
             "observed_upper": r["observed_upper"], "simulated": r["simulated"]} for _, r in outcome.table.iterrows()]
    return Qualification.from_rows(
        "lupus_nephritis", rows,
        fitted=(f"belimumab's E_drug = {BELIMUMAB_E_DRUG.value:g}, chosen to place the eventual anti-dsDNA fall at "
                "the middle of the 40-60 % range these points report (BELIMUMAB_E_DRUG)"),
        sources=(outcome.source,),
        method="typical-patient simulation under a constant E_drug",
        notes=("The observation is a range (40-60 % over years 2-7), not a value per year.",
               "What the points can still test is the time course (the fall is progressive through year 7), "
               "not its magnitude; no virtual population, no prediction interval."))
