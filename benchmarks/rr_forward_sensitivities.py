"""State sensitivities: our augmented model vs RoadRunner's own forward-sensitivity solver (CVODES).

A measurement, not a gradient route: for each PEtab problem (benchmark problem
names under ``$QSP_SBML_CONFORMANCE_DIR/benchmark_models``, default
Bruno_JExpBot2016 and Schwen_PONE2014) and each experiment (``--experiments
0,3``; default all), the state sensitivities to the estimated parameters at the
nominal point, on the experiment's measurement times, computed

* (a) by the objective's augmented model (``ObjectiveOptions(gradient=
  "sensitivities")``: states and sensitivities as one CVODE system), and
* (b) by ``RoadRunner.timeSeriesSensitivities`` (solver ``forward``: CVODES,
  ``simultaneous`` and ``staggered`` corrector), on the original model with
  the differentiated parameters moved to the front of the SBML parameter list
  (see below), started from the state our runner sets up (initial values,
  condition, preequilibration);

with CPU time (``time.process_time``, best of ``--repeats``) of (a) as the
objective runs it (its outputs only), of (b), the set-up of each, failures of
(b), and the largest disagreement ``max |s_a - s_b| / max |s_a|`` per
parameter (parameters whose sensitivities are below 1e-10 of the largest are
skipped), separately for parameters that enter initial values.

What libroadrunner 2.11.0 does (read from its ForwardSensitivitySolver.cpp and
checked here): sensitivities only to global parameters, always starting at zero
(no initial-value, condition-change or steady-state sensitivities), reported as
0 at t = 0; only on a uniform grid ``(start, stop, num)``; the
parameter values and the CVODES memory are taken when the solver is created
(``getSensitivitySolver().syncWithModel(rr.model)`` must follow every change);
with a parameter subset that is not the first global parameters, the first call
integrates with the previous parameter list and later ones scale the
difference quotients by the wrong parameters (``pbar`` indexed by global
position), giving zero sensitivities; a switch from a subset back to all
parameters crashed the process (segmentation fault).  Hence the reordered
model and the warm-up call below.

Usage::

    PYTHONPATH=. python benchmarks/rr_forward_sensitivities.py [PROBLEM ...] [--experiments 0,1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("simultaneous", "staggered")


def _cpu(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def _grid(t0: float, times: np.ndarray) -> tuple[float, float, int]:
    """The coarsest uniform grid from ``t0`` holding every finite time (on a 1e-6 lattice)."""
    ts = times[np.isfinite(times)]
    q = np.round((ts - t0) * 1e6).astype(np.int64)
    step = (int(np.gcd.reduce(q[q > 0])) if np.any(q > 0) else 1_000_000) / 1e6
    return t0, float(ts.max()), int(round((float(ts.max()) - t0) / step)) + 1


def _reordered_runner(problem: Any, objective: Any, first: list[str]) -> Any:
    """An ExperimentRunner on the problem's model with ``first`` leading the global parameters."""
    import libsbml

    from qsp_sbml.petab._runner import ExperimentRunner
    from qsp_sbml.simulate.simulator import ModelStructure, Simulator

    doc = problem.model.sbml_model.getSBMLDocument().clone()
    model = doc.getModel()
    params = model.getListOfParameters()
    for k, pid in enumerate(first):
        params.insert(k, params.remove(pid))
    sim = Simulator.compile(libsbml.writeSBMLToString(doc), ModelStructure.from_model(model), cache=False)
    return ExperimentRunner(sim, model, problem.entities, problem.spec.model_parameters,
                            list(objective._runner.selections), integrator=objective.options.integrator,
                            steady_state=objective.options.steady_state)


