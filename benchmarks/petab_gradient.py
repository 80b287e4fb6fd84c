"""Cost of one PEtab gradient vs one objective evaluation, and its agreement with central finite differences.

For each problem (PEtab YAML paths on the command line, or by default the
shipped theophylline problem and the benchmark problems found under
``$QSP_SBML_CONFORMANCE_DIR/benchmark_models``, Isensee_JCB2018 excluded
unless named): the time of ``objective(x)``, of the first ``objective(x,
sensi=1)`` (includes generating and compiling the sensitivity model), of a
repeated one at another ``x``, their ratios to one evaluation, and the maximal
relative difference of each gradient to central finite differences of the
objective (step ``1e-4 * max(1, |x_j|)``; relative to ``max(|fd|, 1e-2 * ||fd||_inf)``).

Usage::

    PYTHONPATH=. python benchmarks/petab_gradient.py [PROBLEM.yaml ...] [--no-fd]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _problems(args: list[str]) -> list[Path]:
    if args:
        return [Path(a) for a in args]
    sys.path.insert(0, str(ROOT))
    from tests.conftest import conformance_dir

    out = [ROOT / "petab_problems" / "theophylline" / "theophylline.yaml"]
    bench = conformance_dir() / "benchmark_models"
    if bench.is_dir():
        out += [p / f"{p.name}.yaml" for p in sorted(bench.iterdir())
                if (p / f"{p.name}.yaml").is_file() and p.name != "Isensee_JCB2018"]
    return out


def _fd_error(objective: object, x: np.ndarray, grad: np.ndarray) -> float:
    fd = np.zeros_like(x)
    for j in range(len(x)):
        h = 1e-4 * max(1.0, abs(x[j]))
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        fd[j] = (objective(xp) - objective(xm)) / (2.0 * h)  # type: ignore[operator]
    scale = np.maximum(np.abs(fd), 1e-2 * max(float(np.max(np.abs(fd))), 1e-6))
    return float(np.max(np.abs(grad - fd) / scale))


def main(argv: list[str]) -> None:
    """Print one line per problem."""
    import qsp_sbml.petab as qp

    with_fd = "--no-fd" not in argv
    paths = _problems([a for a in argv if a != "--no-fd"])
    print(f"{'problem':28s} {'n_x':>4s} {'f [s]':>7s} {'grad1 [s]':>9s} {'grad2 [s]':>9s} {'g1/f':>6s} "
          f"{'g2/f':>6s} {'fd err 1':>9s} {'fd err 2':>9s}")
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            problem = qp.PetabProblem.from_yaml(path, guard=False)
        objective = qp.PetabObjective(problem)
        x1 = np.clip(objective.x_nominal + 0.05, problem.lb, problem.ub)
        x2 = np.clip(objective.x_nominal - 0.03, problem.lb, problem.ub)
        objective(x1)  # warm-up: RoadRunner's first integration
        t0 = time.perf_counter()
        objective(x1)
        tf = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, g1 = objective(x1, sensi=1)
        tg1 = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, g2 = objective(x2, sensi=1)
        tg2 = time.perf_counter() - t0
        e1 = f"{_fd_error(objective, x1, g1):9.1e}" if with_fd else f"{'-':>9s}"
        e2 = f"{_fd_error(objective, x2, g2):9.1e}" if with_fd else f"{'-':>9s}"
        name = path.stem
        print(f"{name[:28]:28s} {len(x1):4d} {tf:7.3f} {tg1:9.3f} {tg2:9.3f} {tg1 / tf:6.1f} {tg2 / tf:6.1f} "
              f"{e1} {e2}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
