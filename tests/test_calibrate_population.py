"""Population-level calibration on a split file (issue 19): parameter recovery, simulation path, bad split files."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from qsp_sbml.calibrate._split_spec import read_split
from qsp_sbml.calibrate.population import PopulationProblem, fit_population, population_metrics, predict_arms
from qsp_sbml.cli.main import main
from qsp_sbml.errors import CalibrationError
from qsp_sbml.resources import project_models_dir

MODELS = project_models_dir()
SPLIT = MODELS / "disease" / "validation" / "psoriasis_split.yaml"
MODEL = MODELS / "disease" / "psoriasis_risankizumab.xml"
SOURCE = "synthetic arm simulated by the module itself (test)"


def _arm(aid: str, obs: list[dict], dose_mg: float = 150) -> dict:
    return {"id": aid, "trial": "synthetic", "drug": "risankizumab", "dose_mg": dose_mg, "dose_weeks": [0, 4, 16],
            "observations": obs, "source": SOURCE}


def _synthetic_split(tmp: Path, observations: list[dict], prediction: list[dict]) -> Path:
    base = yaml.safe_load(SPLIT.read_text())
    spec = {"module": "psoriasis", "model": str(MODEL), "model_time_per_week": 168, "dose_target": "mab_sc_depot",
            "fixed": {"dose_nmol": 0, "k_T": 0.01137, "E_placebo": 0.0}, "smoothing": 1.0,
            "drugs": {"risankizumab": base["drugs"]["risankizumab"]}, "endpoints": base["endpoints"]
            | {"improvement": {"output": "PASI_improvement", "kind": "mean"}},
            "individual": {"f_ind": {"distribution": "logitnormal", "typical": [0.05, 0.001, 0.5],
                                     "omega": [0.5, 0.05, 3.0]}},
            "calibration": [_arm("synthetic_fit", observations)],
            # another dose level: a prediction set must hold a drug or dose no calibration arm has
            "prediction": [_arm("synthetic_predict", prediction, dose_mg=75)]}
    path = tmp / "split.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.slow
def test_recovers_typical_value_and_variability_from_arm_data_simulated_by_the_module(tmp_path: Path) -> None:
    placeholder = [{"endpoint": "PASI90", "week": 16, "n": 100000, "responders": 1},
                   {"endpoint": "PASI75", "week": 24, "n": 100000, "responders": 1},
                   {"endpoint": "improvement", "week": 24, "n": 400, "mean": 50.0, "sd": 15.0}]
    pred = [{"endpoint": "PASI90", "week": 12, "n": 300, "responders": 1}]
    truth = {"f_ind.typical": 0.02, "f_ind.omega": 1.3}
    problem = PopulationProblem.from_file(_synthetic_split(tmp_path, placeholder, pred), n_patients=40, seed=3)
    x_true = np.array([np.log(0.02 / 0.98), np.log(1.3)])
    sims = problem.all_summaries(x_true)
    observed = [{**placeholder[0], "responders": int(round(sims[0] * 100000))},
                {**placeholder[1], "responders": int(round(sims[1] * 100000))},
                {**placeholder[2], "mean": float(sims[2])}]
    psim = problem.all_summaries(x_true, "prediction")
    pred = [{**pred[0], "responders": int(round(psim[0] * 300))}]
    problem = PopulationProblem.from_file(_synthetic_split(tmp_path, observed, pred), n_patients=40, seed=3)
    assert 0.2 < sims[0] < 0.95 and sims[1] > sims[0]  # informative data, not a degenerate 0/1
    fit = fit_population(problem, starts=2, seed=0, maxiter=40)
    est = problem.natural(fit.x)
    for name, value in truth.items():
        assert est[name] == pytest.approx(value, rel=0.05), (name, est)
    table = predict_arms(fit, draws=5, thin=2, seed=0)
    assert set(table["label"]) == {"fitted", "predicted"}
    metrics = population_metrics(table)
    assert metrics["predicted"]["points"] == 1 and metrics["predicted"]["max_abs_error"] < 0.02
    assert table["inside_pi"].all()


def test_a_virtual_patient_matches_model_simulate_with_the_same_regimen() -> None:
    from qsp_sbml.dosing import Dose, Regimen
    from qsp_sbml.loading import load_model

    problem = PopulationProblem.from_file(SPLIT, n_patients=10, seed=0)
    arm = next(a for a in problem.spec.prediction if a.drug == "tildrakizumab")
    values = problem.simulate_arm(arm, problem.x0)[:, :, problem.outputs.index("PASI_improvement")]
    patient = problem.patients(problem.x0).iloc[4].to_dict()
    drug = problem.spec.drugs["tildrakizumab"]
    nmol = drug.F * arm.dose_mg * 1e6 / drug.molecular_weight
    regimen = Regimen.of(*[Dose(amount=nmol, time=w * 168.0, route="sc", target="mab_sc_depot")
                           for w in arm.dose_weeks])
    params = {"dose_nmol": 0.0, "CL": 0.32 / 24, "Q": 0.0, "ka_sc": 0.462 / 24, "F_sc": 0.73, "central": 10.8,
              "peripheral": 1.0, **patient}
    frame = load_model(str(MODEL)).simulate(np.array([0.0, 12 * 168.0]), selections=["PASI_improvement"],
                                            parameters=params, regimen=regimen)
    assert values[4, 0] == pytest.approx(frame["PASI_improvement"].iloc[-1], rel=1e-3, abs=1e-3)
    assert values[4, 0] > 5.0  # the drug acts: the patient improves by week 12


def test_placebo_response_rises_from_zero_at_baseline() -> None:
    problem = PopulationProblem.from_file(SPLIT, n_patients=20, seed=0)
    arm = copy.deepcopy(problem.spec.calibration[0])
    assert arm.drug == "placebo"
    x = problem.x0.copy()
    x[problem.parameter_names.index("E_placebo.typical")] = np.log(0.3 / 0.7)
    at0 = problem.simulate_arm(arm.model_copy(update={"observations": [
        arm.observations[0].model_copy(update={"week": 1e-3})]}), x)
    at16 = problem.simulate_arm(arm, x)
    assert np.allclose(at0[:, 0, problem.outputs.index("PASI_improvement")], 0.0, atol=1e-4)
    assert np.all(at16[:, 0, problem.outputs.index("PASI_improvement")] > 0.1)


def _bad(tmp: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(SPLIT.read_text())
    data["model"] = str(MODEL)
    edit(data)
    path = tmp / "bad_split.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d["prediction"][0].update(id=d["calibration"][1]["id"]),
     ["line", "field prediction[0].id", "ultimma1_risankizumab150", "both the calibration and the prediction set"]),
    (lambda d: d["calibration"][2].pop("source"),
     ["line", "field calibration[2].source", "arm 'voyage1_placebo' cites no source"]),
    (lambda d: d["prediction"][3].update(source="  citation needed  "),
     ["line", "field prediction[3].source", "arm 'ultimma2_placebo' cites no source"]),
    (lambda d: d["calibration"][0].update(source="Gordon"),
     ["field calibration[0].source", "arm 'ultimma1_placebo' cites no source"]),
    (lambda d: d["drugs"]["guselkumab"].update(source=""),
     ["line", "field drugs.guselkumab.source", "drug 'guselkumab' cites no source"]),
    (lambda d: d["prediction"][4].update(trial="ultimma 1"),  # the same trial, spelt differently
     ["line", "field prediction[4].observations[0]", "arm 'ultimma2_risankizumab150'",
      "calibration arm 'ultimma1_risankizumab150'", "must not overlap the calibration set"]),
    (lambda d: d["prediction"][1].update(drug="secukinumab"), ["field prediction[1].drug", "secukinumab"]),
    (lambda d: d["calibration"][0]["observations"][0].update(responders=500),
     ["field calibration[0].observations[0]", "exceed n"]),
    (lambda d: d.update(prediction=[a for a in d["prediction"] if a["drug"] != "tildrakizumab"]),
     ["line", "field prediction:", "every prediction arm has a drug and dose that a calibration arm has",
      "'resurface1_placebo' (placebo, as calibration arm 'ultimma1_placebo')",
      "'ultimma2_risankizumab150' (risankizumab 150 mg, as calibration arm 'ultimma1_risankizumab150')",
      "at least one drug or dose level that no calibration arm has"]),
])
def test_bad_split_file_exits_1_naming_file_line_field_and_writes_nothing(tmp_path: Path, edit, expected) -> None:  # type: ignore[no-untyped-def]
    path = _bad(tmp_path, edit)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["disease", "calibrate", str(path), "--out", str(out)])
    assert result.exit_code == 1, result.output
    message = result.output
    assert "bad_split.yaml" in message
    for text in expected:
        assert text in message, (text, message)
    assert not out.exists()
    with pytest.raises(CalibrationError):
        read_split(path)


def _prediction_only(tmp: Path, drug: str, dose_mg: float, dose_weeks: list[float]) -> Path:
    """The shipped split with one prediction arm: the UltIMMa-2 risankizumab arm with another drug, dose or weeks."""
    def edit(d: dict) -> None:
        arm = next(a for a in d["prediction"] if a["id"] == "ultimma2_risankizumab150")
        d["prediction"] = [{**arm, "drug": drug, "dose_mg": dose_mg, "dose_weeks": dose_weeks}]
    return _bad(tmp, edit)


def test_a_new_dose_level_of_a_fitted_drug_is_a_prediction_set(tmp_path: Path) -> None:
    spec, _ = read_split(_prediction_only(tmp_path, "risankizumab", 75, [0, 4, 16, 28, 40]))
    assert [(a.drug, a.dose_mg) for a in spec.prediction] == [("risankizumab", 75.0)]


@pytest.mark.parametrize(("drug", "dose", "weeks"), [("risankizumab", 150, [0, 4, 16, 28, 40]),
                                                     ("risankizumab", 150, [0, 12]),  # another schedule only
                                                     ("guselkumab", 100, [0, 4, 12])])
def test_a_prediction_set_with_only_fitted_drugs_and_doses_is_refused(tmp_path: Path, drug: str, dose: float,
                                                                      weeks: list[float]) -> None:
    with pytest.raises(CalibrationError, match=r"field prediction: every prediction arm has a drug and dose that a "
                                               r"calibration arm has: 'ultimma2_risankizumab150' \(") as err:
        read_split(_prediction_only(tmp_path, drug, dose, weeks))
    assert "bad_split.yaml" in str(err.value) and "no calibration arm has" in str(err.value)


def test_a_replicate_trial_of_the_same_design_is_not_an_overlap() -> None:
    spec, _ = read_split(SPLIT)  # UltIMMa-2 repeats UltIMMa-1's drug, dose, endpoint and visits: another trial
    pred = {(a.trial, a.drug, a.dose_mg) for a in spec.prediction}
    assert ("UltIMMa-2", "risankizumab", 150.0) in pred


def test_the_format_page_example_reads_as_a_split(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "formats" / "split-file.md").read_text(encoding="utf-8")
    block = page[page.index("```yaml\n") + len("```yaml\n"):page.rindex("```")]
    path = tmp_path / "split.yaml"
    path.write_text(block.replace("model: ../psoriasis_risankizumab.xml", f"model: {MODEL}"), encoding="utf-8")
    spec, _ = read_split(path)
    assert {(a.drug, a.dose_mg) for a in spec.prediction} - {(a.drug, a.dose_mg) for a in spec.calibration}
