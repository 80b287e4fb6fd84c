"""Where multistarts on Boehm_JProteomeRes2014 end: the share of starts each optimum attracts, side by side.

Every optimiser of ``qsp_sbml.calibrate.multistart.OPTIMIZERS`` (or the subset in
``QSP_BASIN_OPTIMIZERS``) runs from the SAME uniform start points (on the
parameters' log10 scale within the PEtab bounds, ``QSP_BASIN_SEED``,
``QSP_BASIN_STARTS``).  Printed per optimiser: starts within 0.1 of the best
known value 138.2220 with a 95 % Wilson interval for the share, the end points
that attract the most starts (values rounded to 0.01), evaluations and CPU
seconds in total and per successful start.  Serial, one process.

This is the evidence behind README "Calibrate": issue 5 asks for >= 20 % of 50
starts at the optimum; with uniform starts, every local optimiser here reaches
it from well under 20 % of starts.

Run: ``PYTHONPATH=. python benchmarks/boehm_basins.py`` (``QSP_BASIN_STARTS=200`` for tighter intervals).
"""

from __future__ import annotations

import collections
import logging
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BEST = 138.2220
TOL = 0.1


def _problem_path() -> Path:
    env = os.environ.get("QSP_SBML_CONFORMANCE_DIR")
    root = Path(env) if env else REPO.parent / "shared" / "conformance"
    return root / "benchmark_models" / "Boehm_JProteomeRes2014" / "Boehm_JProteomeRes2014.yaml"


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion ``k / n`` (Wilson 1927, JASA 22:209)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def main() -> None:
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    import qsp_sbml.petab as qp
    from qsp_sbml.calibrate import multistart, start_points
    from qsp_sbml.calibrate.multistart import OPTIMIZERS

    n = int(os.environ.get("QSP_BASIN_STARTS", "50"))
    seed = int(os.environ.get("QSP_BASIN_SEED", "1"))
    chosen = os.environ.get("QSP_BASIN_OPTIMIZERS", ",".join(OPTIMIZERS)).split(",")
    path = _problem_path()
    problem = qp.PetabProblem.from_yaml(path, guard=False)
    starts = start_points(problem, n, seed)
    print(f"Boehm_JProteomeRes2014: {n} uniform starts (seed {seed}); success = final value <= {BEST} + {TOL}")
    header = (f"{'optimizer':<14} {'at optimum':>11} {'share (95% CI)':>20} {'evals':>7} {'CPU s':>7} "
              f"{'evals/success':>14} {'CPU s/success':>14}  most frequent end points")
    print(header)
    print("-" * len(header))
    for name in chosen:
        fim = name in ("fides-fim", "fides-hybrid")
        objective = qp.PetabObjective(problem, options=qp.ObjectiveOptions(fim="gauss-newton") if fim else None)
        t0 = time.process_time()
        fit = multistart(objective, n_starts=n, x_starts=starts, optimizer=name, progress=False)
        cpu = time.process_time() - t0
        fval = fit.starts["fval"].to_numpy(float)
        k = int(np.sum(fval <= BEST + TOL))
        lo, hi = wilson(k, n)
        evals = int(fit.starts["n_fval"].sum())
        ends = collections.Counter(round(float(v), 2) if math.isfinite(v) else math.inf for v in fval)
        top = ", ".join(f"{v:g} ({c})" for v, c in ends.most_common(4))
        per_evals, per_cpu = (f"{evals / k:.0f}", f"{cpu / k:.0f}") if k else ("-", "-")
        print(f"{name:<14} {k:>5} / {n:<3} {k / n:>7.0%} ({lo:.0%}-{hi:.0%}) {evals:>7} {cpu:>7.0f} "
              f"{per_evals:>14} {per_cpu:>14}  {top}", flush=True)


if __name__ == "__main__":
    main()
