"""``qsp-sbml vpop`` and ``qsp-sbml simulate-cohort``: exit codes, outputs, no partial output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from qsp_sbml.cli import main
from qsp_sbml.population import Cohort

REPO = Path(__file__).resolve().parents[1]
THEO = REPO / "petab_problems" / "theophylline" / "model.xml"

SPEC = f"""\
kind: vpop
model: {THEO}
parameters: {{CL: 2.8, Vc: 32.0, ka: 1.5}}
iiv:
  cv: {{CL: 0.3, Vc: 0.25, ka: 0.4}}
selection:
  regimen: "320 mg po to A_gut"
  biomarker: C
  time: 12
  plausible: [0.2, 40]
  target: {{distribution: lognormal, median: 3.5, cv: 0.25}}
"""


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_vpop_with_selection_then_simulate_cohort(tmp_path: Path) -> None:
    spec = tmp_path / "vpop.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "cohort.parquet"
    code, stdout, _ = _run("vpop", str(spec), "-n", "400", "--seed", "3", "-o", str(out), "--json")
    assert code == 0, stdout
    summary = json.loads(stdout)
    assert summary["n_candidates"] == 400 and 20 < summary["n"] < 400
    cohort = Cohort.read_parquet(out)
    assert cohort.seed == 3 and cohort.n == summary["n"]
    assert cohort.provenance["selection"]["n"] == cohort.n
    assert "iiv" in cohort.provenance["spec"]
    again = tmp_path / "again.parquet"
    assert _run("vpop", str(spec), "-n", "400", "--seed", "3", "-o", str(again))[0] == 0
    pd.testing.assert_frame_equal(Cohort.read_parquet(again).table, cohort.table)

    res = tmp_path / "res"
    code, stdout, stderr = _run("simulate-cohort", str(THEO), str(out), "-r", "320 mg po q12h x 2 to A_gut",
                                "--times", "0:24:1", "--output", "C", "-o", str(res), "--nca-interval", "12,24",
                                "--engine", "serial", "--json")
    assert code == 0, stdout + stderr
    assert sorted(p.name for p in res.iterdir()) == ["nca.parquet", "provenance.json", "subjects.parquet",
                                                    "timecourses.parquet", "trajectories.npz"]
    tidy = pd.read_parquet(res / "timecourses.parquet")
    assert len(tidy) == cohort.n * 25
    arrays = np.load(res / "trajectories.npz")
    assert arrays["values"].shape == (cohort.n, 25, 1)
    assert len(pd.read_parquet(res / "nca.parquet")) == cohort.n
    assert json.loads((res / "provenance.json").read_text())["cohort_seed"] == 3
    # the simulated C at 12 h of the first dose is the selection biomarker
    assert np.allclose(arrays["values"][:, 12, 0], cohort.table["biomarker_C"], rtol=1e-6)
    # --method auto: the linear PK model solved exactly, the same trajectories, provenance says so
    fast = tmp_path / "fast"
    code, stdout, stderr = _run("simulate-cohort", str(THEO), str(out), "-r", "320 mg po q12h x 2 to A_gut",
                                "--times", "0:24:1", "--output", "C", "-o", str(fast), "--method", "auto")
    assert code == 0, stdout + stderr
    assert json.loads((fast / "provenance.json").read_text())["method"] == "linear-pk"
    fast_values = np.load(fast / "trajectories.npz")["values"]
    assert np.max(np.abs(fast_values - arrays["values"])) <= 1e-6 * np.max(arrays["values"])


def test_bad_spec_names_line_and_key_and_writes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(SPEC.replace("iiv:", "iiv_typo:"))
    out = tmp_path / "cohort.parquet"
    code, _, stderr = _run("vpop", str(spec), "-n", "10", "--seed", "1", "-o", str(out))
    assert code == 1
    assert "bad.yaml, line 4, field iiv_typo: unknown field" in stderr and "Traceback" not in stderr
    assert not out.exists()
    spec.write_text(SPEC.replace("cv: {CL: 0.3", "cv: {CL: -0.3"))
    code, _, stderr = _run("vpop", str(spec), "-n", "10", "--seed", "1", "-o", str(out))
    assert code == 1 and "bad.yaml, line 5, field iiv.cv.CL: Input should be greater than 0 (got -0.3)" in stderr
    spec.write_text(SPEC.replace("cv: {CL: 0.3, Vc: 0.25, ka: 0.4}", "omega: [[0.09]]"))
    code, _, stderr = _run("vpop", str(spec), "-n", "10", "--seed", "1", "-o", str(out))
    assert code == 1 and "bad.yaml, line 4, field iiv.parameters: with omega, give parameters" in stderr
    assert not out.exists()


def test_simulate_cohort_bad_cohort_and_usage(tmp_path: Path) -> None:
    cohort = Cohort.from_parts(parameters=pd.DataFrame({"CL": [2.0, 3.0], "Vcc": [30.0, 31.0]}), seed=1)
    path = cohort.to_parquet(tmp_path / "c.parquet")
    res = tmp_path / "res"
    code, _, stderr = _run("simulate-cohort", str(THEO), str(path), "--times", "0:4:1", "--output", "C",
                           "-o", str(res))
    assert code == 1 and "column 'Vcc': unknown column" in stderr and "did you mean 'Vc'" in stderr
    assert not res.exists()
    good = Cohort.from_parts(parameters=pd.DataFrame({"CL": [2.0, np.nan]}), seed=1).to_parquet(tmp_path / "g.parquet")
    code, _, stderr = _run("simulate-cohort", str(THEO), str(good), "--times", "0:4:1", "--output", "C",
                           "-o", str(res))
    assert code == 1 and "row 2, column 'CL'" in stderr
    code, _, stderr = _run("simulate-cohort", str(THEO), str(good), "--times", "0:4:1", "--output", "C",
                           "-o", str(res), "--require", "ka")
    assert code == 1 and "missing column 'ka'" in stderr
    assert not res.exists() and not list(tmp_path.glob(".res.*"))
    code, _, _ = _run("simulate-cohort", str(THEO), str(path), "--output", "C", "-o", str(res))
    assert code == 2  # --times missing: a usage error


def test_vpop_pbpk_population_with_genotypes(tmp_path: Path) -> None:
    spec = tmp_path / "pbpk.yaml"
    spec.write_text(f"kind: vpop\nmodel: {REPO / 'models' / 'pbpk' / 'wholebody_pbpk.xml'}\npreset: healthy_adults\n"
                    "drug: midazolam\ngenotypes: {genes: [CYP2C9, CYP2D6, CYP2C19], group: European}\n")
    out = tmp_path / "c.parquet"
    code, stdout, stderr = _run("vpop", str(spec), "-n", "30", "--seed", "2", "-o", str(out))
    assert code == 0, stdout + stderr
    cohort = Cohort.read_parquet(out)
    assert cohort.columns["genotypes"] == ("CYP2C9", "CYP2D6", "CYP2C19")
    assert {"m_CYP2C9", "m_CYP2D6", "m_CYP2C19", "fu"} <= set(cohort.parameter_columns)
    poor = cohort.table["CYP2D6"] == "*4/*4"
    assert (cohort.table.loc[poor, "m_CYP2D6"] == 0).all()
    # CYP2C19 *17 carriers (a third of Europeans) get their phenotype's multiplier instead of an error
    from qsp_sbml.pharmacogenomics import clearance_multiplier
    expected = [clearance_multiplier("CYP2C19", d) for d in cohort.table["CYP2C19"]]
    np.testing.assert_allclose(cohort.table["m_CYP2C19"], expected)
    assert cohort.table["CYP2C19"].str.contains(r"\*17").any()
    res = tmp_path / "res"
    code, stdout, stderr = _run("simulate-cohort", str(REPO / "models" / "pbpk" / "wholebody_pbpk.xml"), str(out),
                                "-r", "7.5 mg po to drug_gi_lumen", "--times", "0:24:1", "--output", "C_plasma",
                                "-o", str(res))
    assert code == 0, stdout + stderr
    assert "30 of 30 subjects simulated" in stdout
