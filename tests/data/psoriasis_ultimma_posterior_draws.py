"""Write ``psoriasis_ultimma_posterior_draws.tsv``: posterior draws of petab_problems/psoriasis_ultimma.

Sampler: ``qsp_sbml.calibrate.sample`` (pyPESTO adaptive parallel tempering, 3 chains, adaptive Metropolis
inside) on the posterior of the PEtab problem (its parameter table has no priors: uniform on the log10 scale
within the bounds), started at the fitted optimum the problem's README reports (k_T 0.01137 1/h, f_ind 0.00892,
s_resp 0.7723), seed 20261122, ``N_SAMPLES`` iterations, the first ``BURN_IN`` dropped.  Columns: the three
estimated parameters on the linear scale and ``neglogpost``.

The sampler is deterministic for a seed and fixed versions of pyPESTO and numpy, but its random stream moves
with them, so ``tests/test_vpop_posterior.py`` does not compare numbers bit for bit: it checks that every
draw's ``neglogpost`` is the current posterior's value at that draw, that the chain moves and where it sits,
and (slow) that a re-run chain has the same quantiles.

Regenerate under the lock (requirements/lock-py312-linux.txt, as ``make setup`` installs it), from the
repository root:  PYTHONPATH=. .venv/bin/python tests/data/psoriasis_ultimma_posterior_draws.py
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