def _rr_sensitivities(runner: Any, exp: Any, values: dict[str, float], times: np.ndarray, params: list[str],
                      options: Any, method: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """RoadRunner's forward sensitivities from the state our runner sets up; ``(t, s[t, param, state], states)``."""
    sim, rr = runner.sim, runner.sim.rr
    sim.set_options(options)
    runner._values_key = tuple(values.items())
    periods = list(exp.periods)
    runner._initialise(periods[0].before_init, values)
    t0 = periods[0].start if math.isfinite(periods[0].start) else 0.0
    sim.set_time(t0)
    runner._apply_changes(periods[0].changes, values)
    if periods[0].is_preequilibration:
        runner._preequilibrate(periods[0], values)
        periods = periods[1:]
        t0 = periods[0].start
        sim.set_time(t0)
        runner._apply_changes(periods[0].changes, values)
        runner._restart_clock(t0)
    if len(periods) > 1:
        raise ValueError(f"experiment {exp.id!r}: condition changes after the start (not possible with this solver)")
    solver = rr.getSensitivitySolver()
    solver.setValue("relative_tolerance", options.rtol)
    solver.setValue("absolute_tolerance", options.atol)
    solver.setValue("maximum_num_steps", options.max_steps)
    solver.setValue("sensitivity_method", method)
    solver.syncWithModel(rr.model)  # takes the current parameter values and state; sensitivities restart at 0
    tt, arr, _, cols = rr.timeSeriesSensitivities(*_grid(t0, times), params=params)
    return np.asarray(tt), np.asarray(arr), list(cols)


def measure(name: str, experiments: list[int] | None, repeats: int) -> None:
    import qsp_sbml.petab as qp
    from qsp_sbml.petab._sensitivity import SensitivityRunner
    from tests.conftest import conformance_dir

    path = conformance_dir() / "benchmark_models" / name / f"{name}.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem = qp.PetabProblem.from_yaml(path, guard=False)
    objective = qp.PetabObjective(problem)
    spec, options = problem.spec, objective.options.integrator
    values = problem.parameter_values(objective.x_nominal)
    t0 = time.process_time()
    runner = objective._sensitivity_runner()
    setup_a = time.process_time() - t0
    sm = runner.sm
    s_ids = [s for row in sm.s_ids for s in row]
    states_runner = SensitivityRunner(sm, runner.sim, problem.entities, spec.model_parameters, s_ids,
                                      integrator=options, steady_state=objective.options.steady_state)
    globals_ = set(objective._runner.sim.global_parameter_ids())
    init_syms = {str(s) for e in sm.ia.values() for s in e.free_symbols}
    mapped = {k: str(v) for k, v in spec.model_parameters.items()}
    params = [t for t in sm.thetas if t in globals_ and mapped.get(t, t) == t]
    t0 = time.process_time()
    rr_runner = _reordered_runner(problem, objective, params)
    rr_runner.sim.rr.timeSeriesSensitivities(0.0, 1.0, 2, params=params)  # see the module docstring
    setup_b = time.process_time() - t0
    print(f"{name}: {len(sm.states)} states x {len(sm.thetas)} parameters; (a) set-up {setup_a:.2f} CPU-s "
          f"({len(sm.states) * (1 + len(sm.thetas))} ODEs); (b) set-up {setup_b:.2f} CPU-s (compile of the "
          f"reordered model), {len(params)} parameters that are model parameters "
          f"({sorted(set(params) & init_syms)} enter initial values), not available to (b): "
          f"{[t for t in sm.thetas if t not in params]}")
    items = list(spec.experiments.items())
    if experiments is not None:
        items = [items[i] for i in experiments]
    t_a = 0.0
    t_b = dict.fromkeys(METHODS, 0.0)
    err: dict[str, dict[str, float]] = {m: {"kinetic": 0.0, "initial": 0.0} for m in METHODS}
    failed: dict[str, list[str]] = {m: [] for m in METHODS}
    for eid, exp in items:
        times = objective._exp_times[eid]
        runner.run(exp, values, times)  # warm-up: a shared preequilibration is paid once per x, as in the objective
        dt, _ = _cpu(lambda: runner.run(exp, values, times), repeats)  # noqa: B023
        t_a += dt
        sa = states_runner.run(exp, values, times)[:, :len(s_ids)].reshape(len(times), len(sm.states), -1)
        fin = np.isfinite(times)
        sa = sa[fin]
        top = float(np.max(np.abs(sa))) if sa.size else 0.0
        for method in METHODS:
            try:
                _rr_sensitivities(rr_runner, exp, values, times, params, options, method)  # warm-up, likewise
                dt, (tt, sb, cols) = _cpu(
                    lambda: _rr_sensitivities(rr_runner, exp, values, times, params, options, method),  # noqa: B023
                    repeats)
            except (RuntimeError, ValueError) as e:
                failed[method].append(f"{eid}: {str(e)[:70]}")
                continue
            t_b[method] += dt
            rows = [int(np.argmin(np.abs(tt - t))) for t in times[fin]]
            for r, th in enumerate(params):
                j = sm.thetas.index(th)
                scale = float(np.max(np.abs(sa[:, :, j])))
                if scale <= 1e-10 * top:
                    continue
                diff = max(float(np.max(np.abs(sa[:, i, j] - sb[rows, r, cols.index(st)])))
                           for st, i in sm.state_index.items() if st in cols)
                kind = "initial" if th in init_syms else "kinetic"
                err[method][kind] = max(err[method][kind], diff / scale)
    print(f"  CPU over {len(items)} experiment(s): (a) augmented {t_a * 1e3:.1f} ms")
    for m in METHODS:
        ok = len(items) - len(failed[m])
        print(f"  (b) RoadRunner forward [{m}] {t_b[m] * 1e3:.1f} ms on the {ok} that succeeded; max rel. "
              f"disagreement: kinetic parameters {err[m]['kinetic']:.1e}, initial-value parameters "
              f"{err[m]['initial']:.1e}; failed {len(failed[m])}{': ' + failed[m][0] if failed[m] else ''}")
    sys.stdout.flush()


def main(argv: list[str]) -> None:
    """Print the figures of each problem."""
    import roadrunner

    parser = argparse.ArgumentParser()
    parser.add_argument("problems", nargs="*", default=["Bruno_JExpBot2016", "Schwen_PONE2014"])
    parser.add_argument("--experiments", default=None, help="comma-separated experiment indices")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    print(f"libroadrunner {roadrunner.__version__}")
    exps = [int(i) for i in args.experiments.split(",")] if args.experiments else None
    for name in args.problems:
        measure(name, exps, args.repeats)


if __name__ == "__main__":
    main(sys.argv[1:])
