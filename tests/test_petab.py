"""Unit tests of qsp_sbml.petab on hand-computed values and tiny inline problems."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import qsp_sbml as qs

pytest.importorskip("petab")

import qsp_sbml.petab as qp

LN10 = math.log(10.0)

# --- llh formulas against hand-computed values ---------------------------------------------------
# m=2, y=1.5, sigma=0.4 -------------------------------------------------------------------------
M, Y, S = 2.0, 1.5, 0.4
HAND = {
    ("normal", "lin"): -(0.5 * math.log(2 * math.pi * S**2) + 0.5 * ((Y - M) / S) ** 2),
    ("normal", "log"): -(0.5 * math.log(2 * math.pi * S**2 * M**2) + 0.5 * ((math.log(Y) - math.log(M)) / S) ** 2),
    ("normal", "log10"): -(0.5 * math.log(2 * math.pi * S**2 * M**2 * LN10**2)
                           + 0.5 * ((math.log10(Y) - math.log10(M)) / S) ** 2),
    ("laplace", "lin"): -(math.log(2 * S) + abs(Y - M) / S),
    ("laplace", "log"): -(math.log(2 * S * M) + abs(math.log(Y) - math.log(M)) / S),
    ("laplace", "log10"): -(math.log(2 * S * M * LN10) + abs(math.log10(Y) - math.log10(M)) / S),
}


@pytest.mark.parametrize(("distribution", "transformation"), sorted(HAND))
def test_llh_matches_hand_computed_value(distribution, transformation):
    value = float(qp.log_likelihood(M, Y, S, distribution=distribution, transformation=transformation)[()])
    assert value == pytest.approx(HAND[distribution, transformation], rel=1e-12)


def test_llh_normal_lin_numbers():
    # -0.5*log(2*pi*0.25) - 0.5*(1/0.5)**2 = -0.2257913526 - 2
    assert float(qp.log_likelihood(1.0, 2.0, 0.5)[()]) == pytest.approx(-2.2257913526447273, rel=1e-12)


def test_log_scale_jacobian_makes_a_density_of_the_measurement():
    # integrating the log-normal likelihood over m (y fixed) must give 1
    m = np.linspace(1e-4, 60.0, 400_001)
    dens = np.exp(qp.log_likelihood(m, 3.0, 0.5, transformation="log"))
    assert np.trapezoid(dens, m) == pytest.approx(1.0, abs=1e-4)


def test_residuals_and_chi2():
    r = qp.residuals([2.0, 100.0], [1.0, 10.0], [0.5, 1.0], transformation="log10")
    np.testing.assert_allclose(r, [math.log10(2.0) / 0.5, 1.0])
    assert qp.chi2(np.array([3.0, 4.0])) == 25.0


# --- tiny inline problems ------------------------------------------------------------------------
#: dA/dt = -k*A + s, A(0) = A0 (plus Atot = 2*A, an assignment-rule target the bad-input tests use).
MODEL = (Path(__file__).parent / "fixtures" / "petab_decay.xml").read_text(encoding="utf-8")


def _write(folder: Path, *, parameters: str, measurements: str, conditions: str = "conditionId\nc0\n",
           observables: str = "observableId\tobservableFormula\tnoiseFormula\nobs\tA\t0.1\n") -> Path:
    (folder / "model.xml").write_text(MODEL)
    (folder / "parameters.tsv").write_text(parameters)
    (folder / "measurements.tsv").write_text(measurements)
    (folder / "conditions.tsv").write_text(conditions)
    (folder / "observables.tsv").write_text(observables)
    (folder / "problem.yaml").write_text(
        "format_version: 1\nparameter_file: parameters.tsv\nproblems:\n- condition_files: [conditions.tsv]\n"
        "  measurement_files: [measurements.tsv]\n  observable_files: [observables.tsv]\n"
        "  sbml_files: [model.xml]\n")
    return folder / "problem.yaml"


PARS = "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\n"


def _objective(path: Path) -> qp.PetabObjective:
    return qp.PetabObjective(qp.PetabProblem.from_yaml(path, guard=False))


def test_fixed_log_scaled_parameter_is_applied_on_the_linear_scale(tmp_path):
    # k is fixed and log10-scaled with nominal 0.5: the model must see k=0.5 (pyPESTO wrote log10(0.5))
    path = _write(tmp_path, parameters=PARS + "k\tlog10\t0.01\t10\t0.5\t0\nA0\tlog10\t0.01\t10\t2\t1\n",
                  measurements="observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\t2\t0\n")
    objective = _objective(path)
    np.testing.assert_allclose(objective.x_nominal, [math.log10(2.0)])
    sim = objective.evaluate().simulations["simulation"].iloc[0]
    assert sim == pytest.approx(2.0 * math.exp(-0.5 * 2.0), rel=1e-6)


def test_estimated_parameters_are_unscaled(tmp_path):
    path = _write(tmp_path, parameters=PARS + "k\tlog\t0.01\t10\t0.5\t1\nA0\tlin\t0\t10\t1\t0\n",
                  measurements="observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\t1\t0\n")
    objective = _objective(path)
    sim = objective.evaluate(np.array([math.log(2.0)])).simulations["simulation"].iloc[0]
    assert sim == pytest.approx(math.exp(-2.0), rel=1e-6)


def test_unsorted_measurement_table_pairs_rows_with_their_conditions(tmp_path):
    conditions = "conditionId\tA0\nlow\t1\nhigh\t10\n"
    meas = ("observableId\tsimulationConditionId\ttime\tmeasurement\n"
            "obs\thigh\t1\t0\nobs\tlow\t2\t0\nobs\thigh\t0\t0\nobs\tlow\t1\t0\nobs\thigh\t2\t0\n")
    path = _write(tmp_path, parameters=PARS + "k\tlin\t0\t10\t1\t0\n", measurements=meas, conditions=conditions)
    sims = _objective(path).evaluate().simulations
    a0 = sims["simulationConditionId"].map({"low": 1.0, "high": 10.0})
    np.testing.assert_allclose(sims["simulation"], a0 * np.exp(-sims["time"]), rtol=1e-6)


def test_replicates_at_t0_and_steady_state(tmp_path):
    # dA/dt = -k*A + s: A(inf) = s/k; replicates at t=0 and at inf
    meas = ("observableId\tsimulationConditionId\ttime\tmeasurement\n"
            "obs\tc0\t0\t1.1\nobs\tc0\t0\t0.9\nobs\tc0\tinf\t3\nobs\tc0\t1\t1\nobs\tc0\tinf\t3.2\n")
    path = _write(tmp_path, parameters=PARS + "k\tlin\t0\t10\t0.5\t0\ns\tlin\t0\t10\t1.5\t0\n", measurements=meas)
    for method in ("auto", "simulate"):
        problem = qp.PetabProblem.from_yaml(path, guard=False)
        options = qp.ObjectiveOptions(steady_state=qp.SteadyStateOptions(method=method))
        result = qp.PetabObjective(problem, options=options).evaluate()
        a1 = 3.0 + (1.0 - 3.0) * math.exp(-0.5)
        np.testing.assert_allclose(result.simulations["simulation"], [1.0, 1.0, 3.0, a1, 3.0], rtol=1e-6)
        expected = sum(qp.log_likelihood(m, y, 0.1)[()] for m, y in
                       [(1.1, 1), (0.9, 1), (3, 3), (1, a1), (3.2, 3)])
        assert result.llh == pytest.approx(float(expected), rel=1e-6)


def test_time_point_specific_overrides_within_one_condition(tmp_path):
    observables = "observableId\tobservableFormula\tnoiseFormula\nobs\tobservableParameter1_obs * A\t0.1\n"
    meas = ("observableId\tsimulationConditionId\ttime\tmeasurement\tobservableParameters\n"
            "obs\tc0\t1\t0\t2\nobs\tc0\t1\t0\tscale\n")
    path = _write(tmp_path, parameters=PARS + "k\tlin\t0\t10\t1\t0\nscale\tlin\t0\t10\t5\t0\n",
                  measurements=meas, observables=observables)
    sims = _objective(path).evaluate().simulations["simulation"].to_numpy()
    np.testing.assert_allclose(sims, [2 * math.exp(-1), 5 * math.exp(-1)], rtol=1e-6)


def test_priors_are_added_only_when_asked(tmp_path):
    pars = ("parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\tobjectivePriorType\t"
            "objectivePriorParameters\nk\tlin\t0\t10\t1\t1\tnormal\t1;2\n")
    path = _write(tmp_path, parameters=pars, measurements="observableId\tsimulationConditionId\ttime\tmeasurement\n"
                  "obs\tc0\t1\t0.3\n")
    problem = qp.PetabProblem.from_yaml(path, guard=False)
    plain = qp.PetabObjective(problem)
    with_prior = qp.PetabObjective(problem, options=qp.ObjectiveOptions(priors=True))
    log_prior = -0.5 * math.log(2 * math.pi * 4.0)  # normal(1, 2) at its mean, truncated to [0, 10]
    truncation = math.log(0.5 * (math.erf(9 / (2 * math.sqrt(2))) - math.erf(-1 / (2 * math.sqrt(2)))))
    assert with_prior(np.array([1.0])) - plain(np.array([1.0])) == pytest.approx(-(log_prior - truncation), rel=1e-9)


@pytest.mark.parametrize(
    ("measurements", "message"),
    [
        ("observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\t1\t0\nnope\tc0\t1\t0\n",
         "measurement table, row 2 (line 3), column 'observableId': observable 'nope' is not in the observable table"),
        ("observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\t-1\t0\n",
         "measurement table, row 1 (line 2), column 'time'"),
        ("observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc9\t1\t0\n",
         "measurement table, row 1 (line 2), column 'simulationConditionId'"),
    ],
)
def test_bad_measurement_tables_name_table_row_and_column(tmp_path, measurements, message):
    path = _write(tmp_path, parameters=PARS + "k\tlin\t0\t10\t1\t0\n", measurements=measurements)
    with pytest.raises(qs.PetabError, match=re.escape(message)):
        qp.PetabProblem.from_yaml(path, guard=False)


def test_log_observable_with_non_positive_measurement_is_refused(tmp_path):
    observables = ("observableId\tobservableFormula\tnoiseFormula\tobservableTransformation\n"
                   "obs\tA\t0.1\tlog\n")
    path = _write(tmp_path, parameters=PARS + "k\tlin\t0\t10\t1\t0\n", observables=observables,
                  measurements="observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\t1\t0\n")
    with pytest.raises(qs.PetabError, match=r"row 1 \(line 2\), column 'measurement'.*not positive"):
        qp.PetabProblem.from_yaml(path, guard=False)


def test_non_positive_noise_is_an_error_naming_the_row(tmp_path):
    observables = "observableId\tobservableFormula\tnoiseFormula\nobs\tA\tnoiseParameter1_obs\n"
    meas = ("observableId\tsimulationConditionId\ttime\tmeasurement\tnoiseParameters\n"
            "obs\tc0\t1\t0\t0.1\nobs\tc0\t2\t0\t0\n")
    path = _write(tmp_path, parameters=PARS + "k\tlin\t0\t10\t1\t0\n", observables=observables, measurements=meas)
    with pytest.raises(qs.PetabError, match="measurement table, row 2.*must be positive"):
        _objective(path).evaluate()


def test_unknown_noise_distribution_is_refused(tmp_path):
    observables = "observableId\tobservableFormula\tnoiseFormula\tnoiseDistribution\nobs\tA\t0.1\tcauchy\n"
    path = _write(tmp_path, parameters=PARS + "k\tlin\t0\t10\t1\t0\n", observables=observables,
                  measurements="observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\t1\t0\n")
    with pytest.raises((qs.PetabError, ValueError), match="(?i)noise"):
        qp.PetabProblem.from_yaml(path, guard=False)


def test_nominal_value_outside_bounds_warns_with_location(tmp_path):
    path = _write(tmp_path, parameters=PARS + "k\tlin\t1\t10\t0.5\t1\n",
                  measurements="observableId\tsimulationConditionId\ttime\tmeasurement\nobs\tc0\t1\t0\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        qp.PetabProblem.from_yaml(path, guard=False)
    where = "parameters.tsv: parameter table, row 1 (line 2), column 'nominalValue'"
    assert any(where in str(w.message) for w in caught)
