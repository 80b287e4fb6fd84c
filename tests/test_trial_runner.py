"""Trial designs as data, simulated arms, the runner and ``qsp-sbml trial``."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from qsp_sbml.cli import main
from qsp_sbml.engine import ProcessEngine, SerialEngine
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial.design import read_design, validate_parallel
from qsp_sbml.trial.runner import KINDS, load_design, run_trial
from qsp_sbml.trial.simulate import endpoint_table, simulate_trials

ROOT = Path(__file__).resolve().parents[1]
LIVER = ROOT / "models" / "disease" / "liver_autoimmune.xml"
PSORIASIS = ROOT / "models" / "composed" / "mab_psoriasis_flat.xml"

BASE: dict[str, Any] = {
    "kind": "trial",
    "model": str(LIVER),
    "time_unit": "week",
    "duration": 8,
    "visits": [0, 4, 8],
    "n": 20,
    "allocation": [1, 1],
    "arms": [{"id": "placebo", "regimen": "placebo"},
             {"id": "active", "regimen": "none", "parameters": {"E_drug": 0.5}}],
    "population": {"parameters": {"q_ALT": 741}, "iiv": {"cv": {"q_ALT": 0.8}},
                   "derived": {"ALT": "ALT_0 + q_ALT"}},
    "inclusion": [{"baseline": "ALT", "min": 60}],
    "measurement_error": {"ALT": {"proportional": 0.1}},
    "dropout": {"hazard": 0.01},
    "endpoints": [{"id": "alt_change", "output": "ALT", "type": "change", "time": 8,
                   "analysis": {"test": "ancova", "control": "placebo"}},
                  {"id": "alt_normal", "output": "ALT", "type": "responder", "of": "value", "threshold": 300,
                   "time": 8, "analysis": {"test": "chi2", "control": "placebo", "missing": "nonresponder"}}],
    "replicates": 3,
    "sample_size": {"n": [10, 20]},
}


def _write(tmp_path: Path, spec: dict[str, Any], name: str = "design.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _validate(path: Path) -> Any:
    return validate_parallel(read_design(path), source=path)


def test_design_loads_with_defaults(tmp_path: Path) -> None:
    design = _validate(_write(tmp_path, BASE))
    assert design.visits == (0.0, 4.0, 8.0)
    assert design.allocation == (0.5, 0.5)
    assert design.arms[0].regimen is None and design.arms[1].parameters == {"E_drug": 0.5}
    assert design.hours == 168.0 and design.primary == "alt_change"
    assert design.outputs == ["ALT"]


def _bad(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(BASE)
    for path, value in changes.items():
        keys = path.split("__")
        node: Any = spec
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return spec


_DELETE = object()

BAD_INPUT = [
    # unknown model id in an endpoint
    ({"endpoints__0__output": "ALTT"}, "endpoints[0].output", "did you mean 'ALT'"),
    # an arm without a regimen
    ({"arms__1__regimen": _DELETE}, "arms[1].regimen", "has no regimen"),
    # allocation ratios that do not sum
    ({"allocation": [0.5, 0.6]}, "allocation", "sum to 1.1"),
    ({"allocation": [1, 2]}, "allocation", "multiple of 3"),
    # a visit after the end of the trial
    ({"visits": [0, 4, 8, 10]}, "visits[3]", "after the end of the trial"),
    # an analysis that does not fit the endpoint type
    ({"endpoints__1__analysis__test": "ancova"}, "endpoints[1].analysis.test", "does not fit a responder"),
    ({"endpoints__0__analysis__test": "logrank"}, "endpoints[0].analysis.test", "does not fit a change"),
    # more: unknown keys, bad regimen text, unknown parameter, endpoint time after the end
    ({"arms__1__regimen": "150 zz sc at 0 wk"}, "arms[1].regimen", "not a valid regimen"),
    ({"arms__1__parameters": {"E_drugg": 0.5}}, "arms[1].parameters.E_drugg", "no parameter"),
    ({"endpoints__0__time": 9}, "endpoints[0].time", "after the end"),
    ({"dropuot": {"hazard": 0.1}}, "dropuot", "unknown field"),
]


@pytest.mark.parametrize(("changes", "field", "text"), BAD_INPUT)
def test_bad_design_names_the_field(tmp_path: Path, changes: dict[str, Any], field: str, text: str) -> None:
    path = _write(tmp_path, _bad(**changes))
    with pytest.raises(TrialDesignError) as info:
        _validate(path)
    assert info.value.field == field
    assert text in str(info.value)
    assert str(path) in str(info.value) and ", line " in str(info.value)


@pytest.mark.parametrize(("changes", "field", "text"), BAD_INPUT[:6])
def test_cli_bad_design_exits_1_and_writes_nothing(tmp_path: Path, changes: dict[str, Any], field: str,
                                                    text: str) -> None:
    path = _write(tmp_path, _bad(**changes))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["trial", str(path), "--seed", "1", "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert field in res.output and "Traceback" not in res.output
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["design.yaml"]  # no temp folder left behind
    res = CliRunner().invoke(main, ["trial", str(path), "--seed", "1", "--out", str(out), "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["ok"] is False


def test_unknown_trial_type(tmp_path: Path) -> None:
    path = _write(tmp_path, {**BASE, "type": "crossover_adaptive"})
    with pytest.raises(TrialDesignError, match="unknown trial type") as info:
        load_design(path)
    assert info.value.field == "type"


def test_same_seed_same_summary_any_engine(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE)
    run_trial(path, seed=11, out=tmp_path / "serial", engine=SerialEngine())
    run_trial(path, seed=11, out=tmp_path / "process", engine=ProcessEngine(2))
    a = (tmp_path / "serial" / "summary.json").read_bytes()
    assert a == (tmp_path / "process" / "summary.json").read_bytes()
    run_trial(path, seed=12, out=tmp_path / "other")
    assert a != (tmp_path / "other" / "summary.json").read_bytes()
    summary = json.loads(a)
    comp = summary["populations"]["broad"]["comparisons"][0]
    assert comp["endpoint"] == "alt_change" and comp["ci_low"] < comp["estimate"] < comp["ci_high"]
    assert 0.0 <= comp["power"] <= 1.0
    assert [r["n"] for r in summary["populations"]["broad"]["power_curve"]][:2] == [10, 20]
    report = (tmp_path / "serial" / "report.md").read_text(encoding="utf-8")
    for png in ("power_curve.png", "forest.png", "vpc.png", "spaghetti.png"):
        assert f"]({png})" in report and (tmp_path / "serial" / png).stat().st_size > 1000


def test_batch_size_and_engine_do_not_change_trials(tmp_path: Path) -> None:
    design = _validate(_write(tmp_path, BASE))
    a = simulate_trials(design, seed=5, batch_size=64)
    b = simulate_trials(design, seed=5, batch_size=3)
    np.testing.assert_array_equal(a.observed, b.observed)
    assert a.subjects.equals(b.subjects)
    # nested sample sizes: the trial of n = 10 is the first 10 randomised subjects, 5 per arm (blocks of 2)
    first = a.subjects[(a.subjects["replicate"] == 0) & (a.subjects["order"] < 10)]
    assert first["arm"].value_counts().to_dict() == {"placebo": 5, "active": 5}
    # inclusion applied on the simulated baseline
    assert (a.true[:, 0, 0] >= 60).all()


def test_existing_output_refused_then_replaced_with_force(tmp_path: Path) -> None:
    path = _write(tmp_path, {**BASE, "replicates": 1, "sample_size": {}})
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("x")
    res = CliRunner().invoke(main, ["trial", str(path), "--seed", "1", "--out", str(out)])
    assert res.exit_code == 1 and "--force" in res.output
    assert (out / "old.txt").exists()
    res = CliRunner().invoke(main, ["trial", str(path), "--seed", "1", "--out", str(out), "--force"])
    assert res.exit_code == 0, res.output
    assert not (out / "old.txt").exists() and (out / "summary.json").exists()
    assert "wrote" in res.output and "alt_change active vs placebo" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["design.yaml", "out"]


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE)
    res = CliRunner().invoke(main, ["trial", str(path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2  # --seed missing
    res = CliRunner().invoke(main, ["trial", str(path), "--seed", "1", "--out", str(tmp_path / "o"),
                                    "--engine", "many"])
    assert res.exit_code == 2 and not (tmp_path / "o").exists()
    res = CliRunner().invoke(main, ["trial", "--help"])
    assert res.exit_code == 0 and "Example" in res.output


def test_responder_rates_match_the_models_latent_variable_formula(tmp_path: Path) -> None:
    """PASI75 rates of simulated subjects vs the psoriasis module's own responder formula.

    The module defines P(PASI75) = 1 / (1 + exp((ln(PASI/PASI0) - ln 0.25) / s_resp)) (models/disease/psoriasis.md);
    the trial draws a logistic deviation of log PASI per subject with the same scale. The observed rate per arm must
    match the mean of that probability over the arm's subjects within 3 Monte Carlo standard errors.
    """
    spec = {
        "model": str(PSORIASIS), "time_unit": "week", "duration": 12, "visits": [0, 12], "n": 600,
        "arms": [{"id": "placebo", "regimen": "placebo"},
                 {"id": "low", "regimen": "60 nmol sc at 0 wk to pk__mab_sc_depot"}],
        "population": {"iiv": {"cv": {"pk__CL": 0.5}}},
        "response_variability": {"disease__PASI": {"distribution": "logistic", "scale": 0.7723}},
        "endpoints": [{"id": "pasi75", "output": "disease__PASI", "type": "responder", "threshold": -75, "time": 12,
                       "analysis": {"test": "chi2"}}],
        "replicates": 1,
    }
    design = _validate(_write(tmp_path, spec))
    trials = simulate_trials(design, seed=3)
    table = endpoint_table(trials, design.endpoints[0])
    ratio = trials.true[:, 1, 0] / trials.true[:, 0, 0]
    expected = 1.0 / (1.0 + np.exp((np.log(ratio) - math.log(0.25)) / 0.7723))
    for arm in ("placebo", "low"):
        m = (table["arm"] == arm).to_numpy()
        p = expected[m].mean()
        se = math.sqrt(p * (1 - p) / m.sum())
        assert abs(table.loc[m, "y"].mean() - p) < 3 * se, (arm, table.loc[m, "y"].mean(), p)
    assert expected[table["arm"] == "placebo"].mean() == pytest.approx(1 / (1 + math.exp(math.log(4) / 0.7723)))


SCENARIOS = sorted((ROOT / "trials").glob("*.yaml"))
#: Quick versions of the scenarios of the other kinds (fewer subjects / proposals; everything else as shipped).
QUICK = {"bioequivalence": {"n": 24}, "n_of_1": {"posterior": {"n_proposals": 60, "n_sample": 30, "starts": 1}}}


def _quick_copy(scenario: Path, tmp_path: Path) -> Path:
    """The scenario with the QUICK sizes, its relative paths made absolute (the copy lives elsewhere)."""
    spec = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    for key in ("model", "patient"):
        if isinstance(spec.get(key), str):
            spec[key] = str((scenario.parent / spec[key]).resolve())
    pop = spec.get("population")
    if isinstance(pop, dict) and str(pop.get("drug", "")).endswith(".yaml"):  # a drug record given by path
        pop["drug"] = str((scenario.parent / pop["drug"]).resolve())
    for key, value in QUICK[spec["type"]].items():
        spec[key] = {**spec[key], **value} if isinstance(value, dict) else value
    path = tmp_path / scenario.name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_runs(tmp_path: Path, scenario: Path) -> None:
    kind = yaml.safe_load(scenario.read_text(encoding="utf-8")).get("type", "parallel")
    path = scenario if kind == "parallel" else _quick_copy(scenario, tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["trial", str(path), "--seed", "1", "--out", str(out),
                                    "--max-replicates", "2", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary == json.loads(res.output)["summary"]
    report = (out / "report.md").read_text(encoding="utf-8")
    if kind != "parallel":
        assert summary["type"] == kind and report.startswith("# ")
        assert any(p.suffix == ".png" for p in out.iterdir())
        screen = CliRunner().invoke(main, ["trial", str(path), "--seed", "1", "--out", str(tmp_path / "again")])
        assert screen.exit_code == 0 and f"({kind})" in screen.output, screen.output
        return
    assert summary["design"]["replicates"] == 2
    assert report.startswith("# Virtual trial")
    for entry in summary["populations"].values():
        assert all(c["power"] is not None for c in entry["comparisons"])


def test_posterior_stratification_exposure_and_time_to_event(tmp_path: Path) -> None:
    """Probability of success from posterior draws, stratified randomisation, Cmax and time-to-event endpoints."""
    draws = tmp_path / "draws.tsv"
    draws.write_text("pk__CL\n0.008\n0.010\n0.012\n0.02\n", encoding="utf-8")
    spec = {
        "model": str(PSORIASIS), "time_unit": "week", "duration": 12, "visits": [0, 1, 2, 4, 8, 12], "n": 40,
        "arms": [{"id": "low", "regimen": "60 nmol sc at 0 wk to pk__mab_sc_depot"},
                 {"id": "high", "regimen": "600 nmol sc at 0 wk to pk__mab_sc_depot"}],
        "population": {"parameters": {"disease__PASI0": 20}, "iiv": {"cv": {"disease__PASI0": 0.3, "pk__CL": 0.3}},
                       "posterior": {"file": "draws.tsv"}},
        "stratification": [{"baseline": "disease__PASI", "cuts": [20]}],
        "response_variability": {"disease__PASI": {"distribution": "logistic", "scale": 0.7723}},
        "endpoints": [
            {"id": "cmax", "output": "pk_C_free", "type": "cmax", "time": 12, "analysis": {"test": "t_test"}},
            {"id": "tt_pasi50", "output": "disease__PASI", "type": "time_to_event", "threshold": -50, "time": 12,
             "analysis": {"test": "logrank"}}],
        "replicates": 3,
    }
    path = _write(tmp_path, spec)
    design = _validate(path)
    trials = simulate_trials(design, seed=2)
    assert trials.modes == ["conditional", "posterior"]
    # stratified permuted blocks of 2: within each stratum, arms differ by at most one
    for (_mode, _rep), grp in trials.subjects.groupby(["mode", "replicate"]):
        for _s, g in grp.groupby("stratum"):
            counts = g["arm"].value_counts()
            assert abs(counts.get("low", 0) - counts.get("high", 0)) <= 1
    cmax = endpoint_table(trials, design.endpoints[0])
    # log Cmax of the observed profile: 10 x the dose gives 10 x the concentrations (linear PK, same subjects' law)
    diff = cmax.groupby("arm")["y"].mean()
    assert diff["high"] - diff["low"] == pytest.approx(math.log(10), abs=0.3)
    tte = endpoint_table(trials, design.endpoints[1])
    assert set(tte["event"]) <= {0, 1} and (tte["time"] > 0).all()
    summary = run_trial(path, seed=2, out=tmp_path / "out")
    comps = summary["populations"]["broad"]["comparisons"]
    assert comps[0]["estimand"] == "difference in means" and comps[1]["estimand"] == "hazard ratio"
    assert all(c["probability_of_success"] is not None for c in comps)


def test_population_from_cohort_file_and_preset_with_covariate_criteria(tmp_path: Path) -> None:
    import pandas as pd

    from qsp_sbml.population import Cohort

    Cohort.from_parts(parameters=pd.DataFrame({"q_ALT": [100.0, 300.0, 900.0, 2000.0]}), seed=1).to_parquet(
        tmp_path / "subjects.parquet")
    spec = {**BASE, "population": {"cohort": "subjects.parquet", "derived": {"ALT": "ALT_0 + q_ALT"}},
            "inclusion": [{"baseline": "ALT", "min": 200}], "replicates": 2, "sample_size": {}}
    design = _validate(_write(tmp_path, spec))
    trials = simulate_trials(design, seed=1)
    assert set(np.round(trials.true[:, 0, 0])) <= {316.0, 916.0, 2016.0}  # 100 + 16 excluded by ALT >= 200
    spec = {**BASE, "population": {"preset": "healthy_adults", "parameters": {"q_ALT": 741}},
            "inclusion": [{"covariate": "age", "min": 40, "max": 60}], "replicates": 1, "sample_size": {}}
    trials = simulate_trials(_validate(_write(tmp_path, spec, "preset.yaml")), seed=1)
    assert trials.subjects["age"].between(40, 60).all() and len(trials.subjects) == 20
    bad = {**spec, "population": {"preset": "martians"}}
    with pytest.raises(TrialDesignError, match="unknown preset") as info:
        _validate(_write(tmp_path, bad, "bad.yaml"))
    assert info.value.field == "population.preset"


def test_runner_dispatches_on_type_through_the_kind_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind module provides validate, simulate, analyse and report (the TrialKind protocol)."""
    import sys
    import types

    from qsp_sbml.trial import TrialKind, TrialResult, runner

    calls: dict[str, Any] = {}
    fake = types.ModuleType("fake_trial_kind")

    def validate(doc: Any, *, source: Path) -> Any:
        if "subjects" not in doc.data:
            raise TrialDesignError("is required", field="subjects")
        return dict(doc.data)

    def simulate(design: Any, *, seed: int, engine: Any, max_replicates: int | None = None) -> Any:
        calls["max_replicates"] = max_replicates
        return {"draw": seed * 10}

    def analyse(design: Any, simulation: Any, *, seed: int) -> dict[str, Any]:
        return {"design": {"type": "fake", "seed": seed}, "value": float("nan"), "draw": simulation["draw"]}

    def report(design: Any, simulation: Any, summary: Any, out: Path) -> str:
        calls["out"] = out
        (out / "plot.png").write_bytes(b"\x89PNG")
        return "# fake report\n"

    fake.validate, fake.simulate, fake.analyse, fake.report = validate, simulate, analyse, report  # type: ignore[attr-defined]
    assert isinstance(fake, TrialKind)
    monkeypatch.setitem(sys.modules, "fake_trial_kind", fake)
    monkeypatch.setitem(runner.KINDS, "fake", "fake_trial_kind")
    bad = _write(tmp_path, {"type": "fake"}, "bad.yaml")
    with pytest.raises(TrialDesignError, match="subjects"):
        run_trial(bad, seed=1, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    good = _write(tmp_path, {"type": "fake", "subjects": 3}, "good.yaml")
    summary = run_trial(good, seed=4, out=tmp_path / "out", max_replicates=2)
    assert calls["max_replicates"] == 2 and summary["draw"] == 40
    assert calls["out"].parent == tmp_path and calls["out"] != tmp_path / "out"  # built next to out, then renamed
    assert summary["files"] == ["plot.png", "report.md", "summary.json"]
    saved = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert saved["value"] is None and saved["design"]["seed"] == 4
    again = TrialResult.from_folder(tmp_path / "out")
    assert again.report == "# fake report\n" and again.figures == ["plot.png"] and again.kind == "fake"
    assert again.summary == saved
    with pytest.raises(TrialDesignError, match="not a trial results folder"):
        TrialResult.from_folder(tmp_path)


@pytest.mark.parametrize("kind", sorted(KINDS.values()))
def test_every_shipped_kind_implements_the_protocol(kind: str) -> None:
    import importlib

    from qsp_sbml.trial import TrialKind

    assert isinstance(importlib.import_module(kind), TrialKind)


def test_ancova_covariates_must_exist(tmp_path: Path) -> None:
    spec = _bad(endpoints__0__analysis__covariates=["weight_kg"])
    with pytest.raises(TrialDesignError, match="not covariates of the population") as info:
        run_trial(_write(tmp_path, {**spec, "replicates": 1, "sample_size": {}}), seed=1, out=tmp_path / "o")
    assert info.value.field == "endpoints[0].analysis.covariates" and not (tmp_path / "o").exists()
    spec = {**BASE, "population": {**BASE["population"], "preset": "healthy_adults"}, "replicates": 2,
            "sample_size": {}, "endpoints": [{**BASE["endpoints"][0], "analysis": {
                "test": "ancova", "control": "placebo", "covariates": ["weight_kg"]}}]}
    summary = run_trial(_write(tmp_path, spec, "cov.yaml"), seed=1, out=tmp_path / "o2")
    assert summary["populations"]["broad"]["comparisons"][0]["undefined_analyses"] == 0
