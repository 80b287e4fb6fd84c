"""Gradients of the PEtab objective: closed form on a tiny problem, central finite differences elsewhere.

Every gradient is evaluated twice on the same objective (RoadRunner carries
solver state across calls; the repeated evaluation must agree with the first).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

pytest.importorskip("petab")

import qsp_sbml.petab as qp
from qsp_sbml import resources
from tests.conftest import conformance_dir
from tests.test_petab import PARS, _write

ROOT = conformance_dir() / "benchmark_models"
BENCHMARKS = sorted(p.name for p in ROOT.iterdir() if (p / f"{p.name}.yaml").is_file()) if ROOT.is_dir() else []
SLOW = {"Isensee_JCB2018", "Armistead_CellDeathDis2024", "Brannmark_JBC2010"}
#: Problems whose objective cannot be evaluated at nominal parameters (see test_petab_benchmarks.py).
SKIP = {"Isensee_JCB2018": "CVODE CV_TOO_MUCH_WORK at nominal parameters (known failure of the objective)"}
#: Not solved yet (strict: must keep failing until fixed).
XFAIL = {"Blasi_CellSystems2016": "gradient and central FD disagree (entries ~1e7, FD changes sign with the step): "
                                  "ill-conditioned objective or a real error, not investigated yet"}


def central_fd(objective: qp.PetabObjective, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central finite differences of the objective, step ``h * max(1, |x_j|)``."""
    out = np.zeros_like(x)
    for j in range(len(x)):
        step = h * max(1.0, abs(x[j]))
        xp, xm = x.copy(), x.copy()
        xp[j] += step
        xm[j] -= step
        out[j] = (objective(xp) - objective(xm)) / (2.0 * step)
    return out


def assert_matches_fd(objective: qp.PetabObjective, x: np.ndarray, *, rtol: float = 1e-3) -> float:
    """Gradient twice, both equal and within ``rtol`` of central FD (relative to max(|g|, 1e-2 * ||g||_inf))."""
    f1, g1 = objective(x, sensi=1)
    f2, g2 = objective(x, sensi=1)
    assert f2 == f1
    g3 = objective.gradient(x)
    assert f1 == pytest.approx(objective(x), rel=1e-12)
    np.testing.assert_allclose(g2, g1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g3, g1, rtol=1e-10, atol=1e-12)
    fd = central_fd(objective, x)
    scale = np.maximum(np.abs(fd), 1e-2 * max(float(np.max(np.abs(fd))), 1e-6))
    err = float(np.max(np.abs(g1 - fd) / scale))
    print(f"{objective.problem.source}: max relative error {err:.2e} over {len(x)} parameters")
    assert err <= rtol, (g1, fd)
    return err


def test_closed_form_gradient_one_compartment(tmp_path):
    # A(t) = A0 exp(-k t); y = scale * A; sigma estimated (log10); k log10, A0 log, scale lin
    pars = PARS + ("k\tlog10\t0.01\t10\t0.7\t1\nA0\tlog\t0.01\t10\t2\t1\ns\tlin\t0\t1\t0\t0\n"
                   "scale\tlin\t0.1\t10\t1.5\t1\nsd\tlog10\t0.01\t10\t0.3\t1\n")
    observables = ("observableId\tobservableFormula\tnoiseFormula\n"
                   "obs\tobservableParameter1_obs * A\tnoiseParameter1_obs\n")
    times, data = [0.5, 1.0, 2.0, 4.0], [2.1, 1.4, 0.8, 0.2]
    meas = "observableId\tsimulationConditionId\ttime\tmeasurement\tobservableParameters\tnoiseParameters\n" + "".join(
        f"obs\tc0\t{t}\t{m}\tscale\tsd\n" for t, m in zip(times, data, strict=True))
    path = _write(tmp_path, parameters=pars, measurements=meas, observables=observables)
    objective = qp.PetabObjective(qp.PetabProblem.from_yaml(path, guard=False))
    x = objective.x_nominal
    k, a0, scale, sd = 0.7, 2.0, 1.5, 0.3
    t, m = np.array(times), np.array(data)
    y = scale * a0 * np.exp(-k * t)
    r = (m - y) / sd
    dllh_dy = r / sd
    grad_lin = {
        "k": float(np.sum(dllh_dy * y * -t)),
        "A0": float(np.sum(dllh_dy * y / a0)),
        "scale": float(np.sum(dllh_dy * y / scale)),
        "sd": float(np.sum((r**2 - 1.0) / sd)),
    }
    chain = {"k": k * math.log(10.0), "A0": a0, "scale": 1.0, "sd": sd * math.log(10.0)}
    expected = -np.array([grad_lin[p] * chain[p] for p in objective.problem.x_free_ids])
    for _ in range(3):
        value, grad = objective(x, sensi=1)
        expected_value = float(np.sum(0.5 * np.log(2 * math.pi * sd**2) + 0.5 * r**2))
        assert value == pytest.approx(expected_value, rel=1e-7)
        np.testing.assert_allclose(grad, expected, rtol=1e-5)


