"""Gradient-based multistart on our objective vs pyPESTO's own RoadRunner path (gradient-free), side by side.

For each problem (Boehm_JProteomeRes2014 from the conformance folder, the shipped
theophylline problem), from the SAME uniform start points (seeded):

* ``ours+fides``: our PEtab objective and gradient, fides (BFGS), via qsp_sbml.calibrate
  (``QSP_BENCH_OPTIMIZER`` picks another of ``qsp_sbml.calibrate.multistart.OPTIMIZERS``, e.g.
  ``fides-hybrid``: the Fisher information matrix from our forward sensitivities first);
* ``pypesto-rr+NM``: ``pypesto.petab.PetabImporter(problem, simulator_type="roadrunner")``,
  scipy Nelder-Mead (no gradient on that path; adaptive simplex, 500 evaluations per parameter);
* ``ours+NM``: our objective with the same Nelder-Mead, run only when pyPESTO's
  path cannot build the problem (so the gradient-free comparison still exists).

Printed per arm: starts reaching the best known value (the lowest value any arm
found, or the objective at the nominal parameters, whichever is lower; within
0.1), function and gradient evaluations, total optimisation time, and the costs
per successful start (evaluations / successes, seconds / successes); then the
ratios of the gradient-free arm to ours.  Everything runs serially in one process.

Environment: ``QSP_BENCH_STARTS`` (default 50), ``QSP_BENCH_QUICK=1`` (3 starts),
``QSP_BENCH_PROBLEMS`` (comma-separated subset: ``boehm``, ``theophylline``),
``QSP_BENCH_SEED`` (default 1), ``QSP_BENCH_OPTIMIZER`` (default ``fides``), ``QSP_SBML_CONFORMANCE_DIR``.

Run: ``PYTHONPATH=. python benchmarks/calibration.py``
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TOL = 0.1


def _conformance() -> Path:
    env = os.environ.get("QSP_SBML_CONFORMANCE_DIR")
    return Path(env) if env else REPO.parent / "shared" / "conformance"


PROBLEMS = {
    "boehm": _conformance() / "benchmark_models" / "Boehm_JProteomeRes2014" / "Boehm_JProteomeRes2014.yaml",
    "theophylline": REPO / "petab_problems" / "theophylline" / "theophylline.yaml",
}


def _arm(name: str, fvals: np.ndarray, n_fval: int, n_grad: int, seconds: float) -> dict[str, Any]:
    return {"arm": name, "fvals": np.asarray(fvals, dtype=float), "n_fval": n_fval, "n_grad": n_grad,
            "seconds": seconds}


def run_ours(objective: Any, starts: np.ndarray, optimizer: str) -> dict[str, Any]:
    """Our objective with one of our optimisers (gradient, FIM) or Nelder-Mead (no gradient) from ``starts``."""
    from qsp_sbml.calibrate._adapter import pypesto_problem
    from qsp_sbml.calibrate.multistart import OPTIMIZERS

    if optimizer in OPTIMIZERS:
        from qsp_sbml.calibrate import multistart

        res = multistart(objective, n_starts=len(starts), x_starts=starts, optimizer=optimizer)
        t = res.starts
        return _arm(f"ours+{optimizer}", t["fval"].to_numpy(float), int(t["n_fval"].sum()), int(t["n_grad"].sum()),
                    float(t["time"].sum()))
    import pypesto.optimize as po

    problem = pypesto_problem(objective, x_guesses=starts)
    res = po.minimize(problem, optimizer=nelder_mead(starts.shape[1]), n_starts=len(starts), progress_bar=False,
                      options=po.OptimizeOptions(allow_failed_starts=True))
    return _summarise("ours+NM", res)


def nelder_mead(dim: int) -> Any:
    """scipy Nelder-Mead (adaptive simplex for dim > 2) with a budget of 500 evaluations per parameter."""
    import pypesto.optimize as po

    budget = 500 * dim
    return po.ScipyOptimizer(method="Nelder-Mead", options={"maxiter": budget, "maxfev": budget, "adaptive": True,
                                                            "xatol": 1e-6, "fatol": 1e-6})


def _summarise(name: str, res: Any) -> dict[str, Any]:
    lst = res.optimize_result.list
    fvals = np.array([r.fval if r.fval is not None else math.inf for r in lst], dtype=float)
    return _arm(name, fvals, int(sum(r.n_fval or 0 for r in lst)), int(sum(r.n_grad or 0 for r in lst)),
                float(sum(r.time or 0.0 for r in lst)))


def run_pypesto_rr(yaml_path: Path, starts: np.ndarray, x_ids: list[str]) -> dict[str, Any]:
    """pyPESTO's RoadRunner path with Nelder-Mead from ``starts`` (same parameter order checked)."""
    import petab.v1 as petab
    import pypesto.optimize as po
    import pypesto.petab

    t0 = time.perf_counter()
    importer = pypesto.petab.PetabImporter(petab.Problem.from_yaml(str(yaml_path)), simulator_type="roadrunner")
    problem = importer.create_problem()
    setup = time.perf_counter() - t0
    free = [problem.x_names[i] for i in problem.x_free_indices]
    if free != x_ids:
        raise RuntimeError(f"parameter order differs: {free} vs {x_ids}")
    full = np.zeros((len(starts), problem.dim_full))
    full[:, problem.x_free_indices] = starts
    full[:, problem.x_fixed_indices] = problem.x_fixed_vals
    problem.set_x_guesses(full)
    res = po.minimize(problem, optimizer=nelder_mead(len(x_ids)), n_starts=len(starts),
                      progress_bar=False, options=po.OptimizeOptions(allow_failed_starts=True))
    arm = _summarise("pypesto-rr+NM", res)
    arm["setup_s"] = setup
    return arm


