"""Structural zeros of the forward sensitivities: the augmented model with and without them, side by side.

For each PEtab problem (benchmark problem names under
``$QSP_SBML_CONFORMANCE_DIR/benchmark_models``; default every one but
Isensee_JCB2018, whose set-up and gradient take minutes: name it to include
it), the objective's augmented model is built twice: as shipped (a state
sensitivity ``s_ij`` gets an equation only when parameter ``j`` can reach state
``i``) and with every ``s_ij`` integrated (``prune=False``).  Printed per
problem: the state sensitivities integrated (pruned / all), CPU seconds of the
set-up (first value+gradient minus a repeated one: derivation, SBML, LLVM
compile), the median CPU time of ``value_and_gradient`` at the nominal point
over ``--repeats`` alternating calls, the ratios full / pruned, and the largest
gradient difference relative to the largest gradient component.

Near an optimum (the nominal points of most benchmark problems) the gradient is
small and the difference reflects the integration tolerance, not the pruning;
``--offset 0.05`` evaluates at ``x_nominal + 0.05`` (clipped to the bounds)
instead.

Usage::

    PYTHONPATH=. python benchmarks/sensitivity_pruning.py [PROBLEM ...] [--repeats 5] [--offset 0.05]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SLOW = ("Isensee_JCB2018",)


def _benchmarks() -> Path:
    env = os.environ.get("QSP_SBML_CONFORMANCE_DIR")
    return (Path(env) if env else ROOT.parent / "shared" / "conformance") / "benchmark_models"


def _objective(name: str, prune: bool) -> Any:
    import qsp_sbml.petab as qp
    from qsp_sbml.petab import _sensitivity

    shipped = _sensitivity.SensitivityModel

    class Chosen(shipped):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, "prune": prune})

    path = _benchmarks() / name / f"{name}.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unit warnings of the published models
        problem = qp.PetabProblem.from_yaml(path, guard=False)
    objective = qp.PetabObjective(problem)
    _sensitivity.SensitivityModel = Chosen
    try:
        objective._sensitivity_runner()  # built here, with the chosen class
    finally:
        _sensitivity.SensitivityModel = shipped
    return objective


def _measure(name: str, repeats: int, offset: float) -> dict[str, Any]:
    objectives, setup, times, grads = {}, {}, {"pruned": [], "full": []}, {}
    for label in ("pruned", "full"):
        t0 = time.process_time()
        obj = _objective(name, prune=label == "pruned")
        x = obj.x_nominal if offset == 0 else np.clip(obj.x_nominal + offset, obj.problem.lb, obj.problem.ub)
        obj.value_and_gradient(x)
        first = time.process_time() - t0
        t0 = time.process_time()
        _, grads[label] = obj.value_and_gradient(x)
        setup[label] = first - (time.process_time() - t0)
        objectives[label] = (obj, x)
    for _ in range(repeats):
        for label, (obj, x) in objectives.items():
            t0 = time.process_time()
            obj.value_and_gradient(x)
            times[label].append(time.process_time() - t0)
    live = objectives["pruned"][0]._sensitivity_runner().sm.s_live
    scale = max(float(np.max(np.abs(grads["full"]))), 1e-300)
    return {"problem": name, "live": int(live.sum()), "all": int(live.size),
            "setup_pruned": setup["pruned"], "setup_full": setup["full"],
            "grad_pruned": statistics.median(times["pruned"]), "grad_full": statistics.median(times["full"]),
            "max_dg": float(np.max(np.abs(grads["pruned"] - grads["full"]))) / scale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("problems", nargs="*")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--offset", type=float, default=0.0)
    args = parser.parse_args(argv)
    names = args.problems or sorted(p.name for p in _benchmarks().iterdir()
                                    if (p / f"{p.name}.yaml").is_file() and p.name not in SLOW)
    print(f"{'problem':28s} {'s_ij integrated':>16s} {'set-up full/pruned [s]':>24s} {'ratio':>6s} "
          f"{'value+grad full/pruned [ms]':>29s} {'ratio':>6s} {'max |dg|':>9s}")
    warm = _objective(names[0], prune=True)  # imports (sympy, ...) and first compile, not timed
    warm.value_and_gradient(warm.x_nominal)
    for name in names:
        r = _measure(name, args.repeats, args.offset)
        print(f"{name:28s} {r['live']:>7d} / {r['all']:<7d} {r['setup_full']:>11.2f} / {r['setup_pruned']:<10.2f} "
              f"{r['setup_full'] / r['setup_pruned']:>5.2f}x {1e3 * r['grad_full']:>14.1f} / "
              f"{1e3 * r['grad_pruned']:<12.1f} {r['grad_full'] / r['grad_pruned']:>5.2f}x {r['max_dg']:>9.1e}",
              flush=True)
    print("CPU seconds (time.process_time); value+gradient: median of the alternating repeats at "
          + ("the nominal point" if args.offset == 0 else f"x_nominal + {args.offset:g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
