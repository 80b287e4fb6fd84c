"""Oncology disease module: tumour growth inhibition (Simeoni et al. 2004) with kill driven by target occupancy.

Simeoni M, Magni P, Cammia C, De Nicolao G, Croci V, Pesenti E, Germani M,
Poggesi I, Rocchetti M 2004, Cancer Res 64:1094.  Proliferating tumour weight
``x1`` (mg) grows exponentially (``lambda0``) while small and linearly
(``lambda1``) once large; drug-damaged volume passes through three transit
compartments (``k1``) before it is lost (weights in mg; volume = weight / density,
1 mg/mm3 as in Simeoni 2004)::

    growth = lambda0 x1 / (1 + (lambda0 w / lambda1)^psi)^(1/psi)
    kill   = (kmax E_drug + k2 C_drug) x1
    dx1/dt = growth - kill;  dx2/dt = kill - k1 x2;  dx3/dt = k1 (x2 - x3);  dx4/dt = k1 (x3 - x4)
    w      = x1 + x2 + x3 + x4  (outputs ``tumour_weight``, mg, and ``tumour_volume``, mm3)

``E_drug`` (input, dimensionless, 0..1: target occupancy or fractional target
inhibition) drives the kill through ``kmax``; ``C_drug`` (input, nM) is
Simeoni's linear concentration-driven kill ``k2 C``.  Both default to 0
(untreated growth).

:func:`validate` checks the untreated growth law against the control arm of a
published xenograft study (see the model card and
``models/disease/validation/oncology_tgi_observed.tsv``).  :func:`fit_erlotinib`
predicts the kill term on treated arms of the same study that no fit uses: erlotinib
PK fitted to plasma concentrations only, ``k2`` and ``k1`` fitted on the 25 mg/kg arm,
the 6.25 and 100 mg/kg arms predicted (``models/disease/validation/oncology_split.yaml``,
committed before the fit).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml._sbml_build import ModuleBuilder
from qsp_sbml.library import ValidationOutcome
from qsp_sbml.library._common import read_observed
from qsp_sbml.library.report import Qualification
from qsp_sbml.resources import project_models_dir

__all__ = ["ERLOTINIB_MW", "FILES", "PACLITAXEL_MW", "SIMEONI_PACLITAXEL", "ErlotinibKill", "build_oncology_tgi",
           "fit_control_growth", "fit_erlotinib", "fit_erlotinib_kill", "fit_erlotinib_pk", "qualification",
           "read_oncology_split", "validate"]

#: Paclitaxel molecular weight 853.9 g/mol (C47H51NO14; PubChem CID 36314), to convert k2 from (ng/mL)^-1 to nM^-1.
PACLITAXEL_MW = 853.9

#: Simeoni et al. 2004 (Cancer Res 64:1094), Table 2, paclitaxel experiment 1 (A2780 ovarian xenograft), as
#: transcribed in nlmixr2lib (oncology_xenograft_simeoni_2004.R): lambda0 0.273 /day, lambda1 0.814 g/day,
#: k1 0.968 /day, k2 0.000629 (ng/mL)^-1 day^-1, psi 20.  Tumour weight in g is taken as volume at 1 g/cm3
#: (1 g = 1000 mm3), as in the paper.
SIMEONI_PACLITAXEL: dict[str, float] = {
    "lambda0": 0.273 / 24,                          # per hour
    "lambda1": 0.814 * 1000 / 24,                   # mg per hour
    "k1": 0.968 / 24,                               # per hour
    "k2": 0.000629 * PACLITAXEL_MW / 1000 / 24,     # per nM per hour: 1 nM = MW/1000 ng/mL
    "psi": 20.0,
}

_OBSERVED = "disease/validation/oncology_tgi_observed.tsv"
#: Validation protocol, fixed before the comparison: fit lambda0, lambda1 per animal on days <= 14, forecast
#: the later measurements, geometric-mean fold error of the forecasts must be <= 1.5.
TRAIN_LAST_DAY = 14.0
TOLERANCE_GMFE = 1.5


def build_oncology_tgi(values: Mapping[str, float] | None = None, *, oral_pk: Mapping[str, float] | None = None
                       ) -> str:
    """The tumour growth inhibition module as SBML text (defaults: :data:`SIMEONI_PACLITAXEL`).

    ``values`` may override ``lambda0``, ``lambda1``, ``k1``, ``k2``, ``psi``,
    ``kmax`` and the initial tumour weight ``x1_0`` (mg).  With ``oral_pk`` (keys ``ka`` per hour,
    ``CL_F`` litre per hour, ``V_F`` litre, ``molecular_weight`` g/mol) the module also holds a
    one-compartment PK model with first-order oral absorption (doses in mg to ``drug_gut``) and
    ``C_drug`` is no longer an input but the plasma concentration in nM (used by :func:`fit_erlotinib`;
    amounts and volumes may be per kg of body weight, as there).
    """
    v: dict[str, float] = dict(SIMEONI_PACLITAXEL)
    # Maximal occupancy-driven kill: by default equal to lambda0, so that full occupancy (E_drug = 1) just stops
    # the net growth of a small tumour.  A modelling choice, not a fitted value: set kmax per drug.
    v["kmax"] = v["lambda0"]
    # Initial weight 110 mg (110 mm3): about the median day-0 volume of the validation control arm (77-192 mm3).
    v["x1_0"] = 110.0
    unknown = set(values or {}) - set(v)
    if unknown:
        raise KeyError(f"unknown parameter(s) {sorted(unknown)}; known: {sorted(v)}")
    v.update(values or {})
    b = ModuleBuilder("oncology_tgi", name="Tumour growth inhibition (Simeoni 2004) with occupancy-driven kill",
                      substance="mg", time="hour")
    b.compartment("tumour", 1.0, name="nominal compartment (tumour states are weights, amount-only species)")
    b.species("x1", "tumour", amount_only=True, initial=v["x1_0"], name="proliferating tumour weight")
    for i in (2, 3, 4):
        b.species(f"x{i}", "tumour", amount_only=True, name=f"damaged tumour weight, transit stage {i - 1}")
    for pid, unit, desc in (("lambda0", "per_hour", "exponential growth rate constant"),
                            ("lambda1", "mg_per_hour", "linear growth rate (tumour weight)"),
                            ("psi", "dimensionless", "switch sharpness between exponential and linear growth"),
                            ("k1", "per_hour", "transit rate constant of damaged tumour"),
                            ("k2", "per_nM_per_hour", "concentration-driven kill potency (Simeoni k2)"),
                            ("kmax", "per_hour", "maximal kill rate constant at full target occupancy")):
        b.parameter(pid, v[pid], unit, name=desc)
    b.parameter("E_drug", 0.0, "dimensionless", name="target occupancy / fractional inhibition driving kill (input)")
    b.parameter("C_drug", None if oral_pk else 0.0, "nM", name="drug concentration for the linear kill k2 C "
                "(input)" if oral_pk is None else "drug plasma concentration driving the linear kill k2 C",
                constant=oral_pk is None)
    b.parameter("tumour_density", 1.0, "mg_per_mm3", name="tumour density (Simeoni 2004: 1 g/cm3)")
    b.parameter("tumour_weight", None, "mg", name="total tumour weight x1 + x2 + x3 + x4", constant=False)
    b.parameter("tumour_volume", None, "mm3", name="total tumour volume (weight / density)", constant=False)
    b.assignment("tumour_weight", "x1 + x2 + x3 + x4")
    b.assignment("tumour_volume", "tumour_weight / tumour_density")
    b.reaction("growth", "lambda0 * x1 / (1 dimensionless + (lambda0 * tumour_weight / lambda1)^psi)^"
                         "(1 dimensionless / psi)", products=["x1"])
    b.reaction("kill", "(kmax * E_drug + k2 * C_drug) * x1", reactants=["x1"], products=["x2"])
    b.reaction("damage_2_to_3", "k1 * x2", reactants=["x2"], products=["x3"])
    b.reaction("damage_3_to_4", "k1 * x3", reactants=["x3"], products=["x4"])
    b.reaction("death", "k1 * x4", reactants=["x4"])
    if oral_pk is not None:
        _add_oral_pk(b, oral_pk)
    b.ports(["E_drug", "C_drug"] if oral_pk is None else ["E_drug"], direction="input")
    b.ports(["tumour_weight", "tumour_volume"], direction="output")
    b.check()
    return b.to_string()


def _add_oral_pk(b: ModuleBuilder, pk: Mapping[str, float]) -> None:
    """One-compartment PK with first-order oral absorption driving ``C_drug`` (nM)."""
    b.compartment("gut", 1.0, name="nominal gut compartment (the depot is an amount)")
    b.compartment("plasma", pk["V_F"], name="apparent volume of distribution V/F")
    b.species("drug_gut", "gut", amount_only=True, name="drug amount in the oral depot")
    b.species("drug_plasma", "plasma", amount_only=True, name="drug amount in the central compartment")
    b.parameter("ka", pk["ka"], "per_hour", name="first-order absorption rate constant")
    b.parameter("CL_F", pk["CL_F"], "litre_per_hour", name="apparent clearance CL/F")
    b.parameter("drug_mw", pk["molecular_weight"], "g_per_mol", name="drug molecular weight")
    b.parameter("nM_per_mM", 1e6, "dimensionless", name="unit conversion: nM per mM (mg/L / (g/mol) = mM)")
    b.reaction("absorption", "ka * drug_gut", reactants=["drug_gut"], products=["drug_plasma"])
    b.reaction("elimination", "CL_F * drug_plasma / plasma", reactants=["drug_plasma"])
    b.assignment("C_drug", "drug_plasma / plasma / drug_mw * nM_per_mM")


FILES: dict[str, Callable[[], str]] = {"disease/oncology_tgi.xml": build_oncology_tgi}


def observed_growth() -> pd.DataFrame:
    """The control-arm tumour volumes shipped for validation (columns animal, day, volume_mm3, source)."""
    return read_observed(_OBSERVED, ("animal", "day", "volume_mm3"))


def _fit_animal(model: Any, rows: pd.DataFrame) -> tuple[float, float]:
    from scipy.optimize import least_squares

    v0 = float(rows.loc[rows["day"] == 0, "volume_mm3"].iloc[0])
    train = rows[(rows["day"] > 0) & (rows["day"] <= TRAIN_LAST_DAY)]
    times = np.concatenate([[0.0], train["day"].to_numpy() * 24.0])
    log_obs = np.log(train["volume_mm3"].to_numpy())

    def residuals(theta: np.ndarray) -> np.ndarray:
        pars = {"lambda0": math.exp(theta[0]), "lambda1": math.exp(theta[1]), "x1": v0}  # mg = mm3 at 1 mg/mm3
        sim = model.simulate(times, selections=["tumour_volume"], parameters=pars)["tumour_volume"].to_numpy()[1:]
        return np.asarray(np.log(np.maximum(sim, 1e-12)) - log_obs)

    start = np.log([SIMEONI_PACLITAXEL["lambda0"], SIMEONI_PACLITAXEL["lambda1"] / 10])
    fit = least_squares(residuals, start, bounds=(np.log([1e-4, 0.1]), np.log([1.0, 1e4])), x_scale=1.0)
    return math.exp(fit.x[0]), math.exp(fit.x[1])


def validate(plot: Path | None = None) -> ValidationOutcome:
    """Forecast late control-arm tumour volumes from a per-animal fit of the early ones.

    For each animal of the shipped control arm the initial volume is the
    measured day-0 volume; ``lambda0`` and ``lambda1`` are fitted (least
    squares on log volume) to the measurements up to day 14; the module then
    forecasts every later measurement.  The metric is the geometric-mean fold
    error of those forecasts; the tolerance (1.5) was fixed before the comparison.
    """
    from qsp_sbml import load_model

    model = load_model(project_models_dir() / "disease" / "oncology_tgi.xml")
    obs = observed_growth()
    rows_out = []
    curves: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for animal, rows in obs.groupby("animal"):
        lambda0, lambda1 = _fit_animal(model, rows)
        v0 = float(rows.loc[rows["day"] == 0, "volume_mm3"].iloc[0])
        pars = {"lambda0": lambda0, "lambda1": lambda1, "x1": v0}
        days = rows["day"].to_numpy(dtype=float)
        sim = model.simulate(days * 24.0, selections=["tumour_volume"], parameters=pars)["tumour_volume"].to_numpy()
        grid = np.linspace(0.0, float(days.max()), 121)
        curves[int(str(animal))] = (grid, model.simulate(grid * 24.0, selections=["tumour_volume"],
                                                         parameters=pars)["tumour_volume"].to_numpy())
        for day, observed, predicted in zip(days, rows["volume_mm3"], sim, strict=True):
            if day == 0:
                continue
            rows_out.append({"animal": animal, "day": day, "set": "fit" if day <= TRAIN_LAST_DAY else "forecast",
                             "observed_mm3": float(observed), "simulated_mm3": round(float(predicted), 1),
                             "lambda0_per_day": round(lambda0 * 24, 4), "lambda1_mm3_per_day": round(lambda1 * 24, 1)})
    table = pd.DataFrame(rows_out)
    forecast = table[table["set"] == "forecast"]
    gmfe = float(np.exp(np.mean(np.abs(np.log(forecast["simulated_mm3"] / forecast["observed_mm3"])))))
    source = str(obs["source"].iloc[0]) if "source" in obs.columns else _OBSERVED
    if plot is not None:
        _plot(obs, curves, plot, gmfe)
    return ValidationOutcome(
        name="oncology",
        metric=f"geometric-mean fold error of {len(forecast)} forecast tumour volumes after day "
               f"{TRAIN_LAST_DAY:g} (8 untreated LXF A677 xenografts)",
        value=gmfe, tolerance=TOLERANCE_GMFE, source=source, table=table)


def _plot(obs: pd.DataFrame, curves: Mapping[int, tuple[np.ndarray, np.ndarray]], path: Path, gmfe: float) -> None:
    from qsp_sbml.plot import pyplot, save_figure

    plt = pyplot()
    animals = sorted(curves)
    fig, axes = plt.subplots(2, 4, figsize=(12, 5.5), sharex=True, sharey=True)
    for ax, animal in zip(axes.ravel(), animals, strict=False):
        rows = obs[obs["animal"] == animal]
        train = rows["day"] <= TRAIN_LAST_DAY
        ax.plot(rows.loc[train, "day"], rows.loc[train, "volume_mm3"], "o", color="C0", ms=4, label="fitted data")
        ax.plot(rows.loc[~train, "day"], rows.loc[~train, "volume_mm3"], "s", color="C3", ms=4,
                label="forecast data")
        grid, sim = curves[animal]
        ax.plot(grid, sim, "k-", lw=1, label="module")
        ax.axvline(TRAIN_LAST_DAY, color="0.6", lw=0.6, ls="--")
        ax.set(yscale="log", title=f"animal {animal}")
    for ax in axes[1]:
        ax.set_xlabel("day")
    for ax in axes[:, 0]:
        ax.set_ylabel("tumour volume (mm3)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"oncology_tgi: untreated LXF A677 growth, fit to day {TRAIN_LAST_DAY:g}, "
                 f"forecast GMFE {gmfe:.2f}")
    fig.tight_layout()
    save_figure(fig, path)


def qualification() -> Qualification:
    """Control arm: per-animal fit of days <= 14 (fitted), later volumes (predicted); erlotinib arms per the split.

    The erlotinib calibration arm's geometric-mean volumes are ``fitted`` (they fix ``k2`` and ``k1``), the
    prediction arms' are ``predicted`` (see :func:`fit_erlotinib`).
    """
    outcome = validate()
    rows = [{"role": "fitted" if r["set"] == "fit" else "predicted", "arm": f"LXF A677 control, animal {r['animal']}",
             "endpoint": "tumour volume (mm3)", "time": r["day"], "time_unit": "day", "n": 1,
             "observed": r["observed_mm3"], "simulated": r["simulated_mm3"]} for _, r in outcome.table.iterrows()]
    treated = _shipped_erlotinib_fit()
    rows += [{"role": r["role"], "arm": f"LXF A677 erlotinib {r['dose_mg_per_kg']:g} mg/kg daily ({r['arm']})",
              "endpoint": "tumour volume (mm3), geometric mean", "time": r["day"], "time_unit": "day", "n": r["n"],
              "observed": round(r["observed_mm3"], 1), "simulated": round(r["simulated_mm3"], 1)}
             for _, r in treated.table.iterrows()]
    return Qualification.from_rows(
        "oncology", rows,
        fitted=(f"control arm: lambda0 and lambda1 per animal (least squares on log volume) to that animal's "
                f"measurements up to day {TRAIN_LAST_DAY:g}; the day-0 volume sets the initial state. Erlotinib: "
                f"PK (ka, CL/F, V/F) to the plasma concentrations only, typical growth to the whole control arm, "
                f"then the kill k2 (C_drug = plasma erlotinib, nM) and transit k1 to the geometric-mean-volume "
                f"data of the calibration arm {', '.join(treated.calibration)} (split {_SPLIT.rsplit('/', 1)[-1]}, "
                f"committed before the fit): {_fit_words(treated)}"),
        predicted=(f"every later measurement of the same 8 untreated animals (after day {TRAIN_LAST_DAY:g}), "
                   f"forecast by the fitted module (GMFE tolerance {TOLERANCE_GMFE:g}); and the erlotinib dose arms "
                   f"{', '.join(treated.prediction)}, whose tumour volumes are used in no fit (their mice's plasma "
                   f"concentrations are part of the PK fit, which uses all concentrations), simulated with the "
                   f"fitted PK, growth "
                   f"and kill from each mouse's day-0 volume and own doses"),
        sources=(outcome.source, str(read_observed(_TREATED, ("source",))["source"].iloc[0]),
                 str(read_observed(_PK_OBS, ("source",))["source"].iloc[0])),
        method=("per-animal simulation of the module (control: the animal's fitted growth rates; erlotinib arms: the "
                "module with a one-compartment oral PK driving C_drug, typical fitted growth); erlotinib rows are "
                "geometric means over the mice measured that day"),
        notes=(_treated_metrics_note(treated),
               "The metrics table pools the control-arm forecasts and the predicted erlotinib arms.",
               "The control arm's late volumes are predicted by each animal's early fit, but every control volume "
               "(early and late) also fixes the typical growth used for the erlotinib arms, as the split file "
               "says; the erlotinib prediction arms' figures in the first note involve no such reuse.",
               "Typical-mouse fits (no between-animal variability model): no 90 % prediction interval and no "
               "coverage."))


def _fit_words(r: ErlotinibKill) -> str:
    return (f"ka {r.pk['ka']:.3g} /h, CL/F {r.pk['CL_F']:.3g} L/h/kg, V/F {r.pk['V_F']:.3g} L/kg; lambda0 "
            f"{r.growth['lambda0'] * 24:.3g} /day, lambda1 {r.growth['lambda1'] * 24:.3g} mm3/day; k2 "
            f"{r.kill['k2'] * 24 * 1000 / ERLOTINIB_MW:.3g} (ng/mL)^-1 day^-1, k1 {r.kill['k1'] * 24:.3g} /day")


def _treated_metrics_note(r: ErlotinibKill) -> str:
    from qsp_sbml.metrics import concordance_correlation

    parts = []
    for arm, rows in r.table.groupby("arm", sort=False):
        obs, sim = rows["observed_mm3"].to_numpy(float), rows["simulated_mm3"].to_numpy(float)
        gmfe = float(np.exp(np.mean(np.abs(np.log(sim / obs)))))
        parts.append(f"{arm} ({rows['role'].iloc[0]}): GMFE {gmfe:.2f}, CCC {concordance_correlation(obs, sim):.2f}")
    return "Erlotinib arms, geometric-mean volume per day: " + "; ".join(parts) + "."


# -- treated arms: erlotinib PK from plasma data, kill fitted on one dose arm, the others predicted -------------
_SPLIT = "disease/validation/oncology_split.yaml"
_TREATED = "disease/validation/oncology_erlotinib_tumour_observed.tsv"
_PK_OBS = "disease/validation/oncology_erlotinib_pk_observed.tsv"
_DOSES = "disease/validation/oncology_erlotinib_doses.tsv"
#: Erlotinib free-base molecular weight, 393.4 g/mol (C22H23N3O4; PubChem CID 176870): ng/mL -> nM.
ERLOTINIB_MW = 393.4
#: Starting values of the PK fit only (per kg: dose mg/kg, V/F L/kg, CL/F L/h/kg), not results.
_PK_START = {"ka": 1.0, "CL_F": 1.0, "V_F": 3.0}


@dataclass(frozen=True)
class ErlotinibKill:
    """The erlotinib PK, growth and kill parameters fitted by :func:`fit_erlotinib`, and the arm table."""

    #: ``ka`` (1/h), ``CL_F`` (L/h/kg), ``V_F`` (L/kg) fitted to the plasma concentrations only.
    pk: dict[str, float]
    #: ``lambda0`` (1/h), ``lambda1`` (mg/h) fitted to the whole untreated control arm (pooled).
    growth: dict[str, float]
    #: ``k2`` (1/nM/h), ``k1`` (1/h) fitted to the calibration arm(s) of the split.
    kill: dict[str, float]
    #: One row per arm and day: arm, dose_mg_per_kg, role, day, n, observed / simulated geometric mean (mm3).
    table: pd.DataFrame
    #: Calibration and prediction arm ids of the split.
    calibration: tuple[str, ...]
    prediction: tuple[str, ...]


def read_oncology_split(path: str | Path | None = None) -> dict[str, dict[float, str]]:
    """The split's arms: ``{"calibration": {dose: arm id}, "prediction": {dose: arm id}}``.

    Raises :class:`~qsp_sbml.errors.QspError` naming the file and arm when an arm has no source, no dose,
    or a dose that is in both sets.
    """
    import yaml

    from qsp_sbml.errors import QspError

    file = Path(path) if path is not None else project_models_dir() / _SPLIT
    try:
        spec = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise QspError(f"{file}: cannot read the split ({exc})") from exc
    out: dict[str, dict[float, str]] = {"calibration": {}, "prediction": {}}
    for group in out:
        arms = spec.get(group) if isinstance(spec, dict) else None
        if not arms:
            raise QspError(f"{file}: no {group} arm")
        for arm in arms:
            arm_id = arm.get("id", "?") if isinstance(arm, dict) else "?"
            if not isinstance(arm, dict) or not str(arm.get("source") or "").strip():
                raise QspError(f"{file}: {group} arm {arm_id!r} cites no source")
            if not isinstance(arm.get("dose_mg_per_kg"), int | float):
                raise QspError(f"{file}: {group} arm {arm_id!r} has no numeric dose_mg_per_kg")
            out[group][float(arm["dose_mg_per_kg"])] = str(arm_id)
    overlap = set(out["calibration"]) & set(out["prediction"])
    if overlap:
        dose = sorted(overlap)[0]
        raise QspError(f"{file}: prediction arm {out['prediction'][dose]!r} ({dose:g} mg/kg) is also a calibration "
                       "arm; a prediction set must hold arms no fit uses")
    return out


@functools.lru_cache(maxsize=1)
def _treated_model() -> Any:
    from qsp_sbml import load_model

    return load_model(build_oncology_tgi(oral_pk={**_PK_START, "molecular_weight": ERLOTINIB_MW}))


def _regimens(doses: pd.DataFrame) -> dict[int, Any]:
    """Per animal: its recorded oral doses in mg/kg (ug per mouse / body weight in g) at the recorded day."""
    from qsp_sbml.dosing import Dose, Regimen, Route

    return {int(str(animal)): Regimen.of(*[Dose(amount=float(r.dose_ug) / float(r.body_weight_g),
                                                time=float(r.day) * 24, target="drug_gut", route=Route.ORAL)
                                           for r in rows.itertuples()])
            for animal, rows in doses.groupby("animal")}


def _log_sim(values: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(values, 1e-12))


def fit_erlotinib_pk(pk_obs: pd.DataFrame, doses: pd.DataFrame) -> dict[str, float]:
    """``ka``, ``CL_F``, ``V_F`` (per kg) by least squares on log plasma concentration, pooled over mice.

    Points below the limit of quantification count only when the model predicts above the limit (the
    least-squares form of Beal's M3).  Uses the plasma concentrations and doses only, never tumour data.
    """
    from scipy.optimize import least_squares

    model, regimens = _treated_model(), _regimens(doses)
    per_animal = [(regimens[int(str(a))], rows) for a, rows in pk_obs.groupby("animal")]
    # ng/mL -> nM: x 1000 / MW (1 ng/mL = 1 ug/L)
    log_obs = {id(rows): np.log(rows["conc_ng_per_mL"].to_numpy(float) * 1000 / ERLOTINIB_MW) for _, rows in per_animal}

    def residuals(theta: np.ndarray) -> np.ndarray:
        pars = {"ka": math.exp(theta[0]), "CL_F": math.exp(theta[1]), "plasma": math.exp(theta[2])}
        out = []
        for regimen, rows in per_animal:
            sim = model.simulate(np.concatenate([[0.0], rows["day"].to_numpy(float) * 24]), selections=["C_drug"],
                                 parameters=pars, regimen=regimen)["C_drug"].to_numpy()[1:]
            res = _log_sim(sim) - log_obs[id(rows)]
            blq = rows["below_lloq"].to_numpy() == 1
            out.append(np.where(blq, np.maximum(res, 0.0), res))
        return np.concatenate(out)

    start = np.log([_PK_START["ka"], _PK_START["CL_F"], _PK_START["V_F"]])
    fit = least_squares(residuals, start, bounds=(np.log([0.01, 0.01, 0.01]), np.log([50.0, 100.0, 100.0])))
    return {"ka": math.exp(fit.x[0]), "CL_F": math.exp(fit.x[1]), "V_F": math.exp(fit.x[2])}


def _pk_pars(pk: Mapping[str, float]) -> dict[str, float]:
    return {"ka": pk["ka"], "CL_F": pk["CL_F"], "plasma": pk["V_F"]}


def fit_control_growth(obs: pd.DataFrame) -> dict[str, float]:
    """Typical ``lambda0``, ``lambda1``: least squares on log volume of every untreated mouse, all days, pooled."""
    from scipy.optimize import least_squares

    model = _treated_model()
    animals = [(float(rows.loc[rows["day"] == 0, "volume_mm3"].iloc[0]), rows[rows["day"] > 0])
               for _, rows in obs.groupby("animal")]

    def residuals(theta: np.ndarray) -> np.ndarray:
        out = []
        for v0, rows in animals:
            pars = {"lambda0": math.exp(theta[0]), "lambda1": math.exp(theta[1]), "x1": v0}
            sim = model.simulate(np.concatenate([[0.0], rows["day"].to_numpy(float) * 24]),
                                 selections=["tumour_volume"], parameters=pars)["tumour_volume"].to_numpy()[1:]
            out.append(_log_sim(sim) - np.log(rows["volume_mm3"].to_numpy(float)))
        return np.concatenate(out)

    start = np.log([SIMEONI_PACLITAXEL["lambda0"], SIMEONI_PACLITAXEL["lambda1"] / 10])
    fit = least_squares(residuals, start, bounds=(np.log([1e-4, 0.1]), np.log([1.0, 1e4])))
    return {"lambda0": math.exp(fit.x[0]), "lambda1": math.exp(fit.x[1])}


def _simulate_tumours(rows: pd.DataFrame, regimens: Mapping[int, Any], fixed: Mapping[str, float]) -> np.ndarray:
    """Each mouse of ``rows`` from its measured day-0 volume with its own doses: volumes at the rows' days."""
    model, out = _treated_model(), np.empty(len(rows))
    for animal, animal_rows in rows.groupby("animal"):
        v0 = float(animal_rows.loc[animal_rows["day"] == 0, "volume_mm3"].iloc[0])
        times = np.concatenate([[0.0], animal_rows["day"].to_numpy(float) * 24])
        sim = model.simulate(times, selections=["tumour_volume"], parameters={**fixed, "x1": v0},
                             regimen=regimens[int(str(animal))])["tumour_volume"].to_numpy()[1:]
        out[rows.index.get_indexer(animal_rows.index)] = sim
    return out


def fit_erlotinib_kill(tumour_cal: pd.DataFrame, doses: pd.DataFrame, pk: Mapping[str, float],
                       growth: Mapping[str, float]) -> dict[str, float]:
    """``k2`` (1/nM/h) and ``k1`` (1/h) by least squares on log volume of the calibration mice, PK and growth fixed."""
    from scipy.optimize import least_squares

    rows = tumour_cal[tumour_cal["day"] > 0].reset_index(drop=True)
    rows = pd.concat([tumour_cal[tumour_cal["day"] == 0], rows], ignore_index=True)  # day 0 sets each x1
    later = rows["day"].to_numpy() > 0
    regimens, log_obs = _regimens(doses), np.log(rows["volume_mm3"].to_numpy(float))

    def residuals(theta: np.ndarray) -> np.ndarray:
        fixed = {**_pk_pars(pk), **growth, "k2": math.exp(theta[0]), "k1": math.exp(theta[1])}
        return (_log_sim(_simulate_tumours(rows, regimens, fixed)) - log_obs)[later]

    start = np.log([1e-5, SIMEONI_PACLITAXEL["k1"]])
    fit = least_squares(residuals, start, bounds=(np.log([1e-10, 1e-3]), np.log([1.0, 10.0])))
    return {"k2": math.exp(fit.x[0]), "k1": math.exp(fit.x[1])}


def fit_erlotinib(tumour: pd.DataFrame | None = None, split: str | Path | None = None) -> ErlotinibKill:
    """Fit the erlotinib PK, control growth and kill as the split says; predict the held-out dose arms.

    Order (fixed in ``models/disease/validation/oncology_split.yaml`` before any fit): PK to the plasma
    concentrations only; typical growth to the untreated control arm; ``k2`` and ``k1`` to the calibration
    arm's tumour volumes with PK and growth fixed.  Only the calibration arm's rows of ``tumour`` (default:
    the shipped treated-arm table) reach a fit; the prediction arms are then simulated, each mouse from its
    measured day-0 volume with its own doses, and compared as geometric means per arm and day.
    """
    arms = read_oncology_split(split)
    tumour = read_observed(_TREATED, ("animal", "dose_mg_per_kg", "day", "volume_mm3")) if tumour is None else tumour
    doses = read_observed(_DOSES, ("animal", "day", "dose_ug", "body_weight_g"))
    pk = fit_erlotinib_pk(read_observed(_PK_OBS, ("animal", "day", "conc_ng_per_mL", "below_lloq")), doses)
    growth = fit_control_growth(observed_growth())
    calibration = tumour[tumour["dose_mg_per_kg"].isin(list(arms["calibration"]))]
    kill = fit_erlotinib_kill(calibration, doses, pk, growth)
    used = tumour[tumour["dose_mg_per_kg"].isin(list(arms["calibration"]) + list(arms["prediction"]))]
    used = used.reset_index(drop=True)
    sim = _simulate_tumours(used, _regimens(doses), {**_pk_pars(pk), **growth, **kill})
    frame = used.assign(simulated=sim, log_obs=np.log(used["volume_mm3"]), log_sim=_log_sim(sim))
    rows = []
    for (dose, day), g in frame[frame["day"] > 0].groupby(["dose_mg_per_kg", "day"]):
        fitted = dose in arms["calibration"]
        rows.append({"arm": (arms["calibration"] if fitted else arms["prediction"])[dose], "dose_mg_per_kg": dose,
                     "role": "fitted" if fitted else "predicted", "day": day, "n": len(g),
                     "observed_mm3": float(np.exp(g["log_obs"].mean())),
                     "simulated_mm3": float(np.exp(g["log_sim"].mean()))})
    return ErlotinibKill(pk, growth, kill, pd.DataFrame(rows), tuple(arms["calibration"].values()),
                         tuple(arms["prediction"].values()))


@functools.lru_cache(maxsize=1)
def _shipped_erlotinib_fit() -> ErlotinibKill:
    """:func:`fit_erlotinib` on the shipped tables, once per process (the fits take about 15 s)."""
    return fit_erlotinib()
