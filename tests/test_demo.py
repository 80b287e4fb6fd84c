"""The demo pipeline: steps in order, shared results, an atomic report folder."""

from __future__ import annotations

import json

import pytest

from qsp_sbml.demo.pipeline import DemoContext, DemoSettings, StepOutcome, run_pipeline
from qsp_sbml.errors import QspError


def _first(ctx: DemoContext) -> StepOutcome:
    (ctx.folder / "a.txt").write_text("a")
    ctx.shared["value"] = 41
    return StepOutcome("first", {"x": 1}, ["first step"], {"a check": True}, ["a.txt"])


def _second(ctx: DemoContext) -> StepOutcome:
    return StepOutcome("second", {"y": ctx.shared["value"] + 1}, ["second step"], {"another": False})


def _boom(ctx: DemoContext) -> StepOutcome:
    raise RuntimeError("step failed")


def test_pipeline_writes_report_and_summary(tmp_path) -> None:
    lines: list[str] = []
    out = tmp_path / "report"
    summary = run_pipeline(out, [("one", _first), ("two", _second)], DemoSettings(n_subjects=2, n_starts=1),
                           echo=lines.append)
    assert summary["steps"]["two"]["y"] == 42 and summary["passed"] is False
    assert summary["checks"] == {"one.a check": True, "two.another": False}
    assert json.loads((out / "summary.json").read_text())["steps"]["one"]["x"] == 1
    report = (out / "report.md").read_text()
    assert "## 1. first" in report and "## 2. second" in report and "**FAIL**" in report
    assert (out / "a.txt").read_text() == "a"
    assert len(lines) == 2 and "CHECK FAILED" in lines[1]


def test_a_failing_step_leaves_the_previous_report(tmp_path) -> None:
    out = tmp_path / "report"
    run_pipeline(out, [("one", _first)], DemoSettings(n_subjects=2, n_starts=1))
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(RuntimeError, match="step failed"):
        run_pipeline(out, [("one", _first), ("boom", _boom)], DemoSettings(n_subjects=2, n_starts=1))
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temporary folder left


def test_refuses_a_foreign_folder_and_bad_settings(tmp_path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(QspError, match="not a demo report folder"):
        run_pipeline(tmp_path / "mine", [("one", _first)], DemoSettings(n_subjects=2, n_starts=1))
    calibration = tmp_path / "fit"  # a calibration output has a summary.json too, but no report.md
    calibration.mkdir()
    for name in ("summary.json", "starts.tsv"):
        (calibration / name).write_text("{}")
    with pytest.raises(QspError, match=r"not a demo report folder \(no report.md\)"):
        run_pipeline(calibration, [("one", _first)], DemoSettings(n_subjects=2, n_starts=1))
    assert sorted(p.name for p in calibration.iterdir()) == ["starts.tsv", "summary.json"]
    with pytest.raises(ValueError, match="n_starts"):
        DemoSettings(n_starts=0)
    with pytest.raises(ValueError, match="n_subjects"):
        DemoSettings(n_subjects=1)


def test_settings_from_environment(monkeypatch) -> None:
    from qsp_sbml.demo.flagship import settings_from_env

    monkeypatch.setenv("QSP_SBML_DEMO_SUBJECTS", "30")
    monkeypatch.setenv("QSP_SBML_DEMO_STARTS", "2")
    monkeypatch.setenv("QSP_SBML_DEMO_REPLICATES", "4")
    s = settings_from_env(seed=5)
    assert (s.n_subjects, s.n_starts, s.n_replicates, s.seed) == (30, 2, 4, 5)
    monkeypatch.setenv("QSP_SBML_DEMO_STARTS", "many")
    with pytest.raises(ValueError, match="QSP_SBML_DEMO_STARTS"):
        settings_from_env()
