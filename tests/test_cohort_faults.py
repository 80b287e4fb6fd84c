"""Fault tolerance and resumable cohort runs (issue 9, items 3-4).

Faults are real: a subject whose parameters make CVODE fail, a worker process that dies (``os._exit`` in a
test-only batch function, as a native crash ends a process without a word), a subject that hangs (sleeps)
past its time limit; and a real SIGKILL of the ``qsp-sbml simulate-cohort`` process mid-run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import qsp_sbml as qs
from qsp_sbml.cli import main
from qsp_sbml.engine import ProcessEngine
from qsp_sbml.errors import SimulationWarning
from qsp_sbml.population import Cohort, lognormal_iiv, simulate_cohort
from qsp_sbml.population.checkpoint import MANIFEST, ResumeError
from qsp_sbml.population.simulation import _run_batch

REPO = Path(__file__).resolve().parents[1]
THEO = REPO / "petab_problems" / "theophylline" / "model.xml"
REGIMEN = "320 mg po q12h x 3 to A_gut"
TIMES = np.arange(0.0, 37.0, 1.0)
CRASH_CL, HANG_CL = 666.0, 777.0


def _faulty_batch(batch: Any) -> Any:
    """The real batch function, except that a subject with CL=666 kills its worker and CL=777 hangs."""
    cl = batch.values[:, 0]  # cohort parameter columns in order: CL, Vc, ka
    if np.any(cl == CRASH_CL):
        os._exit(9)
    if np.any(cl == HANG_CL):
        time.sleep(120)
    return _run_batch(batch)


@pytest.fixture(scope="module")
def model() -> qs.Model:
    return qs.load_model(THEO, guard=False)


def _cohort(n: int, seed: int = 1) -> Cohort:
    params = lognormal_iiv({"CL": 2.8, "Vc": 32.0, "ka": 1.5}, n, seed=seed, cv={"CL": 0.3, "Vc": 0.2, "ka": 0.4})
    return Cohort.from_parts(parameters=params, seed=seed)


def test_failing_crashing_and_hanging_subjects_reported_run_completes(model: qs.Model) -> None:
    cohort = _cohort(12)
    table = cohort.table.copy()
    table.loc[4, "CL"] = -1e6       # exponential growth: CVODE fails
    table.loc[7, "CL"] = CRASH_CL   # kills its worker
    table.loc[9, "CL"] = HANG_CL    # hangs past the time limit
    bad = Cohort(table, cohort.columns, cohort.seed)
    engine = ProcessEngine(2, start_method="forkserver")
    with pytest.warns(SimulationWarning, match=r"3 of 12 subjects failed \(1 failed, 1 crashed, 1 timeout"):
        res = simulate_cohort(model, bad, TIMES, outputs=["C"], regimen=REGIMEN, engine=engine, batch_size=3,
                              timeout=2.0, task=_faulty_batch)
    sub = res.subjects().set_index("subject_id")
    ids = cohort.subject_ids
    assert sub.loc[ids[4], "status"] == "failed" and "CVODE" in sub.loc[ids[4], "message"]
    assert sub.loc[ids[7], "status"] == "crashed" and "exit code 9" in sub.loc[ids[7], "message"]
    assert sub.loc[ids[9], "status"] == "timeout" and "time limit of 2 s" in sub.loc[ids[9], "message"]
    assert res.attrs["failures"] == {"failed": 1, "crashed": 1, "timeout": 1}
    assert sorted(res.failed) == sorted([ids[4], ids[7], ids[9]])
    # every other subject (including the batch-mates of the crashed and hanging ones) equals a clean run
    ok = np.setdiff1d(np.arange(12), [4, 7, 9])
    clean = simulate_cohort(model, cohort, TIMES, outputs=["C"], regimen=REGIMEN)
    assert np.array_equal(res.values[ok], clean.values[ok])
    assert np.isnan(res.values[[4, 7, 9]]).all()


def test_resume_reads_finished_chunks_and_equals_uninterrupted_run(model: qs.Model, tmp_path: Path) -> None:
    cohort = _cohort(23)
    full = simulate_cohort(model, cohort, TIMES, outputs=["C", "A"], regimen=REGIMEN)
    run = tmp_path / "run"
    first = simulate_cohort(model, cohort, TIMES, outputs=["C", "A"], regimen=REGIMEN, out=run, chunk_size=5)
    assert np.array_equal(first.values, full.values)
    manifest = json.loads((run / MANIFEST).read_text())
    assert manifest["complete"] and [c["start"] for c in manifest["chunks"]] == [0, 5, 10, 15, 20]
    # the state a kill leaves: two chunks listed (one chunk file written but not yet listed)
    manifest["chunks"], manifest["complete"] = manifest["chunks"][:2], False
    (run / MANIFEST).write_text(json.dumps(manifest))
    (run / "chunk-00001.parquet").write_bytes(b"altered")  # a listed chunk whose checksum fails is redone
    with pytest.raises(ResumeError, match="partial run .*resume"):
        simulate_cohort(model, cohort, TIMES, outputs=["C", "A"], regimen=REGIMEN, out=run, chunk_size=5)
    resumed = simulate_cohort(model, cohort, TIMES, outputs=["C", "A"], regimen=REGIMEN, out=run, chunk_size=5,
                              resume=True)
    assert np.array_equal(resumed.values, full.values) and resumed.subject_ids == full.subject_ids
    assert list(resumed.status) == ["ok"] * 23
    assert json.loads((run / MANIFEST).read_text())["complete"]


def test_resume_refuses_other_inputs(model: qs.Model, tmp_path: Path) -> None:
    run = tmp_path / "run"
    simulate_cohort(model, _cohort(6), TIMES, outputs=["C"], regimen=REGIMEN, out=run, chunk_size=4)
    with pytest.raises(ResumeError, match=r"inputs differ.*cohort_sha256"):
        simulate_cohort(model, _cohort(6, seed=2), TIMES, outputs=["C"], regimen=REGIMEN, out=run, chunk_size=4,
                        resume=True)
    with pytest.raises(ResumeError, match=r"inputs differ.*regimen"):
        simulate_cohort(model, _cohort(6), TIMES, outputs=["C"], regimen="100 mg po to A_gut", out=run,
                        chunk_size=4, resume=True)
    with pytest.raises(ResumeError, match=r"chunk_size: run has 4, now 3"):
        simulate_cohort(model, _cohort(6), TIMES, outputs=["C"], regimen=REGIMEN, out=run, chunk_size=3,
                        resume=True)


def test_cli_sigkill_mid_run_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    n = 600
    cohort_path = _cohort(n, seed=5).to_parquet(tmp_path / "cohort.parquet")
    args = ["simulate-cohort", str(THEO), str(cohort_path), "-r", "320 mg po q12h x 6 to A_gut",
            "--times", "0:72:0.5", "--output", "C", "--chunk-size", "25", "--batch-size", "5", "--no-progress"]
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "qsp_sbml", *args, "-o", str(killed)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    manifest = killed / "chunks" / MANIFEST
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.is_file() and len(json.loads(manifest.read_text())["chunks"]) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    state = json.loads(manifest.read_text())
    assert 2 <= len(state["chunks"]) < n // 25 and not state["complete"]
    assert not (killed / "timecourses.parquet").exists()  # no final output from a killed run

    runner = CliRunner()
    refused = runner.invoke(main, [*args, "-o", str(killed)])
    assert refused.exit_code == 1 and "partial run" in refused.output and "--resume" in refused.output
    resumed = runner.invoke(main, [*args, "-o", str(killed), "--resume", "--json"])
    assert resumed.exit_code == 0, resumed.output
    whole = tmp_path / "whole"
    assert runner.invoke(main, [*args, "-o", str(whole)]).exit_code == 0

    a, b = np.load(killed / "trajectories.npz"), np.load(whole / "trajectories.npz")
    assert np.array_equal(a["values"], b["values"]) and np.isfinite(a["values"]).all()
    assert list(a["subject_id"]) == list(b["subject_id"])
    tidy = pd.read_parquet(killed / "timecourses.parquet")
    counts = tidy.groupby("subject_id").size()
    assert len(counts) == n and (counts == 145).all()  # no subject lost or duplicated
    pd.testing.assert_frame_equal(tidy, pd.read_parquet(whole / "timecourses.parquet"))
    assert not (killed / "chunks").exists()  # the checkpoint is removed once the results are whole


def test_cli_reports_failures_by_kind(tmp_path: Path) -> None:
    table = _cohort(5).table.copy()
    table.loc[2, "CL"] = -1e6
    cohort_path = Cohort(table, {"parameters": ("CL", "Vc", "ka")}, 1).to_parquet(tmp_path / "c.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = CliRunner().invoke(main, ["simulate-cohort", str(THEO), str(cohort_path), "-r", REGIMEN,
                                        "--times", "0:36:1", "--output", "C", "-o", str(tmp_path / "r")])
    assert out.exit_code == 0
    assert "4 of 5 subjects simulated" in out.output and "1 subject(s) not simulated (1 failed)" in out.output
    strict = CliRunner().invoke(main, ["simulate-cohort", str(THEO), str(cohort_path), "-r", REGIMEN,
                                       "--times", "0:36:1", "--output", "C", "-o", str(tmp_path / "s"), "--strict"])
    assert strict.exit_code == 1 and not (tmp_path / "s").exists()
