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


# --- psoriasis_ultimma -----------------------------------------------------------------------------

PSO = ROOT / "psoriasis_ultimma"
PSO_YAML = PSO / "psoriasis_ultimma.yaml"
#: llh at the nominal (start) parameters, measured with `qsp-sbml petab evaluate` (see its README).
PSO_LLH_NOMINAL = -370.1789654981974


def test_psoriasis_model_is_the_library_model():
    from qsp_sbml.library import psoriasis

    assert (PSO / "model.xml").read_text(encoding="utf-8") == psoriasis.build_psoriasis_risankizumab()


def test_psoriasis_measurements_are_the_observed_table():
    from qsp_sbml.library import psoriasis

    obs = psoriasis.observed()
    obs = obs[obs["trial"] == "UltIMMa-1"].sort_values(["dose_mg", "week"])
    meas = pd.read_csv(PSO / "measurements.tsv", sep="\t")
    np.testing.assert_array_equal(meas["measurement"], obs["PASI90"])
    np.testing.assert_allclose(meas["time"], obs["week"] * 168.0)
    np.testing.assert_allclose(meas["noiseParameters"], np.sqrt(obs["PASI90"] * (1 - obs["PASI90"]) / obs["n"]),
                               rtol=0, atol=1e-6)


def test_psoriasis_fit_improves_and_lands_on_the_module_values():
    from scipy.optimize import minimize

    from qsp_sbml.library.psoriasis import DISEASE_VALUES

    problem = qp.PetabProblem.from_yaml(PSO_YAML)
    objective = qp.PetabObjective(problem)
    x0 = problem.x_nominal
    f0 = objective(x0)
    best = None
    for start in (x0, x0 + np.array([0.3, -0.5, -0.1])):
        res = minimize(objective, start, method="Nelder-Mead", options={"maxfev": 400, "xatol": 1e-4, "fatol": 1e-6})
        best = res if best is None or res.fun < best.fun else best
    assert best.fun < f0 - 300  # 370.2 -> about -8.58
    fitted = dict(zip(problem.x_free_ids, 10.0 ** best.x, strict=True))
    for pid in ("k_T", "f_ind", "s_resp"):  # the module's nominal values came from this fit
        assert fitted[pid] == pytest.approx(DISEASE_VALUES[pid][0], rel=0.05)


# --- pbpk_pd_multidose (synthetic data from a composed PBPK-PD model) -------------------------------

MULTI = ROOT / "pbpk_pd_multidose"
MULTI_YAML = MULTI / "pbpk_pd_multidose.yaml"
#: llh at the nominal (= true) parameters, measured with `qsp-sbml petab evaluate` (see its README).
MULTI_LLH_NOMINAL = -280.4404498652874


def _multidose_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pbpk_pd_multidose_build", MULTI / "build_problem.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_multidose_problem_is_regenerated_by_its_script():
    build = _multidose_builder()
    model_sbml = build.build_model()
    assert (MULTI / "model.xml").read_text(encoding="utf-8") == model_sbml
    tables = {"conditions": build.conditions(), "measurements": build.measurements(build.simulate_truth(model_sbml)),
              "observables": build.observables(), "parameters": build.parameters()}
    for name, frame in tables.items():
        assert (MULTI / f"{name}.tsv").read_text(encoding="utf-8") == frame.to_csv(sep="\t", index=False), name
    # design: >= 3 arms, >= 5 days of q12h dosing, both observables in every arm
    meas = pd.read_csv(MULTI / "measurements.tsv", sep="\t")
    assert len(build.ARMS) >= 3 and len(build.DOSE_TIMES) == 10 and build.DOSE_TIMES[-1] == 108.0
    assert set(meas.groupby(["simulationConditionId", "observableId"]).size().index) == {
        (arm, obs) for arm in build.ARMS for obs in ("C_plasma", "HR_exercise")}
    assert not set(meas["time"]) & set(build.DOSE_TIMES)  # no output at a dose time


def test_multidose_events_equal_the_regimen_on_the_composed_model():
    # the PEtab objective (dose events in model.xml, dose from the condition table) vs Model.simulate on the
    # committed composed flat model with the same regimen applied by the simulator's timeline
    from qsp_sbml import load_model
    from qsp_sbml.interop.copasi import relative_difference
    from qsp_sbml.resources import project_models_dir

    problem = qp.PetabProblem.from_yaml(MULTI_YAML)
    sims = qp.PetabObjective(problem).evaluate(problem.x_nominal).simulations
    composed = load_model(project_models_dir() / "composed" / "pbpk_metoprolol_beta1_flat.xml")
    for arm, mg in (("q12h_050mg", 50), ("q12h_200mg", 200)):
        rows = sims[(sims["simulationConditionId"] == arm)]
        conc = rows[rows["observableId"] == "C_plasma"]
        hr = rows[rows["observableId"] == "HR_exercise"]
        ref = composed.simulate([0.0, *conc["time"]], selections=["pbpk__C_plasma", "pd__E"],
                                regimen=f"{mg} mg po q12h x 10 to pbpk__drug_gi_lumen", parameters={"pd__Emax": 0.3})
        assert relative_difference(conc["simulation"].to_numpy(), 1000 * ref["pbpk__C_plasma"].to_numpy()[1:]) <= 1e-6
        assert relative_difference(hr["simulation"].to_numpy(), 160 * (1 - ref["pd__E"].to_numpy()[1:])) <= 1e-6
        # the last dose (108 h) lands between the 107.5 h trough and the 108.5 h sample
        c = dict(zip(conc["time"], conc["simulation"], strict=True))
        assert c[108.5] > 20 * c[107.5]


@pytest.mark.slow
def test_multidose_fit_recovers_the_true_parameters():
    # synthetic data: L-BFGS-B (finite differences) from two starts a factor ~2 off in every parameter lands
    # within 15 % of the values the data were simulated with (measured: <= 6.4 %, sigma_HR)
    from scipy.optimize import minimize

    problem = qp.PetabProblem.from_yaml(MULTI_YAML)
    objective = qp.PetabObjective(problem)
    truth = problem.x_nominal
    best = None
    for offset in ([0.3, -0.3, 0.25, 0.3, -0.3], [-0.25, 0.3, -0.3, -0.2, 0.25]):
        res = minimize(objective, truth + np.array(offset), method="L-BFGS-B",
                       bounds=list(zip(problem.lb, problem.ub, strict=True)), options={"maxfun": 600})
        best = res if best is None or res.fun < best.fun else best
    assert best is not None and best.fun <= objective(truth) + 1e-6
    fitted = dict(zip(problem.x_free_ids, 10.0 ** best.x, strict=True))
    for pid, value in zip(problem.x_free_ids, 10.0 ** truth, strict=True):
        assert fitted[pid] == pytest.approx(value, rel=0.15), (pid, fitted)


# --- every shipped problem through the CLI ---------------------------------------------------------

@pytest.mark.parametrize(("yaml_path", "n_measurements", "llh"), [
    pytest.param(THEOPH_YAML, 132, THEOPH_LLH_NOMINAL, id="theophylline"),
    pytest.param(PSO_YAML, 3, PSO_LLH_NOMINAL, id="psoriasis_ultimma"),
    pytest.param(MULTI_YAML, 96, MULTI_LLH_NOMINAL, id="pbpk_pd_multidose"),
])
def test_cli_json_evaluates_each_shipped_problem_at_nominal(yaml_path, n_measurements, llh):
    result = CliRunner().invoke(main, ["petab", "evaluate", str(yaml_path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["n_measurements"] == n_measurements
    assert out["llh"] == pytest.approx(llh, rel=1e-6)