def test_gradient_with_priors_and_laplace_log_noise(tmp_path):
    pars = ("parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\tobjectivePriorType\t"
            "objectivePriorParameters\nk\tlog10\t0.01\t10\t0.7\t1\tnormal\t1;0.5\nA0\tlin\t0\t10\t1\t0\t\t\n"
            "s\tlin\t0\t1\t0.2\t1\t\t\n")
    observables = ("observableId\tobservableFormula\tnoiseFormula\tobservableTransformation\tnoiseDistribution\n"
                   "obs\tA + 0.1\t0.2 + s\tlog\tlaplace\n")
    meas = "observableId\tsimulationConditionId\ttime\tmeasurement\n" + "".join(
        f"obs\tc0\t{t}\t{m}\n" for t, m in [(0.5, 0.9), (1, 0.7), (2, 0.5), (5, 0.3)])
    path = _write(tmp_path, parameters=pars, measurements=meas, observables=observables)
    options = qp.ObjectiveOptions(priors=True)
    objective = qp.PetabObjective(qp.PetabProblem.from_yaml(path, guard=False), options=options)
    assert_matches_fd(objective, objective.x_nominal + 0.05)


def test_gradient_condition_table_and_steady_state(tmp_path):
    # A0 enters through the condition table (an estimated parameter as override), s through t=inf
    pars = PARS + "k\tlog10\t0.01\t10\t0.5\t1\ns\tlin\t0\t10\t1.5\t1\na_hi\tlog10\t0.1\t100\t7\t1\n"
    conditions = "conditionId\tA0\nlow\t1\nhigh\ta_hi\n"
    meas = "observableId\tsimulationConditionId\ttime\tmeasurement\n" + "".join(
        f"obs\t{c}\t{t}\t{m}\n" for c, t, m in [("low", 1, 1.5), ("high", 1, 5.0), ("high", 3, 3.6),
                                                ("low", "inf", 2.9), ("high", "inf", 3.1)])
    path = _write(tmp_path, parameters=pars, measurements=meas, conditions=conditions)
    objective = qp.PetabObjective(qp.PetabProblem.from_yaml(path, guard=False))
    assert set(objective.simulation_parameters) == {"k", "s", "a_hi"}
    assert_matches_fd(objective, objective.x_nominal)


def test_shipped_example_gradient():
    objective = qp.PetabObjective(qp.PetabProblem.from_yaml(resources.PETAB_PK_IV, guard=False))
    assert_matches_fd(objective, objective.x_nominal + 0.1)


def _bench_params():
    out = []
    for name in BENCHMARKS:
        marks = [pytest.mark.conformance]
        if name in SLOW:
            marks.append(pytest.mark.slow)
        if name in XFAIL:
            marks.append(pytest.mark.xfail(reason=XFAIL[name], strict=True))
        if name in SKIP:
            marks.append(pytest.mark.skip(reason=SKIP[name]))
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.mark.parametrize("name", _bench_params())
def test_benchmark_gradient_matches_finite_differences(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unit warnings of the published models
        problem = qp.PetabProblem.from_yaml(ROOT / name / f"{name}.yaml", guard=False)
    objective = qp.PetabObjective(problem)
    # off the optimum (gradients there are ~1e-2 and finite differences ill conditioned), inside the bounds
    x = np.clip(objective.x_nominal + 0.05, problem.lb, problem.ub)
    assert_matches_fd(objective, x)