def main() -> None:
    """Run every selected problem and print the table and ratios."""
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    import qsp_sbml.petab as qp
    from qsp_sbml.calibrate import start_points

    quick = os.environ.get("QSP_BENCH_QUICK") == "1"
    n = 3 if quick else int(os.environ.get("QSP_BENCH_STARTS", "50"))
    seed = int(os.environ.get("QSP_BENCH_SEED", "1"))
    chosen = [p.strip() for p in os.environ.get("QSP_BENCH_PROBLEMS", ",".join(PROBLEMS)).split(",") if p.strip()]
    for key in chosen:
        path = PROBLEMS[key]
        if not path.is_file():
            print(f"{key}: {path} not found, skipped (set QSP_SBML_CONFORMANCE_DIR)")
            continue
        problem = qp.PetabProblem.from_yaml(path, guard=False)
        objective = qp.PetabObjective(problem)
        starts = start_points(problem, n, seed)
        arms = [run_ours(objective, starts, os.environ.get("QSP_BENCH_OPTIMIZER", "fides"))]
        try:
            arms.append(run_pypesto_rr(path, starts, problem.x_free_ids))
        except Exception as err:  # record the failure of pyPESTO's path, then compare with our NM
            print(f"{key}: pyPESTO RoadRunner path failed: {type(err).__name__}: {err}")
            arms.append(run_ours(objective, starts, "Nelder-Mead"))
        nominal = float(objective(objective.x_nominal))
        best = min([nominal] + [float(np.min(a["fvals"])) for a in arms])
        print(f"\n{key}: {n} starts (seed {seed}), best known value {best:.4f} "
              f"(objective at nominal parameters {nominal:.4f}); success = within {TOL}")
        print(f"{'arm':<19}{'best':>11}{'success':>9}{'n_fval':>9}{'n_grad':>9}{'time_s':>9}"
              f"{'fval/succ':>11}{'s/succ':>9}")
        for a in arms:
            k = int(np.sum(a["fvals"] <= best + TOL))
            a["success"] = k
            per_f = a["n_fval"] / k if k else math.inf
            per_s = a["seconds"] / k if k else math.inf
            a["per_f"], a["per_s"] = per_f, per_s
            print(f"{a['arm']:<19}{np.min(a['fvals']):>11.4f}{f'{k}/{n}':>9}{a['n_fval']:>9}{a['n_grad']:>9}"
                  f"{a['seconds']:>9.1f}{per_f:>11.1f}{per_s:>9.2f}")
        ours, other = arms[0], arms[1]
        if ours["success"] and other["success"]:
            print(f"ratios {other['arm']} / {ours['arm']}: function evaluations per success "
                  f"{other['per_f'] / ours['per_f']:.2f}x, "
                  f"wall time per success {other['per_s'] / ours['per_s']:.2f}x, "
                  f"success fraction {other['success'] / n:.2f} vs {ours['success'] / n:.2f}")
        else:
            print(f"success fraction {other['arm']} {other['success'] / n:.2f} vs {ours['arm']} "
                  f"{ours['success'] / n:.2f} (no per-success ratio: an arm never reached the best value)")
        print(f"totals {other['arm']} / {ours['arm']} over all starts: function evaluations "
              f"{other['n_fval'] / max(ours['n_fval'], 1):.2f}x, optimisation time "
              f"{other['seconds'] / max(ours['seconds'], 1e-9):.2f}x; failed starts "
              f"{int(np.sum(~np.isfinite(other['fvals'])))} vs {int(np.sum(~np.isfinite(ours['fvals'])))}")


if __name__ == "__main__":
    main()
