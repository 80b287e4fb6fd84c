"""Sensitivity analysis of models: CLI, bad input, resumable runs, engines, the whole-body PBPK."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qsp_sbml.resources import MODELS_DIR
from qsp_sbml.sensitivity import read_spec, run_gsa

pytest.importorskip("SALib")

DATA = Path(__file__).parent / "data" / "gsa"
ONE_CMT = MODELS_DIR / "pk_one_compartment_iv.xml"

SPEC = f"""\
kind: gsa
model: {ONE_CMT}
regimen: "100 mg iv to A"
times: "0:24:2"
parameters:
  - id: CL
    factor: 2
  - id: Vc
    lower: 10
    upper: 40
outputs:
  - {{id: auc, kind: nca, selection: C, metric: auc_inf}}
  - {{id: c12, kind: value, selection: C, time: 12}}
  - {{id: profile, kind: trajectory, selection: C}}
"""


def _spec(tmp_path: Path, text: str = SPEC) -> Path:
    p = tmp_path / "gsa.yaml"
    p.write_text(text)
    return p


def test_one_compartment_auc_depends_on_clearance_only(tmp_path: Path) -> None:
    spec, doc = read_spec(_spec(tmp_path))
    r = run_gsa(spec, method="sobol", n=64, seed=1, num_resamples=200, doc=doc)
    st = r.indices.query("output == 'auc' and index == 'ST'").set_index("factor")
    # AUC_inf = dose / CL exactly: all of its variance is CL's
    assert st.loc["CL", "ci_low"] <= 1.0 <= st.loc["CL", "ci_high"] and st.loc["CL", "value"] > 0.9
    assert st.loc["Vc", "value"] < 0.01
    assert np.allclose(r.outputs[:, 0], 100 / r.design.values[:, 0], rtol=2e-3)
    # the trajectory has an index per time; at t = 0 C = dose / Vc, so Vc carries everything
    prof = r.indices.query("output == 'profile' and index == 'ST' and time == 0").set_index("factor")
    assert prof.loc["Vc", "value"] == pytest.approx(1.0, abs=0.02)
    assert r.convergence is not None and set(r.convergence["output"]) == {"auc", "c12"}


def test_cli_writes_tables_and_plots(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    res = run(
        "gsa", _spec(tmp_path), "--method", "sobol", "--n", "16", "--seed", "3", "--out", out, "--resamples", "50"
    )
    assert res.exit_code == 0, res.output
    assert "auc:" in res.output and "CL" in res.output
    names = {p.name for p in out.iterdir()}
    assert {
        "indices.tsv",
        "samples.tsv",
        "convergence.tsv",
        "summary.json",
        "summary.txt",
        "sobol_auc.png",
        "sobol_c12.png",
        "sobol_time_profile.png",
    } <= names
    table = pd.read_csv(out / "indices.tsv", sep="\t")
    assert list(table.columns) == ["output", "time", "factor", "index", "value", "ci_low", "ci_high"]
    assert not (tmp_path / "out.checkpoint").exists()
    res = run(
        "gsa",
        _spec(tmp_path),
        "--method",
        "morris",
        "--n",
        "6",
        "--seed",
        "3",
        "--out",
        tmp_path / "m",
        "--resamples",
        "50",
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m" / "morris_auc.png").is_file()


BAD = [
    (
        "    lower: 10\n    upper: 40\n",
        "    lower: 40\n    upper: 10\n",
        "line 8, field parameters[1]: lower (40.0) must be below upper (10.0)",
    ),
    (
        "  - id: CL\n",
        "  - id: CLx\n",
        "line 6, field parameters[0].id: the model has no parameter 'CLx'; did you mean 'CL'",
    ),
    (
        "selection: C, metric",
        "selection: Cp, metric",
        "line 12, field outputs[0].selection: the model has no output 'Cp'",
    ),
    ("time: 12}", "time: 12.5}", "line 13, field outputs[1].time: time 12.5 is not one of the spec's times"),
    ("kind: gsa\n", "kind: trial\n", "line 1, field kind: Input should be 'gsa'"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD)
def test_bad_input_names_line_and_field_and_writes_nothing(
    tmp_path: Path,
    run,
    old: str,
    new: str,  # type: ignore[no-untyped-def]
    message: str,
) -> None:
    assert old in SPEC
    spec = _spec(tmp_path, SPEC.replace(old, new))
    res = run("gsa", spec, "--method", "sobol", "--n", "16", "--seed", "1", "--out", tmp_path / "out")
    assert res.exit_code == 1
    assert f"error: {spec}, {message}" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gsa.yaml"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--method", "sobol", "--n", "24"), "must be a power of two"),
        (("--method", "sobol", "--n", "8"), "too small for sobol"),
        (("--method", "morris", "--n", "2"), "too small for morris"),
        (("--n", "16"), "give --method"),
    ],
)
def test_n_too_small_exits_1_and_writes_nothing(tmp_path: Path, run, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    res = run("gsa", _spec(tmp_path), *args, "--seed", "1", "--out", tmp_path / "out")
    assert res.exit_code == 1 and message in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gsa.yaml"]


def test_killed_sobol_run_resumes_to_the_identical_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qsp_sbml.population import checkpoint

    spec, _ = read_spec(_spec(tmp_path))
    kwargs = {"method": "sobol", "n": 16, "seed": 5, "num_resamples": 100, "chunk_size": 8}
    whole = run_gsa(spec, **kwargs)  # type: ignore[arg-type]

    original = checkpoint.Checkpoint.write
    written: list[int] = []

    def write_then_die(self, index, data, subject_ids):  # type: ignore[no-untyped-def]
        original(self, index, data, subject_ids)
        written.append(index)
        if len(written) == 3:
            raise KeyboardInterrupt  # the run is killed once three chunks are on disk

    monkeypatch.setattr(checkpoint.Checkpoint, "write", write_then_die)
    folder = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        run_gsa(spec, checkpoint=folder, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(checkpoint.Checkpoint, "write", original)
    assert len(list(folder.glob("chunk-*.parquet"))) == 3  # of 64 runs / 8 = 8 chunks
    with pytest.raises(checkpoint.ResumeError, match="partial run"):
        run_gsa(spec, checkpoint=folder, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(checkpoint.ResumeError, match="cohort_sha256"):  # another seed is another design
        run_gsa(spec, checkpoint=folder, resume=True, **{**kwargs, "seed": 6})  # type: ignore[arg-type]
    resumed = run_gsa(spec, checkpoint=folder, resume=True, **kwargs)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(resumed.indices, whole.indices)
    np.testing.assert_array_equal(resumed.outputs, whole.outputs)


def _pbpk_spec() -> Path:
    return DATA / "midazolam_iv.yaml"


@pytest.mark.slow
def test_pbpk_iv_auc_ranks_clearance_parameters_first() -> None:
    spec, doc = read_spec(_pbpk_spec())
    r = run_gsa(spec, method="sobol", n=128, seed=1, doc=doc)
    st = r.indices.query("output == 'auc' and index == 'ST'").sort_values("value", ascending=False)
    # well-stirred liver: CL_H = Q_h fu_b CLint / (Q_h + fu_b CLint), fu_b = fu / BP (Pang & Rowland 1977)
    assert set(st["factor"].iloc[:3]) == {"CLint_CYP3A4", "fu", "BP"}
    # distribution (Kp) and renal (GFR: midazolam is not renally cleared) parameters barely matter
    assert st.set_index("factor").loc[["Kp_adipose", "Kp_muscle", "GFR"], "value"].max() < 0.02
    s1 = r.indices.query("output == 'auc' and index == 'S1'")
    assert s1["ci_low"].sum() <= 1.0  # sum of first-order indices <= 1 within the intervals


@pytest.mark.slow
def test_pbpk_same_indices_on_serial_process_and_dask_engines() -> None:
    pytest.importorskip("distributed")
    from qsp_sbml.distributed import DaskEngine
    from qsp_sbml.engine import ProcessEngine, SerialEngine

    spec, doc = read_spec(_pbpk_spec())
    spec = spec.model_copy(update={"outputs": spec.outputs[:2]})
    results = []
    for engine in (SerialEngine(), ProcessEngine(2), DaskEngine(n_workers=2)):
        with engine if isinstance(engine, DaskEngine) else _null():
            results.append(run_gsa(spec, method="sobol", n=16, seed=4, engine=engine, num_resamples=100, doc=doc))
    for other in results[1:]:
        np.testing.assert_array_equal(other.outputs, results[0].outputs)
        pd.testing.assert_frame_equal(other.indices, results[0].indices)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_population_responder_rate_is_the_fraction_of_subjects(tmp_path: Path) -> None:
    from scipy import stats

    # one compartment, IV bolus: C(t) = D / Vc exp(-CL t / Vc); with CL log-normal (cv) around the row's CL,
    # C(12) < c* <=> log CL > log(Vc / 12 * log(D / (Vc c*))): the rate is a normal tail probability
    text = SPEC[: SPEC.index("outputs:")] + (
        "population: {n: 200, cv: {CL: 0.4}, seed: 3}\noutputs:\n"
        "  - {id: rate, kind: responder_rate, selection: C, time: 12, of: value, threshold: 0.5, direction: below}\n"
    )
    spec, doc = read_spec(_spec(tmp_path, text))
    r = run_gsa(spec, method="morris", n=4, seed=2, num_resamples=50, doc=doc)
    assert r.attrs["subjects_per_run"] == 200 and r.design.n_runs == 12
    cl, vc = r.design.values[:, 0], r.design.values[:, 1]
    cut = np.log(vc / 12 * np.log(100 / (vc * 0.5)))
    omega = np.sqrt(np.log1p(0.4**2))
    expected = stats.norm.sf((cut - np.log(cl)) / omega)
    rate = r.outputs[:, 0]
    assert np.all(np.abs(rate - expected) < 0.1)  # 200 subjects: binomial sd <= 0.035
    assert set(np.round(rate * 200, 6) % 1) == {0.0}  # a fraction of the 200 subjects


def test_population_needs_a_population_and_known_parameters(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    text = SPEC.replace(
        "  - {id: profile, kind: trajectory, selection: C}\n",
        "  - {id: rate, kind: responder_rate, selection: C, time: 12, threshold: -50}\n",
    )
    res = run("gsa", _spec(tmp_path, text), "--method", "sobol", "--n", "16", "--seed", "1", "--out", tmp_path / "o")
    assert res.exit_code == 1 and "need a population: section" in res.output
    text = text.replace("outputs:\n", "population:\n  n: 10\n  cv: {CLx: 0.3}\noutputs:\n")
    res = run("gsa", _spec(tmp_path, text), "--method", "sobol", "--n", "16", "--seed", "1", "--out", tmp_path / "o")
    assert res.exit_code == 1 and "line 13, field population.cv.CLx: the model has no parameter 'CLx'" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gsa.yaml"]


@pytest.mark.slow
def test_cli_resume_after_a_kill_writes_the_same_tables(tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from qsp_sbml.population import checkpoint

    spec = _spec(tmp_path)
    args = ["--method", "sobol", "--n", "16", "--seed", "2", "--resamples", "50", "--no-plots", "--chunk-size", "8"]
    assert run("gsa", spec, *args, "--out", tmp_path / "whole").exit_code == 0
    original = checkpoint.Checkpoint.write

    def write_then_die(self, index, data, subject_ids):  # type: ignore[no-untyped-def]
        original(self, index, data, subject_ids)
        if len(self.chunks) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.Checkpoint, "write", write_then_die)
    killed = run("gsa", spec, *args, "--out", tmp_path / "again")
    assert killed.exit_code == 1 and "Aborted" in killed.output  # click turns the interrupt into an abort
    monkeypatch.setattr(checkpoint.Checkpoint, "write", original)
    assert not (tmp_path / "again").exists() and (tmp_path / "again.checkpoint" / "manifest.json").is_file()
    res = run("gsa", spec, *args, "--out", tmp_path / "again")
    assert res.exit_code == 1 and "pass --resume" in res.output
    res = run("gsa", spec, *args, "--out", tmp_path / "again", "--resume")
    assert res.exit_code == 0, res.output
    for name in ("indices.tsv", "samples.tsv", "convergence.tsv"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert not (tmp_path / "again.checkpoint").exists()


@pytest.mark.slow
def test_sigkilled_cli_run_resumes_to_the_same_tables(tmp_path: Path) -> None:
    """A real kill (SIGKILL of the process, not an exception): the checkpoint on disk resumes to the same bytes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    spec = _spec(tmp_path)
    args = ["gsa", str(spec), "--method", "sobol", "--n", "256", "--seed", "3", "--resamples", "50", "--no-plots",
            "--chunk-size", "16"]
    cmd = [sys.executable, "-m", "qsp_sbml.cli", *args]
    whole = subprocess.run([*cmd, "--out", str(tmp_path / "whole")], capture_output=True, text=True, check=False)
    assert whole.returncode == 0, whole.stderr
    ckpt = tmp_path / "again.checkpoint"
    proc = subprocess.Popen([*cmd, "--out", str(tmp_path / "again")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(ckpt.glob("chunk-*.parquet"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed; raise --n"
    kept = len(list(ckpt.glob("chunk-*.parquet")))
    assert 2 <= kept < 64 and not (tmp_path / "again").exists()  # 256 * 4 runs / 16 = 64 chunks
    res = subprocess.run([*cmd, "--out", str(tmp_path / "again"), "--resume"], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stderr
    for name in ("indices.tsv", "samples.tsv", "convergence.tsv"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
