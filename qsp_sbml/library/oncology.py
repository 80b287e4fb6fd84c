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
``models/disease/validation/oncology_tgi_observed.tsv``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml._sbml_build import ModuleBuilder
from qsp_sbml.library import ValidationOutcome
from qsp_sbml.library._common import read_observed
from qsp_sbml.library.report import Qualification
from qsp_sbml.resources import project_models_dir

__all__ = ["FILES", "PACLITAXEL_MW", "SIMEONI_PACLITAXEL", "build_oncology_tgi", "qualification", "validate"]

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


def build_oncology_tgi(values: Mapping[str, float] | None = None) -> str:
    """The tumour growth inhibition module as SBML text (defaults: :data:`SIMEONI_PACLITAXEL`).

    ``values`` may override ``lambda0``, ``lambda1``, ``k1``, ``k2``, ``psi``,
    ``kmax`` and the initial tumour weight ``x1_0`` (mg).
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
    b.parameter("C_drug", 0.0, "nM", name="drug concentration for the linear kill k2 C (input)")
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
    b.ports(["E_drug", "C_drug"], direction="input")
    b.ports(["tumour_weight", "tumour_volume"], direction="output")
    b.check()
    return b.to_string()


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
    """Per-animal fit of days <= 14 (fitted) and forecast of later untreated volumes (predicted)."""
    outcome = validate()
    rows = [{"role": "fitted" if r["set"] == "fit" else "predicted", "arm": f"LXF A677 control, animal {r['animal']}",
             "endpoint": "tumour volume (mm3)", "time": r["day"], "time_unit": "day", "n": 1,
             "observed": r["observed_mm3"], "simulated": r["simulated_mm3"]} for _, r in outcome.table.iterrows()]
    return Qualification.from_rows(
        "oncology", rows,
        fitted=(f"lambda0 and lambda1 per animal (least squares on log volume) to that animal's measurements up to "
                f"day {TRAIN_LAST_DAY:g}; the day-0 volume sets the initial state"),
        predicted=(f"every later measurement of the same 8 untreated animals (after day {TRAIN_LAST_DAY:g}), "
                   f"forecast by the fitted module (split fixed before the comparison; GMFE tolerance "
                   f"{TOLERANCE_GMFE:g})"),
        sources=(outcome.source,),
        method="per-animal simulation of the module with the animal's fitted growth rates",
        notes=("Untreated growth only: the drug-kill term is not predicted (issue 19 asks for a treated arm not "
               "used for fitting).",
               "Each forecast continues its own animal's fit: no virtual population, so no 90 % prediction "
               "interval and no coverage."))
