"""Qualification reports of the disease modules (issue 19 item 4): ``qsp-sbml library validate NAME --report DIR``.

Every module's report is written and read back: the roles, the metrics computed on predicted rows only, the
"not validated" wording of modules without a prediction set, and the psoriasis report read from the saved
population fit (never refitted).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import qsp_sbml.library.oncology as oncology_module
from qsp_sbml.calibrate.population import read_split
from qsp_sbml.cli.main import main
from qsp_sbml.errors import CalibrationError, QspError
from qsp_sbml.library.report import (
    COLUMNS,
    NO_PREDICTION_SET,
    Qualification,
    from_population_fit,
    qualification_metrics,
    qualifiers,
)
from qsp_sbml.metrics import concordance_correlation
from qsp_sbml.resources import project_models_dir

VALIDATION = project_models_dir() / "disease" / "validation"
SPLIT = VALIDATION / "psoriasis_split.yaml"
FIT = VALIDATION / "psoriasis_population_fit"
MODULES = ("crohns", "liver_autoimmune", "lupus_nephritis", "oncology", "psoriasis")
FILES = {"qualification.tsv", "qualification.png", "metrics.json", "summary.md"}

pytest.importorskip("matplotlib")


def _run(*args: str) -> object:
    result = CliRunner().invoke(main, ["library", "validate", *args])
    return result


def _report(tmp_path: Path, name: str) -> tuple[Path, pd.DataFrame, dict, str]:
    out = tmp_path / "report"
    result = _run(name, "--report", str(out))
    assert result.exit_code == 0, result.output
    folder = out / name
    assert {p.name for p in folder.iterdir()} == FILES
    assert (folder / "qualification.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(folder / "qualification.tsv", sep="\t")
    assert tuple(table.columns) == COLUMNS
    metrics = json.loads((folder / "metrics.json").read_text())
    return out, table, metrics, (folder / "summary.md").read_text()


def test_every_disease_module_has_a_qualification() -> None:
    assert set(qualifiers()) == set(MODULES)


# -- modules without a prediction set ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["liver_autoimmune", "lupus_nephritis"])
def test_a_module_whose_points_were_all_fitted_says_not_validated(tmp_path: Path, name: str) -> None:
    out, table, metrics, summary = _report(tmp_path, name)
    assert set(table["role"]) == {"fitted"}
    assert metrics["points"] == {"fitted": len(table), "predicted": 0, "checked": 0}
    assert metrics["predicted"]["points"] == 0 and metrics["predicted"]["ccc"] is None
    assert metrics["acceptance"]["met"] is None
    assert NO_PREDICTION_SET[1:] in summary and "not validated" in summary
    assert "Metrics on the predicted points only" not in summary
    assert f"[{name}]({name}/summary.md)" in (out / "README.md").read_text()


def test_lupus_range_observations_are_kept_as_ranges(tmp_path: Path) -> None:
    _, table, _, summary = _report(tmp_path, "lupus_nephritis")
    assert table["observed"].isna().all()
    assert (table["observed_lower"] == 40).all() and (table["observed_upper"] == 60).all()
    assert "| 40-60 |" in summary


def test_crohns_week_12_rows_are_checked_not_predicted(tmp_path: Path) -> None:
    _, table, metrics, summary = _report(tmp_path, "crohns")
    observed = pd.read_csv(VALIDATION / "crohns_observed.tsv", sep="\t", comment="#")
    assert list(table["role"]) == ["fitted" if u == "calibration" else "checked" for u in observed["used_for"]]
    assert (table.loc[table["role"] == "fitted", "time"] == 8).all()
    assert metrics["points"] == {"fitted": 2, "predicted": 0, "checked": 4}
    assert metrics["predicted"]["points"] == 0
    assert "No prediction set" in summary and "not validated" in summary
    assert NO_PREDICTION_SET not in summary  # the week-12 points were not fitted: that wording would be false


# -- modules with a prediction set ------------------------------------------------------------------------
def test_psoriasis_report_reuses_the_saved_fit_and_the_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qsp_sbml.calibrate.population as population

    def no_refit(*args: object, **kwargs: object) -> None:
        raise AssertionError("the report must not refit or re-simulate")

    for fn in ("fit_population", "predict_arms"):
        monkeypatch.setattr(population, fn, no_refit)
    monkeypatch.setattr(population.PopulationProblem, "__init__", no_refit)
    _, table, metrics, summary = _report(tmp_path, "psoriasis")
    spec, _ = read_split(SPLIT)
    expected = [("fitted" if group == "calibration" else "predicted", arm.id, o.week)
                for group, arm in spec.arms for o in arm.observations]
    assert list(zip(table["role"], table["arm"], table["time"], strict=True)) == expected
    saved = pd.read_csv(FIT / "predictions.tsv", sep="\t")
    assert np.allclose(table["simulated"], saved["simulated"]) and np.allclose(table["pi_lower"], saved["pi_lower"])
    saved_metrics = json.loads((FIT / "metrics.json").read_text())["metrics"]["predicted"]
    pm = metrics["predicted"]
    assert pm["points"] == saved_metrics["points"] == 6
    assert pm["coverage_90"] == pytest.approx(saved_metrics["coverage_90"], abs=1e-4)
    assert pm["ccc"] == pytest.approx(saved_metrics["ccc"], abs=1e-4)
    assert pm["inside_90"] == 4 and metrics["acceptance"]["met"] is False
    # counted over every row, coverage would be 11/13: the report's 4/6 is over predicted rows only
    assert table["inside_pi"].mean() == pytest.approx(11 / 13)
    assert "**Predicted:**" in summary and "not validated" not in summary and "**not met**" in summary


@pytest.mark.slow
def test_oncology_forecast_rows_are_predicted_and_match_the_modules_own_metric(tmp_path: Path) -> None:
    _, table, metrics, summary = _report(tmp_path, "oncology")
    control = table[table["arm"].str.startswith("LXF A677 control")]
    assert set(control.loc[control["role"] == "fitted", "time"]) <= set(np.arange(1, 15))
    assert (control.loc[control["role"] == "predicted", "time"] > 14).all()
    outcome = oncology_module.validate()
    forecast = control[control["role"] == "predicted"]
    assert len(forecast) == int((outcome.table["set"] == "forecast").sum())
    assert float(np.exp(np.mean(np.abs(np.log(forecast["simulated"] / forecast["observed"]))))) == pytest.approx(
        outcome.value, abs=1e-3)
    # the erlotinib arms: the split's calibration arm fitted, its prediction arms predicted (tests/test_oncology_kill)
    treated = table[table["arm"].str.contains("erlotinib")]
    assert set(treated.loc[treated["role"] == "fitted", "arm"]) == {"LXF A677 erlotinib 25 mg/kg daily "
                                                                      "(erlotinib_25_mg_per_kg)"}
    assert {a.split(" (")[0] for a in treated.loc[treated["role"] == "predicted", "arm"]} == {
        "LXF A677 erlotinib 6.25 mg/kg daily", "LXF A677 erlotinib 100 mg/kg daily"}
    pred = table[table["role"] == "predicted"]
    assert metrics["predicted"]["points"] == len(pred) == len(forecast) + int((treated["role"] == "predicted").sum())
    assert metrics["predicted"]["coverage_90"] is None and metrics["predicted"]["points_with_interval"] == 0
    assert metrics["predicted"]["ccc"] == pytest.approx(
        concordance_correlation(pred["observed"], pred["simulated"]), abs=1e-4)
    assert "no 90 % prediction interval" in summary


@pytest.mark.slow
def test_all_writes_every_module(tmp_path: Path) -> None:
    out = tmp_path / "all"
    result = _run("--all", "--report", str(out), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert set(payload["modules"]) == set(MODULES)
    assert {p.name for p in out.iterdir()} == {*MODULES, "README.md", "qualification.json"}
    assert set(json.loads((out / "qualification.json").read_text())["modules"]) == set(MODULES)
    for name in MODULES:
        assert {p.name for p in (out / name).iterdir()} == FILES


# -- metrics over predicted rows only ---------------------------------------------------------------------
def _toy(fitted_far: bool) -> Qualification:
    rows = [{"role": "predicted", "arm": f"p{i}", "endpoint": "y", "time": 4, "time_unit": "week", "n": 100,
             "observed": o, "simulated": s, "pi_lower": s - 0.05, "pi_upper": s + 0.05}
            for i, (o, s) in enumerate([(0.2, 0.22), (0.5, 0.47), (0.8, 0.9)])]
    far = 0.5 if fitted_far else 0.0
    rows += [{"role": "fitted", "arm": f"f{i}", "endpoint": "y", "time": 4, "time_unit": "week", "n": 100,
              "observed": o, "simulated": o + far, "pi_lower": o + far - 0.01, "pi_upper": o + far + 0.01}
             for i, o in enumerate([0.1, 0.3, 0.6, 0.7])]
    rows.append({"role": "checked", "arm": "c", "endpoint": "y", "time": 8, "time_unit": "week",
                 "observed": 0.4, "simulated": 0.95})
    return Qualification.from_rows("toy", rows, fitted="y of f0-f3", predicted="y of p0-p2", sources=("toy",))


def test_metrics_ignore_fitted_and_checked_rows() -> None:
    near, far = qualification_metrics(_toy(False).table), qualification_metrics(_toy(True).table)
    assert near["predicted"] == far["predicted"]
    pm = near["predicted"]
    assert pm["points"] == 3 and pm["inside_90"] == 2 and pm["coverage_90"] == pytest.approx(2 / 3, abs=1e-4)
    assert pm["ccc"] == pytest.approx(concordance_correlation([0.2, 0.5, 0.8], [0.22, 0.47, 0.9]), abs=1e-4)
    assert pm["max_abs_error"] == pytest.approx(0.1)
    everything = far["points"]
    assert everything == {"fitted": 4, "predicted": 3, "checked": 1}
    table = _toy(True).table  # over every row the figures would differ (the test can fail)
    assert table["inside_pi"].dropna().mean() != pytest.approx(pm["coverage_90"])


def test_a_predicted_point_without_an_observed_value_is_counted_but_not_in_the_errors() -> None:
    """A predicted row with only an observed range used to turn CCC into NaN and drop GMFE."""
    q = _toy(False)
    table = q.table.copy()
    extra = table[table["role"] == "predicted"].iloc[[0]].assign(arm="range-only", observed=float("nan"))
    pm = qualification_metrics(pd.concat([table, extra], ignore_index=True))["predicted"]
    assert pm["points"] == 4
    assert pm["ccc"] == pytest.approx(concordance_correlation([0.2, 0.5, 0.8], [0.22, 0.47, 0.9]), abs=1e-4)
    assert pm["gmfe"] is not None and pm["max_abs_error"] == pytest.approx(0.1)


def test_concordance_correlation_of_known_pairs() -> None:
    assert concordance_correlation([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
    # shifted by one: 2 cov / (var x + var y + 1) = 2 (2/3) / (4/3 + 1) = 4/7
    assert concordance_correlation([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == pytest.approx(4 / 7)
    assert np.isnan(concordance_correlation([1.0], [1.0]))


@pytest.mark.parametrize(("rows", "message"), [
    ([{"role": "guessed", "arm": "a", "endpoint": "y", "time": 1, "observed": 1, "simulated": 1}], "guessed"),
    ([{"role": "predicted", "arm": "a", "endpoint": "y", "time": 1, "observed_lower": 1, "observed_upper": 2,
       "simulated": 1}], "needs a point observation"),
    ([{"role": "fitted", "arm": "a", "endpoint": "y", "time": 1, "simulated": 1}], "give observed"),
    ([{"role": "fitted", "arm": "a", "endpoint": "y", "time": 1, "observed": 1, "simulated": 1}],
     "say what is predicted"),
])
def test_bad_qualification_rows_are_refused(rows: list[dict], message: str) -> None:
    with pytest.raises(QspError, match=message):
        Qualification.from_rows("toy", rows, fitted="x", predicted="something", sources=())


# -- the saved fit must belong to the split ---------------------------------------------------------------
def _split_copy(tmp: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(SPLIT.read_text())
    data["model"] = str(project_models_dir() / "disease" / "psoriasis_risankizumab.xml")
    edit(data)
    path = tmp / "split.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["prediction"][0].update(id="resurface1_placebo_renamed"), "'resurface1_placebo_renamed'"),
    (lambda d: d["calibration"].append(d["prediction"].pop(3)), "labelled 'predicted'"),
    (lambda d: d["prediction"].pop(0), "['resurface1_placebo'] are not in"),
])
def test_a_fit_made_from_another_split_is_refused_naming_the_arm(tmp_path: Path, edit, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CalibrationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_population_fit("psoriasis", _split_copy(tmp_path, edit), FIT)


# -- bad command lines -------------------------------------------------------------------------------------
def test_unknown_module_lists_the_known_ones_and_writes_nothing(tmp_path: Path) -> None:
    result = _run("psoriasys", "--report", str(tmp_path / "r"))
    assert result.exit_code == 1
    assert "unknown library module 'psoriasys'" in result.output and "did you mean 'psoriasis'" in result.output
    assert all(name in result.output for name in MODULES)
    assert not (tmp_path / "r").exists()


def test_a_report_folder_that_is_a_file_is_refused_before_any_work(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report"
    target.write_text("not a folder")
    monkeypatch.setattr(oncology_module, "qualification", lambda: pytest.fail("computed before the folder check"))
    result = _run("oncology", "--report", str(target))
    assert result.exit_code == 1 and "is a file, not a qualification report folder" in result.output
    assert target.read_text() == "not a folder"
    blocked = tmp_path / "blocker"
    blocked.write_text("x")
    result = _run("oncology", "--report", str(blocked / "sub" / "report"))
    assert result.exit_code == 1 and "is a file, not a folder" in result.output


def test_an_error_in_one_module_leaves_the_previous_report_whole(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "report"
    assert _run("liver_autoimmune", "--report", str(out)).exit_code == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken() -> Qualification:
        raise QspError("oncology_tgi_observed.tsv: broken on purpose")

    monkeypatch.setattr(oncology_module, "qualification", broken)
    result = _run("--all", "--report", str(out))
    assert result.exit_code == 1 and "broken on purpose" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no temporary folder left behind
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_folder_that_is_not_a_previous_report_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "papers"
    out.mkdir()
    (out / "notes.txt").write_text("my own files")
    result = _run("liver_autoimmune", "--report", str(out))
    assert result.exit_code == 1
    assert "is not a qualification report folder (no qualification.json); choose another --report" in result.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run("liver_autoimmune", "--report", str(empty)).exit_code == 0
    assert _run("lupus_nephritis", "--report", str(empty)).exit_code == 0  # a previous report is replaced
    assert sorted(p.name for p in empty.iterdir()) == ["README.md", "lupus_nephritis", "qualification.json"]
    index = json.loads((empty / "qualification.json").read_text())
    assert set(index["modules"]) == {"lupus_nephritis"} and index["command"].startswith("qsp-sbml library validate")


def test_a_previous_report_is_recognised_by_its_marker_file_not_by_its_readme(tmp_path: Path) -> None:
    """The check shared with calibrate, demo and disease calibrate: a README.md that looks like ours is not enough."""
    out = tmp_path / "lookalike"
    out.mkdir()
    (out / "README.md").write_text("# Qualification reports\n\nmy own notes, same title\n")
    result = _run("liver_autoimmune", "--report", str(out))
    assert result.exit_code == 1 and "(no qualification.json)" in result.output
    assert [p.name for p in out.iterdir()] == ["README.md"]


@pytest.mark.parametrize("args", [[], ["psoriasis", "--all"]])
def test_name_or_all_is_a_usage_error(args: list[str]) -> None:
    result = _run(*args)
    assert result.exit_code == 2 and "give a module NAME or --all" in result.output


def test_without_report_prints_the_roles_and_metrics() -> None:
    result = _run("psoriasis")
    assert result.exit_code == 0, result.output
    assert "psoriasis: 7 fitted, 6 predicted, 0 checked" in result.output
    assert "4/6 inside the 90 % PI" in result.output
