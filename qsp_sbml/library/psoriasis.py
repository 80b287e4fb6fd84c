"""Plaque psoriasis: IL-23 -> Th17/IL-17 -> keratinocyte hyperproliferation -> plaque -> PASI.

Writes ``models/disease/psoriasis.xml`` (the disease module, drug-effect input
``E_drug``) and ``models/disease/psoriasis_risankizumab.xml`` (the same module
driven by a linear two-compartment risankizumab PK model with SC dosing events:
the model of the PEtab problem ``petab_problems/psoriasis_ultimma``).  Time in
hours.  The model card is ``models/disease/psoriasis.md``.

Keratinocyte kinetics per mm^2 of epidermis are those measured by Weinstein,
McCullough & Ross 1984 (J Invest Dermatol 82:623, "Cell kinetic basis for the
pathophysiology of psoriasis"): cell-cycle time 311 h (normal) vs 36 h
(lesional), proliferative cells 27,000 vs 52,000 per mm^2, growth fraction 60 %
vs 100 %, cell production 1,246 vs 35,000 cells/mm^2/day.  Transit times
basal layer -> shedding 28 days (normal) vs 4 days (lesional) follow Weinstein &
Van Scott 1965 (J Invest Dermatol 45:257).  The structure (proliferative pool
feeding a differentiated pool, IL-17 accelerating proliferation) is a reduced
form of the stem/transit-amplifying/differentiated models of Zhang et al. 2015
(J R Soc Interface 12:20141071) and Valeyev et al. 2010 (Mol BioSyst 6:1181).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qsp_sbml._sbml_build import ModuleBuilder, parse_formula
from qsp_sbml.library import ValidationOutcome
from qsp_sbml.library._common import read_observed
from qsp_sbml.library.report import Qualification
from qsp_sbml.pbpk.antibody import RISANKIZUMAB

__all__ = ["DISEASE_VALUES", "FILES", "HOURS_PER_WEEK", "UltimmaArm", "build_psoriasis", "qualification",
           "build_psoriasis_risankizumab", "dose_nmol", "observed", "simulate_arm", "validate"]

HOURS_PER_WEEK = 168.0

#: Disease-module parameter values (value, unit, description with source).
DISEASE_VALUES: dict[str, tuple[float, str, str]] = {
    # Weinstein, McCullough & Ross 1984 J Invest Dermatol 82:623 (abstract): Tc 311 h -> 36 h,
    # growth fraction 0.6 -> 1.0; proliferation rate constant = growth fraction / Tc, which reproduces
    # their production of 1,246 and 35,000 cells/mm^2/day.
    "kp_normal": (0.6 / 311.0, "per_hour", "proliferation rate constant, normal epidermis (GF/Tc = 0.6/311 h)"),
    "kp_lesion": (1.0 / 36.0, "per_hour", "proliferation rate constant, psoriatic plaque (GF/Tc = 1/36 h)"),
    "P_normal": (27_000.0, "cell", "proliferative keratinocytes per mm^2, normal (Weinstein 1984)"),
    "P_lesion": (52_000.0, "cell", "proliferative keratinocytes per mm^2, plaque (Weinstein 1984)"),
    # Weinstein & Van Scott 1965 J Invest Dermatol 45:257: transit to shedding ~28 d normal, ~4 d lesional.
    "kD_normal": (1.0 / (28.0 * 24.0), "per_hour", "loss rate of differentiated cells, normal (1/28 d)"),
    "kD_lesion": (1.0 / (4.0 * 24.0), "per_hour", "loss rate of differentiated cells, plaque (1/4 d)"),
    # Fitted (petab_problems/psoriasis_ultimma, UltIMMa-1 PASI90 rates; see the model card).
    "k_T": (0.01137, "per_hour", "turnover rate constant of lesional Th17 activity (fitted, UltIMMa-1)"),
    "f_ind": (0.00892, "dimensionless", "IL-23-independent fraction of Th17 activity (fitted, UltIMMa-1)"),
    "s_resp": (0.7723, "dimensionless",
               "between-patient logistic scale of log residual PASI (fitted, UltIMMa-1)"),
    # Assumption: IL-17 follows Th17 activity within hours (cytokine turnover << weeks).
    "k_IL17": (1.0, "per_hour", "IL-17 turnover rate constant (assumption: fast vs plaque kinetics)"),
    # Assumption (not a trial value): a typical moderate-to-severe baseline; trials enrol PASI >= 12
    # (UltIMMa-1/2 inclusion criterion, NCT02684370).  Only ratios to it enter the endpoints.
    "PASI0": (20.0, "dimensionless", "untreated baseline PASI (assumption; inclusion PASI >= 12)"),
    # Placebo response as a time course (issue 19): a per-patient fractional reduction of the lesional Th17
    # drive from the first visit on, so the PASI improvement of a placebo patient rises from zero through
    # the Th17 and keratinocyte dynamics.  0 (no placebo effect) unless a population calibration
    # (models/disease/validation/psoriasis_split.yaml) sets it per patient.
    "E_placebo": (0.0, "dimensionless", "fractional reduction of the Th17 drive by placebo (per patient; default 0)"),
}

#: State initial values (untreated plaque = the steady state of the equations with E_drug = 0).
_STATES = {
    "T17": (1.0, "dimensionless", "lesional Th17 activity relative to untreated plaque"),
    "IL17": (1.0, "dimensionless", "lesional IL-17 level relative to untreated plaque"),
    "P": (52_000.0, "cell", "proliferative keratinocytes per mm^2"),
    "D": (52_000.0 / 36.0 * 96.0, "cell", "differentiated (suprabasal + cornified) keratinocytes per mm^2"),
}


def _disease(b: ModuleBuilder, *, e_drug_rule: str | None) -> None:
    for pid, (value, unit, desc) in DISEASE_VALUES.items():
        b.parameter(pid, value, unit, name=desc)
    if e_drug_rule is None:
        b.parameter("E_drug", 0.0, "dimensionless", name="fractional inhibition of IL-23 signalling (input)")
    else:
        b.parameter("E_drug", None, "dimensionless", name="fractional inhibition of IL-23 signalling",
                    constant=False)
        b.assignment("E_drug", e_drug_rule)
    for pid, (value, unit, desc) in _STATES.items():
        b.parameter(pid, value, unit, name=desc, constant=False)
    derived = {
        "kp": ("per_hour", "proliferation rate constant", "kp_normal + (kp_lesion - kp_normal) * IL17"),
        "K_P": ("cell", "basal-layer capacity for proliferative cells", "P_normal + (P_lesion - P_normal) * IL17"),
        "kD": ("per_hour", "loss rate of differentiated cells", "kD_normal + (kD_lesion - kD_normal) * IL17"),
        "E_normal": ("cell", "epidermal cells per mm^2, normal skin",
                     "P_normal + kp_normal * P_normal / kD_normal"),
        "E_lesion": ("cell", "epidermal cells per mm^2, untreated plaque",
                     "P_lesion + kp_lesion * P_lesion / kD_lesion"),
        "keratinocytes": ("cell", "epidermal keratinocytes per mm^2 (P + D)", "P + D"),
        "PASI": ("dimensionless", "PASI (0-72)",
                 "PASI0 * max(0 dimensionless, (keratinocytes - E_normal) / (E_lesion - E_normal))"),
        "PASI_ratio": ("dimensionless", "PASI / baseline PASI", "max(1e-9 dimensionless, PASI / PASI0)"),
        "PASI_improvement": ("dimensionless", "% PASI improvement from baseline (typical patient)",
                             "100 dimensionless * (1 dimensionless - PASI / PASI0)"),
        "P_PASI75": ("dimensionless", "probability of PASI75 (latent logistic model)",
                     "1 dimensionless / (1 dimensionless + exp((ln(PASI_ratio) - ln(0.25 dimensionless)) / s_resp))"),
        "P_PASI90": ("dimensionless", "probability of PASI90 (latent logistic model)",
                     "1 dimensionless / (1 dimensionless + exp((ln(PASI_ratio) - ln(0.1 dimensionless)) / s_resp))"),
    }
    for pid, (unit, desc, formula) in derived.items():
        b.parameter(pid, None, unit, name=desc, constant=False)
        b.assignment(pid, formula)
    b.rate_rule("T17", "k_T * ((f_ind + (1 dimensionless - f_ind) * (1 dimensionless - E_drug))"
                       " * (1 dimensionless - E_placebo) - T17)")
    b.rate_rule("IL17", "k_IL17 * (T17 - IL17)")
    b.rate_rule("P", "kp * P * (1 dimensionless - P / K_P)")
    b.rate_rule("D", "kp * P - kD * D")
    b.port("E_drug", direction="input")
    b.ports(["PASI", "PASI_improvement", "P_PASI75", "P_PASI90", "IL17", "T17", "P", "D", "keratinocytes"],
            direction="output")


def build_psoriasis() -> str:
    """The psoriasis disease module (input ``E_drug``, default 0) as SBML text."""
    b = ModuleBuilder("psoriasis", name="Plaque psoriasis: IL-23/Th17/IL-17 -> keratinocytes -> PASI",
                      substance="nmol", time="hour")
    _disease(b, e_drug_rule=None)
    b.check()
    return b.to_string()


#: Risankizumab label regimen in UltIMMa-1/2: 150 mg SC at weeks 0, 4, 16, 28, 40 (Gordon et al. 2018,
#: Lancet 392:650, Methods).
ULTIMMA_DOSE_WEEKS = (0.0, 4.0, 16.0, 28.0, 40.0)
RISANKIZUMAB_DOSE_MG = 150.0
#: Risankizumab IC50 for inhibition of IL-23 signalling, nM.  Assumption: of the order of its
#: picomolar binding affinity for IL-23 p19 (Suleiman et al. 2019, Clin Pharmacokinet,
#: doi:10.1007/s40262-019-00759-z, Introduction: "binds with picomolar affinity"); free
#: concentrations at the label regimen stay above 10 nM, so E_drug > 0.99 and this value is not
#: identifiable from the trial data.
RISANKIZUMAB_IC50_NM = 0.1


def build_psoriasis_risankizumab() -> str:
    """The disease module with ``E_drug`` driven by linear two-compartment risankizumab PK.

    Parameter ``dose_mg`` (default 150; 0 for placebo) is given SC at weeks
    0, 4, 16, 28 and 40 by events; ``E_drug = C_free / (C_free + IC50)``.
    PK values: :data:`qsp_sbml.pbpk.antibody.RISANKIZUMAB` (Suleiman et al. 2019).
    """
    pk = RISANKIZUMAB.sbml_values
    b = ModuleBuilder("psoriasis_risankizumab",
                      name="Psoriasis module driven by risankizumab PK (UltIMMa regimen)",
                      substance="nmol", time="hour")
    b.compartment("central", pk["central"], name="central volume Vc (Suleiman 2019)")
    b.compartment("peripheral", pk["peripheral"], name="peripheral volume Vp (Suleiman 2019)")
    for pid, unit in (("CL", "litre_per_hour"), ("Q", "litre_per_hour"), ("ka_sc", "per_hour"),
                      ("F_sc", "dimensionless"), ("molecular_weight", "g_per_mol")):
        b.parameter(pid, pk[pid], unit, name=f"{pid} (Suleiman 2019 via qsp_sbml.pbpk.antibody)")
    b.parameter("dose_nmol", dose_nmol(RISANKIZUMAB_DOSE_MG), "nmol",
                name="SC dose per administration, 150 mg / molecular weight (0 = placebo)")
    b.parameter("IC50", RISANKIZUMAB_IC50_NM, "nM", name="IC50 of IL-23 signalling inhibition (assumption)")
    b.species("mab_sc_depot", "central", amount_only=True, name="SC depot (amount)")
    b.species("mab_central", "central", name="risankizumab in central")
    b.species("mab_peripheral", "peripheral", name="risankizumab in peripheral")
    b.reaction("absorption", "ka_sc * mab_sc_depot", reactants=["mab_sc_depot"], products=["mab_central"])
    b.reaction("elimination", "CL * mab_central", reactants=["mab_central"])
    b.reaction("distribution", "Q * mab_central", reactants=["mab_central"], products=["mab_peripheral"])
    b.reaction("redistribution", "Q * mab_peripheral", reactants=["mab_peripheral"], products=["mab_central"])
    b.parameter("C_free", None, "nM", name="free risankizumab in plasma", constant=False)
    b.assignment("C_free", "mab_central")
    _disease(b, e_drug_rule="C_free / (C_free + IC50)")
    b.port("C_free", direction="output")
    for k, week in enumerate(ULTIMMA_DOSE_WEEKS):
        _dose_event(b, f"dose_{k}", week * HOURS_PER_WEEK)
    b.check()
    return b.to_string()


def _dose_event(b: ModuleBuilder, eid: str, hour: float) -> None:
    ev = b.model.createEvent()
    ev.setId(eid)
    ev.setUseValuesFromTriggerTime(False)
    trig = ev.createTrigger()
    trig.setInitialValue(False)  # fires at t = 0 for the first dose
    trig.setPersistent(True)
    trig.setMath(parse_formula(b.model, f"time >= {hour:g} hour"))
    ea = ev.createEventAssignment()
    ea.setVariable("mab_sc_depot")
    ea.setMath(parse_formula(b.model, "mab_sc_depot + F_sc * dose_nmol"))  # bioavailable part only


def dose_nmol(dose_mg: float) -> float:
    """Risankizumab dose in nmol: mg * 1e6 / molecular weight (g/mol)."""
    return dose_mg * 1e6 / RISANKIZUMAB.molecular_weight


FILES = {
    "disease/psoriasis.xml": build_psoriasis,
    "disease/psoriasis_risankizumab.xml": build_psoriasis_risankizumab,
}


# -- validation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UltimmaArm:
    """One trial arm: name and SC dose per administration (mg)."""

    name: str
    dose_mg: float


def observed() -> pd.DataFrame:
    """The observed PASI responder rates (``models/disease/validation/psoriasis_observed.tsv``)."""
    return read_observed("disease/validation/psoriasis_observed.tsv", ("trial", "arm", "dose_mg", "week", "PASI90"))


def simulate_arm(dose_mg: float, weeks: np.ndarray | list[float],
                 parameters: dict[str, float] | None = None) -> pd.DataFrame:
    """Simulate the risankizumab-driven model for one arm; columns ``week`` plus outputs."""
    from qsp_sbml import load_model

    model = load_model(build_psoriasis_risankizumab())
    grid = np.unique(np.concatenate([[0.0], np.asarray(weeks, dtype=float)])) * HOURS_PER_WEEK
    values = {"dose_nmol": dose_nmol(dose_mg), **(parameters or {})}
    frame = model.simulate(grid, selections=["C_free", "E_drug", "IL17", "keratinocytes", "PASI",
                                             "PASI_improvement", "P_PASI75", "P_PASI90"], parameters=values)
    frame.insert(0, "week", frame["time"] / HOURS_PER_WEEK)
    return frame


def validate(plot: Path | None = None) -> ValidationOutcome:
    """UltIMMa-1/2 PASI90 rates (placebo and risankizumab 150 mg) against the module.

    Metric: the largest absolute difference between simulated and observed
    PASI90 proportions over all rows of the observed table (tolerance 0.10).
    The fitted parameters came from UltIMMa-1 only; the UltIMMa-2 rows are
    out-of-sample.
    """
    obs = observed()
    rows = []
    sims: dict[float, pd.DataFrame] = {}
    for dose in sorted(obs["dose_mg"].unique()):
        sims[dose] = simulate_arm(dose, np.arange(0.0, 53.0, 1.0))
    for _, row in obs.iterrows():
        sim = sims[row["dose_mg"]]
        value = float(np.interp(row["week"], sim["week"], sim["P_PASI90"]))
        rows.append({"trial": row["trial"], "arm": row["arm"], "week": row["week"],
                     "observed": row["PASI90"], "simulated": round(value, 4),
                     "abs_error": round(abs(value - row["PASI90"]), 4)})
    table = pd.DataFrame(rows)
    if plot is not None:
        _plot(sims, table, plot)
    return ValidationOutcome(
        name="psoriasis", metric="max |simulated - observed| PASI90 proportion (UltIMMa-1/2, weeks 16 and 52)",
        value=float(table["abs_error"].max()), tolerance=0.10,
        source="Gordon et al. 2018, Lancet 392:650 (UltIMMa-1 and UltIMMa-2), text and abstract", table=table)


def _plot(sims: dict[float, pd.DataFrame], table: pd.DataFrame, path: Path) -> None:
    from qsp_sbml.plot import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for dose, sim in sims.items():
        label = "risankizumab 150 mg" if dose > 0 else "placebo"
        axes[0].plot(sim["week"], sim["P_PASI90"], label=f"model, {label}")
        axes[1].plot(sim["week"], sim["PASI_improvement"], label=f"typical patient, {label}")
    for trial, marker in (("UltIMMa-1", "o"), ("UltIMMa-2", "s")):
        sub = table[table["trial"] == trial]
        axes[0].scatter(sub["week"], sub["observed"], marker=marker, color="k", label=f"{trial} observed")
    axes[0].set(xlabel="week", ylabel="PASI90 proportion", ylim=(0, 1), title="PASI90 response")
    axes[1].set(xlabel="week", ylabel="% PASI improvement", title="typical-patient PASI improvement")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def qualification() -> Qualification:
    """Observed vs simulated for the population-level fit of issue 19, read from the saved fit (no refit).

    Roles come from ``models/disease/validation/psoriasis_split.yaml`` (calibration arms fitted, prediction
    arms predicted); values and 90 % prediction intervals from ``psoriasis_population_fit/`` (written by
    ``qsp-sbml disease calibrate``).  The discussion of the result is in ``psoriasis_prediction.md``.
    """
    from qsp_sbml.library.report import from_population_fit
    from qsp_sbml.resources import project_models_dir

    base = project_models_dir() / "disease" / "validation"
    return from_population_fit("psoriasis", base / "psoriasis_split.yaml", base / "psoriasis_population_fit", notes=(
        "UltIMMa-2 is a replicate trial of UltIMMa-1 (same drug, dose and design as a calibration arm): its points "
        "check that the fit reproduces, not the module's biology.",
        "Tildrakizumab is the drug no calibration arm has; why the module misses it (every anti-p19 antibody at "
        "its label dose saturates E_drug in the module) is in models/disease/validation/psoriasis_prediction.md.",
        "The fit is small (see the fit settings above and psoriasis_prediction.md, Limits): a converged fit with "
        "more patients, starts and draws may move these numbers.",
        "These are population-level estimates; the shipped module's typical-patient values (model card) were "
        "calibrated on UltIMMa-1 and are checked by `python -m qsp_sbml.library validate psoriasis`.",
    ))
