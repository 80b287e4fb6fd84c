"""Write ``psoriasis_ultimma_posterior_draws.tsv``: posterior draws of petab_problems/psoriasis_ultimma.

Sampler: ``qsp_sbml.calibrate.sample`` (pyPESTO adaptive parallel tempering, 3 chains, adaptive Metropolis
inside) on the posterior of the PEtab problem (its parameter table has no priors: uniform on the log10 scale
within the bounds), started at the fitted optimum the problem's README reports (k_T 0.01137 1/h, f_ind 0.00892,
s_resp 0.7723), seed 20261122, ``N_SAMPLES`` iterations, the first ``BURN_IN`` dropped.  Columns: the three
estimated parameters on the linear scale and ``neglogpost``.

The sampler is deterministic for a seed and its first iterations do not depend on the chain length, so
``tests/test_vpop_posterior.py`` re-runs a short chain (``BURN_IN`` + 10 iterations) and checks that it equals
the first rows of the file: the file is what this script writes with the current code.

Run from the repository root:  PYTHONPATH=. python tests/data/psoriasis_ultimma_posterior_draws.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import qsp_sbml.petab as qp
from qsp_sbml.calibrate.sample import sample

HERE = Path(__file__).resolve().parent
PROBLEM = HERE.parents[1] / "petab_problems" / "psoriasis_ultimma" / "psoriasis_ultimma.yaml"
OUT = HERE / "psoriasis_ultimma_posterior_draws.tsv"
SEED = 20261122
N_SAMPLES = 2100
BURN_IN = 100
#: Start: the fitted optimum of the problem (petab_problems/psoriasis_ultimma/README.md), log10 scale.
X0 = np.log10([0.01137, 0.00892, 0.7723])


def draws(n_samples: int = N_SAMPLES) -> pd.DataFrame:
    """The posterior draws after burn-in (``n_samples`` iterations)."""
    problem = qp.PetabProblem.from_yaml(PROBLEM, guard=False)
    return sample(qp.PetabObjective(problem), n_samples=n_samples, seed=SEED, x0=X0, burn_in=BURN_IN).draws


def main() -> None:
    frame = draws()
    frame.to_csv(OUT, sep="\t", index=False, float_format="%.12g")
    print(f"{len(frame)} draws written to {OUT}")
    print(frame.describe().to_string())


if __name__ == "__main__":
    main()
