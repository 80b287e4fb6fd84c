"""Write this PEtab problem: composed metoprolol PBPK-PD model, q12h oral dosing events, 3 arms, SYNTHETIC data.

Run from the repository root: ``PYTHONPATH=. python petab_problems/pbpk_pd_multidose/build_problem.py``.

- ``model.xml``: the flat model of ``models/composed/pbpk_metoprolol_beta1.yaml`` as the composer gives it
  (identical to ``models/composed/pbpk_metoprolol_beta1_flat.xml``) plus a parameter ``dose_mg`` (0 by
  default, set per arm by the condition table) and ten SBML events ``dose_0 .. dose_9`` that add ``dose_mg``
  to the GI lumen at 0, 12, ..., 108 h (oral q12h for 5 days; the PBPK module applies Fa, Fg and ka).
- ``measurements.tsv``: **synthetic** data simulated from that model at the true parameter values
  :data:`TRUE` with the noise model of ``observables.tsv`` (log-normal concentrations, normal heart rate)
  and the fixed seed :data:`SEED`; see README.md for why the data are synthetic.

Every run writes byte-identical files (the seed fixes the noise; tables are written with fixed formatting).
"""

from __future__ import annotations

from pathlib import Path

import libsbml
import numpy as np
import pandas as pd

from qsp_sbml._io import atomic_write_text
from qsp_sbml._sbml_build import parse_formula
from qsp_sbml.compose import compose_spec
from qsp_sbml.resources import project_models_dir

HERE = Path(__file__).resolve().parent
SPEC = project_models_dir() / "composed" / "pbpk_metoprolol_beta1.yaml"
#: Oral doses every 12 h for 5 days (h); outputs are kept off these times.
DOSE_TIMES = tuple(12.0 * k for k in range(10))
DOSE_TARGET = "pbpk__drug_gi_lumen"
#: Arms: mg per dose; 100-400 mg/day, inside the labelled 100-450 mg/day (Lopressor prescribing information).
ARMS = {"q12h_050mg": 50.0, "q12h_100mg": 100.0, "q12h_200mg": 200.0}
#: Sampling times (h), both observables: day 1 profile, pre-dose troughs on days 2-5, day 5 profile after the last dose.
TIMES_CONC = (0.5, 1.0, 2.0, 4.0, 8.0, 11.5, 35.5, 59.5, 83.5, 107.5, 108.5, 109.0, 110.0, 112.0, 116.0, 120.0)
TIMES_HR = TIMES_CONC
#: True values used to simulate the data (the parameter table's nominal values).
TRUE = {
    # CYP2D6 activity multiplier: 1 = the drug record's normal metabolism (models/pbpk/drugs/metoprolol.yaml)
    "pbpk__m_CYP2D6": 1.0,
    # EC50 = K_B 30.9 nM from the pA2 7.51 of Johansson 1979 (models/composed/pbpk_metoprolol_beta1.md)
    "pd__EC50": 30.9,
    # maximal fractional fall of exercise heart rate: 0.3 x 160 = 48 beats/min, the fall of maximal exercise
    # heart rate on chronic metoprolol reported by van Baak et al. 1985 Eur J Clin Pharmacol 28:143 (abstract)
    "pd__Emax": 0.3,
    "sigma_C": 0.15,   # log-scale SD of concentrations (assumed assay + model error)
    "sigma_HR": 4.0,   # beats/min (assumed)
}
#: Exercise heart rate without drug (beats/min): assumed round value for a submaximal bicycle test; fixed.
HR_EX0 = 160.0
SEED = 20261122


def build_model() -> str:
    """The composed flat model with ``dose_mg`` and the ten dosing events."""
    doc = libsbml.readSBMLFromString(compose_spec(SPEC).flat_sbml)
    model = doc.getModel()
    model.setId("pbpk_pd_multidose")
    substance = model.getSpecies(DOSE_TARGET).getSubstanceUnits()
    time_unit = model.getTimeUnits()
    p = model.createParameter()
    p.setId("dose_mg")
    p.setName("oral dose per administration (set by the condition table)")
    p.setValue(0.0)
    p.setUnits(substance)
    p.setConstant(True)
    for k, t in enumerate(DOSE_TIMES):
        ev = model.createEvent()
        ev.setId(f"dose_{k}")
        ev.setUseValuesFromTriggerTime(False)
        trig = ev.createTrigger()
        trig.setInitialValue(False)  # fires at t = 0 for the first dose
        trig.setPersistent(True)
        trig.setMath(parse_formula(model, f"time >= {t:g} {time_unit}"))
        ea = ev.createEventAssignment()
        ea.setVariable(DOSE_TARGET)
        ea.setMath(parse_formula(model, f"{DOSE_TARGET} + dose_mg"))
    return str(libsbml.writeSBMLToString(doc))


