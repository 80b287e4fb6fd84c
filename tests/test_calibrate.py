"""qsp_sbml.calibrate on a two-parameter problem whose optimum is known in closed form.

Model ``A(t) = A0 exp(-t)`` (k = 1 fixed), observable ``A`` with noise ``sigma``;
``A0`` (lin) and ``sigma`` (log10) are estimated.  The maximum-likelihood
estimate is the least-squares ``A0* = sum(m e^-t) / sum(e^-2t)`` and
``sigma*^2 = RSS(A0*) / n``; the profile likelihood ratio of ``A0`` (sigma
profiled out) is ``(RSS(A0) / RSS(A0*))^(-n/2)``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pypesto")
pytest.importorskip("fides")

import qsp_sbml.calibrate as qc
import qsp_sbml.petab as qp
from qsp_sbml.errors import CalibrationError, SimulationError
from tests.test_petab import PARS, _write

T = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 4.0])
#: Synthetic data: 2 exp(-t) plus fixed perturbations.
M = 2.0 * np.exp(-T) + np.array([0.05, -0.08, 0.03, 0.06, -0.04, 0.02])
E = np.exp(-T)
A0_HAT = float(np.sum(M * E) / np.sum(E * E))


def rss(a0: float) -> float:
    return float(np.sum((M - a0 * E) ** 2))


SIGMA_HAT = math.sqrt(rss(A0_HAT) / len(T))
#: Negative log-likelihood at the optimum: n/2 log(2 pi sigma^2) + n/2.
FVAL_HAT = 0.5 * len(T) * math.log(2 * math.pi * SIGMA_HAT**2) + 0.5 * len(T)


def problem_yaml(folder: Path) -> Path:
    meas = "observableId\tsimulationConditionId\ttime\tmeasurement\n" + "".join(
        f"obs\tc0\t{float(t)!r}\t{float(m)!r}\n" for t, m in zip(T, M, strict=True))
    return _write(folder, parameters=PARS + "k\tlin\t0\t10\t1\t0\nA0\tlin\t0\t10\t1\t1\n"
                  "sigma\tlog10\t0.001\t10\t0.1\t1\n", measurements=meas,
                  observables="observableId\tobservableFormula\tnoiseFormula\nobs\tA\tsigma\n")


@pytest.fixture(scope="module")
def objective(tmp_path_factory: pytest.TempPathFactory) -> qp.PetabObjective:
    path = problem_yaml(tmp_path_factory.mktemp("decay"))
    return qp.PetabObjective(qp.PetabProblem.from_yaml(path, guard=False))


@pytest.fixture(scope="module")
def fitted(objective: qp.PetabObjective) -> qc.MultistartResult:
    return qc.multistart(objective, n_starts=3, seed=7, optimizer="fides")


def test_start_points_are_reproducible_and_within_bounds(objective):
    a = qc.start_points(objective.problem, 20, seed=3)
    b = qc.start_points(objective.problem, 20, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, qc.start_points(objective.problem, 20, seed=4))
    lb, ub = objective.problem.lb, objective.problem.ub
    assert np.all((a >= lb) & (a <= ub))
    np.testing.assert_allclose(lb, [0.0, -3.0])


@pytest.mark.parametrize("optimizer", ["fides", "fides-sr1", "fides-fim", "fides-hybrid", "L-BFGS-B"])
def test_multistart_finds_the_closed_form_optimum(objective, optimizer):
    result = qc.multistart(objective, n_starts=3, seed=7, optimizer=optimizer)
    assert result.best_fval == pytest.approx(FVAL_HAT, abs=1e-4)  # CVODE rtol 1e-8
    assert result.best_x["A0"] == pytest.approx(A0_HAT, rel=1e-4)
    assert result.best_x["sigma"] == pytest.approx(SIGMA_HAT, rel=1e-3)  # linear scale
    assert result.n_converged() == 3
    assert set(result.starts["status"]) == {"converged"}  # each optimiser's own criterion (fides: exit flag > 0)
    summary = result.summary()
    assert {"best_fval", "best_x", "n_starts", "n_converged", "wall_time_s"} <= set(summary)
    assert list(result.starts.columns[:7]) == ["start", "status", "message", "fval", "n_fval", "n_grad", "time"]
    assert list(result.starts["start"]) == [0, 1, 2]


class _FailsAboveA0(qp.PetabObjective):
    """The simulation fails (as CVODE would) for A0 > 9."""

    def simulate(self, x=None):
        if x is not None and float(np.asarray(x)[0]) > 9.0:
            raise SimulationError("injected integrator failure for A0 > 9")
        return super().simulate(x)


def test_failed_start_is_recorded_and_the_run_goes_on(objective):
    failing = _FailsAboveA0(objective.problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = qc.multistart(failing, n_starts=3, seed=7, x_starts=np.array([[9.5, -1.0]]))
    starts = result.starts.set_index("start")
    assert starts.loc[0, "status"] == "failed"
    assert starts.loc[0, "message"]
    assert math.isinf(starts.loc[0, "fval"])
    assert (starts.loc[[1, 2], "status"] != "failed").all()
    assert result.best_fval == pytest.approx(FVAL_HAT, abs=1e-4)  # CVODE rtol 1e-8
    assert result.summary()["n_failed"] == 1


def test_unknown_optimizer_and_unbounded_parameter(objective, tmp_path):
    with pytest.raises(CalibrationError, match="unknown optimizer"):
        qc.multistart(objective, n_starts=1, optimizer="simplex")
    path = _write(tmp_path, parameters=PARS + "k\tlin\t0\t10\t1\t0\nA0\tlog10\t0\t10\t1\t1\n",
                  measurements="observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\t1\t0.5\n")
    unbounded = qp.PetabObjective(qp.PetabProblem.from_yaml(path, guard=False))
    with pytest.raises(CalibrationError, match="A0"):
        qc.multistart(unbounded, n_starts=1)


def test_hdf5_round_trip(fitted, tmp_path):
    path = qc.save(fitted, tmp_path / "result.h5")
    back = qc.load(path)
    ours = sorted((r.id, r.fval) for r in fitted.pypesto_result.optimize_result.list)
    read = sorted((r.id, r.fval) for r in back.optimize_result.list)
    assert read == ours
    np.testing.assert_allclose(back.optimize_result.list[0].x, fitted.best_x_scaled)
    assert list(back.problem.x_names) == ["A0", "sigma"]
    with pytest.raises(CalibrationError, match="no such file"):
        qc.load(tmp_path / "missing.h5")


def test_profile_brackets_the_optimum_and_matches_closed_form(fitted, tmp_path):
    table = qc.profile(fitted, ["A0"])
    a0 = table["value"].to_numpy(float)
    ratio = table["ratio"].to_numpy(float)
    expected = np.array([(rss(v) / rss(A0_HAT)) ** (-len(T) / 2) for v in a0])
    np.testing.assert_allclose(ratio, expected, rtol=1e-3, atol=1e-4)
    ci = qc.profile_intervals(table).set_index("parameter")
    assert ci.loc["A0", "lower"] < A0_HAT < ci.loc["A0", "upper"]
    assert ratio.min() < 0.1 and ratio.max() == pytest.approx(1.0, abs=1e-6)
    pytest.importorskip("matplotlib")
    assert qc.plot_profiles(table, tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_sampling_returns_reproducible_linear_draws(objective, fitted, tmp_path):
    a = qc.sample(objective, n_samples=150, seed=11, x0=fitted.best_x_scaled, n_chains=2, burn_in=0)
    b = qc.sample(objective, n_samples=150, seed=11, x0=fitted.best_x_scaled, n_chains=2, burn_in=0)
    assert list(a.draws.columns) == ["A0", "sigma", "neglogpost"]
    assert a.draws.shape == (151, 3)  # the start point plus 150 iterations
    np.testing.assert_array_equal(a.draws.to_numpy(), b.draws.to_numpy())
    assert (a.draws["sigma"] > 0).all()  # linear scale (log10 scale would be negative here)
    assert abs(float(a.draws["A0"].median()) - A0_HAT) < 0.1  # the posterior sits around the optimum
    pytest.importorskip("matplotlib")
    assert qc.plot_traces(a.draws, tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_plots_are_written(objective, fitted, tmp_path):
    pytest.importorskip("matplotlib")
    for path in (qc.plot_waterfall(fitted.starts, tmp_path / "w.png"),
                 qc.plot_fit(objective, fitted.best_x_scaled, tmp_path / "f.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_process_engine_gives_the_serial_results(objective):
    serial = qc.multistart(objective, n_starts=2, seed=3, optimizer="L-BFGS-B")
    parallel = qc.multistart(objective, n_starts=2, seed=3, optimizer="L-BFGS-B", engine=2)
    np.testing.assert_allclose(parallel.starts["fval"], serial.starts["fval"], rtol=1e-10)
    np.testing.assert_allclose(parallel.starts[["A0", "sigma"]], serial.starts[["A0", "sigma"]], rtol=1e-8)


def test_nan_gradient_entries_fall_back_to_central_differences(objective):
    from qsp_sbml.calibrate._adapter import PetabPypestoObjective

    x = np.array([1.5, -1.0])
    exact = objective(x, sensi=1)[1]

    class NanGradient(qp.PetabObjective):
        def value_and_gradient(self, x=None):
            f, g = super().value_and_gradient(x)
            g[0] = np.nan  # as a 0/0 in a symbolic derivative would give
            return f, g

    adapter = PetabPypestoObjective(NanGradient(objective.problem))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fval, grad = adapter(x, sensi_orders=(0, 1))
    assert fval == pytest.approx(objective(x), rel=1e-12)
    np.testing.assert_allclose(grad, exact, rtol=1e-5)
    assert adapter.n_calls["fd_fallback"] == 1


def test_fim_reaches_pypesto_as_the_hessian(objective):
    from qsp_sbml.calibrate._adapter import PetabPypestoObjective, pypesto_problem

    x = np.array([1.5, -1.0])
    value, grad, fim = objective(x, sensi=2)
    adapter = PetabPypestoObjective(objective, hess=True)
    assert adapter.has_hess and not PetabPypestoObjective(objective).has_hess
    fval, g, hess = adapter(x, sensi_orders=(0, 1, 2))
    assert fval == value
    np.testing.assert_allclose(g, grad, rtol=1e-12)
    np.testing.assert_allclose(hess, fim, rtol=1e-12)
    assert adapter.n_calls["fim"] == 1
    assert pypesto_problem(objective, hess=True).objective.has_hess


def test_nan_fim_entries_fall_back_to_differences_of_the_gradient(objective):
    from qsp_sbml.calibrate._adapter import PetabPypestoObjective

    x = np.array([1.5, -1.0])
    fim = objective(x, sensi=2)[2]
    h = 1e-5
    step = np.array([h, 0.0])
    column = (objective.gradient(x + step) - objective.gradient(x - step)) / (2 * h)

    class NanFim(qp.PetabObjective):
        def value_gradient_fim(self, x=None):
            f, g, m = super().value_gradient_fim(x)
            m[0, :] = m[:, 0] = np.nan  # as a NaN sensitivity of A0 would give
            return f, g, m

    adapter = PetabPypestoObjective(NanFim(objective.problem), hess=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hess = adapter(x, sensi_orders=(0, 1, 2))[2]
    np.testing.assert_allclose(hess[:, 0], column, rtol=1e-5)
    np.testing.assert_allclose(hess[0, :], column, rtol=1e-5)
    assert hess[1, 1] == pytest.approx(fim[1, 1], rel=1e-12)
    assert adapter.n_calls["fd_fallback"] == 1
