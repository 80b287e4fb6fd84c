"""The PEtab problems the project ships under petab_problems/: lint, evaluate, data invariants, a short fit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("petab")

import qsp_sbml.petab as qp
from qsp_sbml.cli import main

ROOT = Path(__file__).resolve().parents[1] / "petab_problems"
PROBLEMS = sorted(p for p in ROOT.glob("*/*.yaml"))
THEOPH = ROOT / "theophylline"
THEOPH_YAML = THEOPH / "theophylline.yaml"
#: llh at the nominal parameters, measured with `qsp-sbml petab evaluate` (see its README).
THEOPH_LLH_NOMINAL = -316.0234569761247


def test_problems_are_found():
    assert THEOPH_YAML in PROBLEMS


@pytest.mark.parametrize("yaml_path", PROBLEMS, ids=lambda p: p.parent.name)
def test_problem_lints_clean(yaml_path):
    import petab.v1

    problem = petab.v1.Problem.from_yaml(yaml_path)
    assert petab.v1.lint_problem(problem) is False  # False means: no errors


@pytest.mark.parametrize("yaml_path", PROBLEMS, ids=lambda p: p.parent.name)
def test_problem_evaluates_to_finite_llh(yaml_path):
    problem = qp.PetabProblem.from_yaml(yaml_path)
    result = qp.PetabObjective(problem).evaluate(problem.x_nominal)
    assert math.isfinite(result.llh)
    assert result.n_measurements == problem.n_measurements > 0


# --- theophylline --------------------------------------------------------------------------------


def test_theophylline_data_invariants():
    source = pd.read_csv(THEOPH / "theoph_source.csv")
    measurements = pd.read_csv(THEOPH / "measurements.tsv", sep="\t")
    conditions = pd.read_csv(THEOPH / "conditions.tsv", sep="\t")
    assert len(source) == len(measurements) == 132
    assert source["Subject"].nunique() == len(conditions) == 12
    assert (source.groupby("Subject").size() == 11).all()
    first = source.iloc[0]
    assert (first["Subject"], first["Wt"], first["Dose"], first["Time"], first["conc"]) == (1, 79.6, 4.02, 0, 0.74)
    # measurements are the source values, unchanged and in the same order
    np.testing.assert_array_equal(measurements["time"], source["Time"])
    np.testing.assert_array_equal(measurements["measurement"], source["conc"])
    # the dose in mg is Dose (mg/kg) * Wt (kg)
    per_subject = source.groupby("Subject").first()
    np.testing.assert_allclose(conditions["A_gut"], per_subject["Dose"] * per_subject["Wt"], rtol=1e-9)
    assert (conditions["Vc"] == "V").all()


def test_theophylline_model_is_the_shipped_model():
    shipped = Path(qp.__file__).parents[1] / "resources" / "models" / "pk_one_compartment_oral.xml"
    assert (THEOPH / "model.xml").read_bytes() == shipped.read_bytes()


def _closed_form_nll(x: np.ndarray) -> float:
    """Negative llh from the Bateman function (F = 1), proportional + additive normal noise."""
    cl, v, ka, s_add, s_prop = 10.0 ** np.asarray(x)
    src = pd.read_csv(THEOPH / "theoph_source.csv")
    dose, t, y = src["Dose"] * src["Wt"], src["Time"].to_numpy(), src["conc"].to_numpy()
    ke = cl / v
    c = dose.to_numpy() * ka / (v * (ka - ke)) * (np.exp(-ke * t) - np.exp(-ka * t))
    sigma = np.sqrt(s_add**2 + (s_prop * c) ** 2)
    return float(np.sum(0.5 * np.log(2 * np.pi * sigma**2) + 0.5 * ((y - c) / sigma) ** 2))


def test_theophylline_objective_matches_closed_form():
    problem = qp.PetabProblem.from_yaml(THEOPH_YAML)
    assert problem.x_free_ids == ["CL", "V", "ka", "sigma_add", "sigma_prop"]
    objective = qp.PetabObjective(problem)
    x0 = problem.x_nominal
    assert -objective(x0) == pytest.approx(THEOPH_LLH_NOMINAL, rel=1e-6)
    # also away from the nominal point: V reaches the compartment Vc through the condition table
    for x in (x0, x0 + np.array([0.1, -0.2, 0.3, 0.1, -0.1])):
        assert objective(x) == pytest.approx(_closed_form_nll(x), rel=1e-6)


def test_theophylline_cli_json():
    result = CliRunner().invoke(main, ["petab", "evaluate", str(THEOPH_YAML), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["n_measurements"] == 132
    assert out["llh"] == pytest.approx(THEOPH_LLH_NOMINAL, rel=1e-6)


def test_theophylline_lbfgsb_improves_nll():
    from scipy.optimize import minimize

    problem = qp.PetabProblem.from_yaml(THEOPH_YAML)
    objective = qp.PetabObjective(problem)
    x0 = problem.x_nominal
    f0 = objective(x0)
    res = minimize(objective, x0, method="L-BFGS-B", bounds=list(zip(problem.lb, problem.ub, strict=True)),
                   options={"maxfun": 300})
    assert res.fun < f0 - 80  # 316.0 -> about 223.4
    fitted = dict(zip(problem.x_free_ids, 10.0 ** res.x, strict=True))
    # pooled (no between-subject variability) fit vs the model card's nlme values at 70 kg
    assert fitted["CL"] == pytest.approx(2.814, rel=0.2)
    assert fitted["V"] == pytest.approx(32.06, rel=0.2)
    assert fitted["ka"] == pytest.approx(1.571, rel=0.5)