def observables() -> pd.DataFrame:
    """Plasma concentration (ng/mL, log-normal) and exercise heart rate (beats/min, normal)."""
    return pd.DataFrame({
        "observableId": ["C_plasma", "HR_exercise"],
        "observableName": ["metoprolol plasma concentration (ng/mL)", "exercise heart rate (beats/min)"],
        "observableFormula": ["1000 * pbpk__C_plasma", "HR_ex0 * (1 - pd__E)"],
        "noiseFormula": ["sigma_C", "sigma_HR"],
        "observableTransformation": ["log", "lin"],
        "noiseDistribution": ["normal", "normal"],
    })


def parameters() -> pd.DataFrame:
    """Estimated (log10, bounded) and fixed parameters; nominal values are the true values."""
    rows = [
        ("pbpk__m_CYP2D6", "CYP2D6 activity multiplier on hepatic CLint (-)", "log10", 0.05, 20.0,
         TRUE["pbpk__m_CYP2D6"], 1),
        ("pd__EC50", "unbound concentration for half-maximal effect (nM)", "log10", 1.0, 1000.0, TRUE["pd__EC50"], 1),
        ("pd__Emax", "maximal fractional fall of exercise heart rate (-)", "log10", 0.01, 1.0, TRUE["pd__Emax"], 1),
        ("sigma_C", "SD of log concentration (-)", "log10", 0.01, 1.0, TRUE["sigma_C"], 1),
        ("sigma_HR", "SD of heart rate (beats/min)", "log10", 0.1, 50.0, TRUE["sigma_HR"], 1),
        ("HR_ex0", "exercise heart rate without drug (beats/min, fixed)", "lin", 100.0, 200.0, HR_EX0, 0),
    ]
    return pd.DataFrame(rows, columns=["parameterId", "parameterName", "parameterScale", "lowerBound", "upperBound",
                                       "nominalValue", "estimate"])


def conditions() -> pd.DataFrame:
    """One condition per dose arm: ``dose_mg``."""
    return pd.DataFrame({
        "conditionId": list(ARMS),
        "conditionName": [f"metoprolol {mg:g} mg orally every 12 h for 5 days" for mg in ARMS.values()],
        "dose_mg": list(ARMS.values()),
    })


def simulate_truth(model_sbml: str) -> dict[str, pd.DataFrame]:
    """Noise-free observables per arm at the true parameters (columns time, C_plasma, HR_exercise)."""
    from qsp_sbml import load_model

    model = load_model(model_sbml)
    times = sorted({0.0, *TIMES_CONC, *TIMES_HR})
    fixed = {k: v for k, v in TRUE.items() if not k.startswith("sigma")}
    out = {}
    for arm, mg in ARMS.items():
        sim = model.simulate(times, selections=["pbpk__C_plasma", "pd__E"], parameters=fixed | {"dose_mg": mg})
        out[arm] = pd.DataFrame({"time": sim["time"], "C_plasma": 1000.0 * sim["pbpk__C_plasma"],
                                 "HR_exercise": HR_EX0 * (1.0 - sim["pd__E"])})
    return out


def measurements(truth: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Synthetic measurements: log-normal concentrations, normal heart rates, seed :data:`SEED`."""
    rng = np.random.default_rng(SEED)
    rows = []
    for arm in ARMS:
        frame = truth[arm].set_index("time")
        for t in TIMES_CONC:
            c = frame.loc[t, "C_plasma"] * np.exp(TRUE["sigma_C"] * rng.standard_normal())
            rows.append(("C_plasma", arm, t, float(c)))
        for t in TIMES_HR:
            hr = frame.loc[t, "HR_exercise"] + TRUE["sigma_HR"] * rng.standard_normal()
            rows.append(("HR_exercise", arm, t, float(hr)))
    table = pd.DataFrame(rows, columns=["observableId", "simulationConditionId", "time", "measurement"])
    table["measurement"] = table["measurement"].map(lambda v: float(f"{v:.6g}"))
    return table.sort_values(["simulationConditionId", "observableId", "time"], kind="stable").reset_index(drop=True)


def main() -> None:
    """Write model.xml, the PEtab tables and the YAML next to this script."""
    model_sbml = build_model()
    atomic_write_text(HERE / "model.xml", model_sbml)
    tables = {"conditions": conditions(), "measurements": measurements(simulate_truth(model_sbml)),
              "observables": observables(), "parameters": parameters()}
    for name, frame in tables.items():
        atomic_write_text(HERE / f"{name}.tsv", frame.to_csv(sep="\t", index=False))
    atomic_write_text(HERE / "pbpk_pd_multidose.yaml", (
        "format_version: 1\nparameter_file: parameters.tsv\nproblems:\n- condition_files: [conditions.tsv]\n"
        "  measurement_files: [measurements.tsv]\n  observable_files: [observables.tsv]\n"
        "  sbml_files: [model.xml]\n"))


if __name__ == "__main__":
    main()
