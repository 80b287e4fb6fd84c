"""Write ``theophylline_laplace_draws.tsv``: approximate posterior draws for petab_problems/theophylline.

qsp_sbml.calibrate (pyPESTO sampling) is not on main yet, so the draws come from a Laplace approximation:

1. maximum-likelihood estimate x_hat of the free parameters on their PEtab scales (log10), by
   Nelder-Mead (restarted once at its result) on our objective ``qsp_sbml.petab.PetabObjective``
   (negative log-likelihood; the problem has no priors, so the posterior under flat priors on the
   log10 scale has its mode at x_hat);
2. Hessian H of the negative log-likelihood at x_hat by central finite differences (step 1e-3);
3. x ~ N(x_hat, H^-1), 1000 draws (seed 20261122), written on the linear scale (10^x), one column per
   parameter id of the PEtab problem.

Run from the repository root:  PYTHONPATH=. python tests/data/theophylline_laplace_draws.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

import qsp_sbml.petab as qp

HERE = Path(__file__).resolve().parent
PROBLEM = HERE.parents[1] / "petab_problems" / "theophylline" / "theophylline.yaml"


def hessian(f, x: np.ndarray, h: float = 1e-3) -> np.ndarray:
    k = len(x)
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            def at(di: float, dj: float, i: int = i, j: int = j) -> float:
                y = x.copy()
                y[i] += di
                y[j] += dj
                return float(f(y))
            out[i, j] = out[j, i] = (at(h, h) - at(h, -h) - at(-h, h) + at(-h, -h)) / (4 * h * h)
    return out


def main() -> None:
    problem = qp.PetabProblem.from_yaml(PROBLEM, guard=False)
    objective = qp.PetabObjective(problem)
    fit = minimize(objective, problem.x_nominal, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9})
    fit = minimize(objective, fit.x, method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-10})  # restart
    h = hessian(objective, fit.x)
    cov = np.linalg.inv(h)
    if np.min(np.linalg.eigvalsh(cov)) <= 0:
        raise SystemExit("the Hessian at the optimum is not positive definite")
    draws = np.random.default_rng(20261122).multivariate_normal(fit.x, cov, size=1000)
    frame = pd.DataFrame(10.0**draws, columns=problem.x_free_ids)
    frame.to_csv(HERE / "theophylline_laplace_draws.tsv", sep="\t", index=False, float_format="%.6g")
    print("optimum (log10):", dict(zip(problem.x_free_ids, np.round(fit.x, 5), strict=True)), "nll", fit.fun)
    print("posterior SD (log10):", np.round(np.sqrt(np.diag(cov)), 5))


if __name__ == "__main__":
    main()
