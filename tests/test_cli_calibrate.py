"""``qsp-sbml calibrate`` and ``qsp-sbml benchmark`` on the closed-form problem of test_calibrate."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

pytest.importorskip("pypesto")

from qsp_sbml.cli import main
from tests.conftest import conformance_dir
from tests.test_calibrate import A0_HAT, FVAL_HAT, SIGMA_HAT, problem_yaml

KEYS = {"best_fval", "best_x", "n_starts", "n_converged", "wall_time_s"}


def _run(args: list[str]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CliRunner().invoke(main, args)


def test_calibrate_writes_summary_starts_store_and_plots(tmp_path):
    (tmp_path / "problem").mkdir()
    yaml_path = problem_yaml(tmp_path / "problem")
    out = tmp_path / "fit"
    res = _run(["calibrate", str(yaml_path), "--starts", "3", "--seed", "5", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert KEYS <= set(summary)
    assert summary["n_starts"] == 3
    assert summary["n_converged"] == 3
    assert summary["best_fval"] == pytest.approx(FVAL_HAT, abs=1e-4)
    assert summary["best_x"]["A0"] == pytest.approx(A0_HAT, rel=1e-4)
    assert summary["best_x"]["sigma"] == pytest.approx(SIGMA_HAT, rel=1e-3)  # linear, not log10
    starts = pd.read_csv(out / "starts.tsv", sep="\t")
    assert list(starts.columns) == ["start", "status", "message", "fval", "n_fval", "n_grad", "time", "A0", "sigma"]
    assert sorted(p.name for p in out.iterdir()) == ["fit.png", "result.h5", "starts.tsv", "summary.json",
                                                     "waterfall.png"]
    assert json.loads(res.stdout)["ok"] is True
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    # same seed, same start points: same table (the run is reproducible)
    again = _run(["calibrate", str(yaml_path), "--starts", "3", "--seed", "5", "--out", str(out)])
    assert again.exit_code == 0, again.output
    np.testing.assert_allclose(pd.read_csv(out / "starts.tsv", sep="\t")["fval"], starts["fval"], rtol=1e-9)
    # the folder reads back from Python: summary, starts and the pyPESTO result
    from qsp_sbml.calibrate import CalibrationRun
    from qsp_sbml.errors import CalibrationError

    run = CalibrationRun.from_folder(out)
    assert run.summary == json.loads((out / "summary.json").read_text())
    pd.testing.assert_frame_equal(run.starts, pd.read_csv(out / "starts.tsv", sep="\t"))
    assert run.result.optimize_result[0].fval == pytest.approx(run.summary["best_fval"], rel=1e-9)
    with pytest.raises(CalibrationError, match="not a calibration results folder"):
        CalibrationRun.from_folder(tmp_path)


def test_calibrate_bad_input_exits_1_without_output(tmp_path):
    out = tmp_path / "fit"
    res = _run(["calibrate", str(tmp_path / "missing.yaml"), "--out", str(out)])
    assert res.exit_code == 1
    assert "no such file" in res.output
    assert not out.exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("format_version: 7\n")
    res = _run(["calibrate", str(bad), "--out", str(out), "--json"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["ok"] is False
    assert "format_version" in json.loads(res.stdout)["error"]["message"]
    assert not out.exists()
    assert _run(["calibrate", str(bad), "--out", str(out), "--starts", "0"]).exit_code == 2


def test_calibrate_failure_leaves_previous_output_as_it_was(tmp_path, monkeypatch):
    (tmp_path / "p").mkdir()
    yaml_path = problem_yaml(tmp_path / "p")
    out = tmp_path / "fit"
    out.mkdir()
    (out / "summary.json").write_text('{"previous": true}')
    (out / "starts.tsv").write_text("start\n")
    import qsp_sbml.calibrate.plots as qc

    def broken(*args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(qc, "plot_fit", broken)
    res = _run(["calibrate", str(yaml_path), "--starts", "1", "--out", str(out)])
    assert res.exit_code == 1
    assert "disk full" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["starts.tsv", "summary.json"]
    assert json.loads((out / "summary.json").read_text()) == {"previous": True}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # a folder with other content is never replaced
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    res = _run(["calibrate", str(yaml_path), "--starts", "1", "--out", str(other)])
    assert res.exit_code == 1
    assert "not a calibration output" in res.output
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    # nor a demo report folder (it has a summary.json too)
    demo = tmp_path / "demo"
    demo.mkdir()
    for name in ("summary.json", "report.md"):
        (demo / name).write_text("{}")
    res = _run(["calibrate", str(yaml_path), "--starts", "1", "--out", str(demo)])
    assert res.exit_code == 1
    assert "not a calibration output folder (no starts.tsv)" in res.output
    assert sorted(p.name for p in demo.iterdir()) == ["report.md", "summary.json"]


def test_benchmark_table_csv_and_failing_problem(tmp_path):
    good = tmp_path / "suite" / "decay"
    good.mkdir(parents=True)
    problem_yaml(good)
    (good / "problem.yaml").rename(good / "decay.yaml")
    from qsp_sbml.petab import PetabObjective, PetabProblem

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        llh = PetabObjective(PetabProblem.from_yaml(good / "decay.yaml", guard=False)).evaluate().llh
    (tmp_path / "suite" / "reference_llh.yaml").write_text(yaml.safe_dump({"decay": {"llh": llh + 5e-4},
                                                                           "wrong": {"llh": llh + 1.0}}))
    wrong = tmp_path / "suite" / "wrong"
    wrong.mkdir()
    problem_yaml(wrong)
    (wrong / "problem.yaml").rename(wrong / "wrong.yaml")
    broken = tmp_path / "suite" / "broken"
    broken.mkdir()
    (broken / "broken.yaml").write_text("format_version: 1\nparameter_file: nope.tsv\nproblems: []\n")
    csv = tmp_path / "bench.csv"
    res = _run(["benchmark", str(tmp_path / "suite"), "-o", str(csv)])
    assert res.exit_code == 1, res.output
    table = pd.read_csv(csv).set_index("problem")
    assert table.loc["decay", "status"] == "pass"
    assert table.loc["wrong", "status"] == "fail"
    assert table.loc["broken", "status"] == "error"
    assert isinstance(table.loc["broken", "error"], str) and table.loc["broken", "error"]
    assert "decay" in res.output and "pass" in res.output
    only_good = _run(["benchmark", str(good), "--starts", "2", "--json"])
    assert only_good.exit_code == 0, only_good.output
    row = json.loads(only_good.stdout)["rows"][0]
    assert row["status"] == "pass"
    assert row["best_fval"] == pytest.approx(FVAL_HAT, abs=1e-4)
    assert _run(["benchmark", str(tmp_path / "nothing-here")]).exit_code == 1


@pytest.mark.conformance
def test_benchmark_on_boehm(tmp_path):
    folder = conformance_dir() / "benchmark_models" / "Boehm_JProteomeRes2014"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found; set QSP_SBML_CONFORMANCE_DIR")
    csv = tmp_path / "boehm.csv"
    res = _run(["benchmark", str(folder), "-o", str(csv)])
    assert res.exit_code == 0, res.output
    row = pd.read_csv(csv).iloc[0]
    assert row["problem"] == "Boehm_JProteomeRes2014"
    assert row["status"] == "pass"
    assert row["reference_llh"] == pytest.approx(-138.22199693517703)
    assert math.isclose(row["llh"], row["reference_llh"], rel_tol=1e-3, abs_tol=1e-3)
