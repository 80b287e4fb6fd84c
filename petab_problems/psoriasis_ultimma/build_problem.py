"""Write this PEtab problem from the project's code and the observed-data table (no value is changed).

Run from the repository root: ``PYTHONPATH=. python petab_problems/psoriasis_ultimma/build_problem.py``.
``model.xml`` is the text of ``qsp_sbml.library.psoriasis.build_psoriasis_risankizumab()`` (identical to
``models/disease/psoriasis_risankizumab.xml``); the measurements are the UltIMMa-1 rows of
``models/disease/validation/psoriasis_observed.tsv``; the noise SD of each proportion is the binomial
standard error sqrt(p (1 - p) / n) of the reported proportion and arm size.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from qsp_sbml._io import atomic_write_text
from qsp_sbml.library import psoriasis

HERE = Path(__file__).resolve().parent
TRIAL = "UltIMMa-1"


def main() -> None:
    """Write model.xml and the PEtab tables next to this script."""
    atomic_write_text(HERE / "model.xml", psoriasis.build_psoriasis_risankizumab())
    obs = psoriasis.observed()
    obs = obs[obs["trial"] == TRIAL]
    conditions = pd.DataFrame({
        "conditionId": ["placebo", "risankizumab_150mg"],
        "conditionName": ["placebo (weeks 0-16)", "risankizumab 150 mg SC at weeks 0, 4, 16, 28, 40"],
        "dose_nmol": [0.0, psoriasis.dose_nmol(psoriasis.RISANKIZUMAB_DOSE_MG)],
    })
    measurements = pd.DataFrame({
        "observableId": "PASI90_rate",
        "simulationConditionId": ["placebo" if d == 0 else "risankizumab_150mg" for d in obs["dose_mg"]],
        "time": obs["week"].to_numpy() * psoriasis.HOURS_PER_WEEK,
        "measurement": obs["PASI90"].to_numpy(),
        "noiseParameters": [round(math.sqrt(p * (1 - p) / n), 6) for p, n in zip(obs["PASI90"], obs["n"], strict=True)],
    }).sort_values(["simulationConditionId", "time"])
    observables = pd.DataFrame({
        "observableId": ["PASI90_rate"], "observableName": ["proportion of patients with PASI90"],
        "observableFormula": ["P_PASI90"], "noiseFormula": ["noiseParameter1_PASI90_rate"],
        "observableTransformation": ["lin"], "noiseDistribution": ["normal"],
    })
    parameters = pd.DataFrame({
        "parameterId": ["k_T", "f_ind", "s_resp"],
        "parameterName": ["Th17 activity turnover rate constant (1/h)",
                          "IL-23-independent fraction of Th17 activity (-)",
                          "between-patient logistic scale of log residual PASI (-)"],
        "parameterScale": ["log10"] * 3,
        "lowerBound": [1e-4, 1e-4, 0.05],
        "upperBound": [1.0, 0.5, 5.0],
        # start values: a 2-week Th17 half-life, 10 % floor, unit scale (not the fitted values)
        "nominalValue": [0.002, 0.1, 1.0],
        "estimate": [1, 1, 1],
    })
    for name, frame in (("conditions", conditions), ("measurements", measurements),
                        ("observables", observables), ("parameters", parameters)):
        atomic_write_text(HERE / f"{name}.tsv", frame.to_csv(sep="\t", index=False))
    atomic_write_text(HERE / "psoriasis_ultimma.yaml", (
        "format_version: 1\nparameter_file: parameters.tsv\nproblems:\n- condition_files: [conditions.tsv]\n"
        "  measurement_files: [measurements.tsv]\n  observable_files: [observables.tsv]\n"
        "  sbml_files: [model.xml]\n"))


if __name__ == "__main__":
    main()
