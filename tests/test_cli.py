"""The CLI: exit codes, messages without tracebacks, JSON, no partial output."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from qsp_sbml import resources
from qsp_sbml.cli import main
from tests.test_loading import BAD


@pytest.mark.parametrize("name", sorted(BAD))
def test_validate_bad_files_exit_1_naming_the_problem(run, fixtures, name):
    needle, _check = BAD[name]
    result = run("validate", fixtures / "bad_sbml" / f"{name}.xml")
    assert result.exit_code == 1, result.output
    assert needle in result.output
    assert "Traceback" not in result.output


def test_validate_json_report(run, fixtures):
    result = run("validate", fixtures / "bad_sbml" / "duplicate_id.xml", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    assert any(i["check"] == "sbml-10301" and i["sbml_id"] == "p" for i in payload["issues"])


def test_validate_good_file(run):
    result = run("validate", resources.ONE_COMPARTMENT_ORAL, "--strict-units")
    assert result.exit_code == 0, result.output
    assert "valid (0 error(s), 0 warning(s))" in result.output


def test_validate_unsupported_feature(run, fixtures):
    result = run("validate", fixtures / "unsupported" / "delay.xml")
    assert result.exit_code == 1
    assert "delay() in <rateRule> for 'x' is not supported" in result.output


def test_simulate_writes_a_table(run, tmp_path):
    out = tmp_path / "out.tsv"
    result = run("simulate", resources.ONE_COMPARTMENT_ORAL, "--regimen", "320 mg po q12h x 2",
                 "--target", "po=A_gut", "--end", "24", "--step", "1", "-s", "C,A_gut", "-o", out)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, sep="\t")
    assert list(frame.columns) == ["time", "C", "A_gut"]
    assert len(frame) == 25
    assert frame["A_gut"].iloc[12] == pytest.approx(320, rel=1e-4)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--regimen", "320 mg po q12h banana", "--target", "A_gut"], "'banana'"),
        (["--regimen", "320 mg po", "--target", "A_gutt"], "did you mean 'A_gut'"),
        (["--regimen", "320 mg po", "--target", "A_gut", "-s", "Cx"], "unknown selection 'Cx'"),
        (["--regimen", "320 mg po", "--target", "A_gut", "-p", "CLL=1"], "unknown parameter 'CLL'"),
    ],
)
def test_simulate_bad_input_exits_1_without_output(run, tmp_path, args, needle):
    out = tmp_path / "out.tsv"
    result = run("simulate", resources.ONE_COMPARTMENT_ORAL, "--end", "24", "-o", out, *args)
    assert result.exit_code == 1, result.output
    assert needle in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_usage_errors_exit_2(run):
    assert run("simulate", resources.ONE_COMPARTMENT_ORAL).exit_code == 2  # --end missing
    assert run("simulate", resources.ONE_COMPARTMENT_ORAL, "--end", "1", "-p", "novalue").exit_code == 2
    assert run("frobnicate").exit_code == 2


def test_json_error_object(run, tmp_path):
    result = run("simulate", tmp_path / "missing.xml", "--end", "1", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["ok"] is False and "no such file" in payload["error"]["message"]


def test_console_script_and_demo(tmp_path):
    """The flagship demo with small caps (environment variables): report folder, plots, checks."""
    import os

    out = tmp_path / "report"
    env = {**os.environ, "QSP_SBML_DEMO_SUBJECTS": "20", "QSP_SBML_DEMO_STARTS": "1", "QSP_SBML_DEMO_REPLICATES": "3"}
    proc = subprocess.run([sys.executable, "-m", "qsp_sbml", "demo", "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, check=False, env=env)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "all checks passed" in proc.stdout and str((out / "report.md").resolve()) in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is True and summary["settings"] == {"n_subjects": 20, "n_starts": 1, "n_replicates": 3,
                                                               "seed": 1}
    assert list(summary["steps"]) == ["compose", "calibrate", "population", "trial"]
    compose = summary["steps"]["compose"]
    assert compose["flat_equals_shipped"] is True
    assert max(compose["max_rel_diff_vs_single_file_model"].values()) <= 1e-6
    assert abs(summary["steps"]["calibrate"]["llh"] - 8.585) <= 0.01
    population = summary["steps"]["population"]
    assert population["n_subjects"] == 20 and population["failed"] == {"risankizumab": 0, "placebo": 0}
    for step in summary["steps"].values():
        for name in step["files"]:
            assert (out / name).stat().st_size > 0, name
    trial = summary["steps"]["trial"]
    assert trial["design"]["replicates"] == 3 and len(trial["comparisons"]) == 3
    # the calibrated values of step 2 went into the trial's design
    design = (out / "trial_design.yaml").read_text()
    assert "disease__k_T" in design and "disease__f_ind" in design
    assert (out / "report.md").read_text().count("## ") == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_demo_foundation_closed_form_checks(tmp_path):
    out = tmp_path / "foundation"
    result = CliRunner().invoke(main, ["demo", "--foundation", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "all checks passed" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is True
    assert summary["checks"]["events_vs_timeline_max_rel_diff"] <= 1e-6
    assert (out / "profile.tsv").exists() and (out / "model_with_dosing.xml").exists()


def test_demo_refuses_a_folder_that_is_not_a_report(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--subjects", "2", "--starts", "1"])
    assert result.exit_code == 1 and "not a demo report folder" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]
    assert "Traceback" not in result.output


def test_petab_evaluate_json_and_simulations(tmp_path):
    import json

    from click.testing import CliRunner

    from qsp_sbml import resources
    from qsp_sbml.cli import main

    out = tmp_path / "sims.tsv"
    result = CliRunner().invoke(main, ["petab", "evaluate", str(resources.PETAB_PK_IV), "--json",
                                       "--simulations", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["n_measurements"] == 3
    assert payload["chi2"] < 1e-8
    # llh of three exact measurements with sigma=0.1: 3 * -0.5*log(2*pi*0.01)
    assert abs(payload["llh"] - 3 * -0.5 * math.log(2 * math.pi * 0.01)) < 1e-6
    assert "simulation" in out.read_text().splitlines()[0].split("\t")


def test_petab_evaluate_bad_input_exits_1_without_traceback(tmp_path):
    from click.testing import CliRunner

    from qsp_sbml.cli import main

    bad = tmp_path / "p.yaml"
    bad.write_text("format_version: 7\n")
    result = CliRunner().invoke(main, ["petab", "evaluate", str(bad)])
    assert result.exit_code == 1
    assert "format_version" in result.output
    assert "Traceback" not in result.output


def test_cli_module_runs_as_a_script_without_import_cycles():
    result = subprocess.run([sys.executable, "-m", "qsp_sbml.cli", "pbpk", "--help"],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "validate" in result.stdout
