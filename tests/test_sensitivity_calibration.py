"""From sensitivity analysis to calibration: fixing parameters with low total-order indices in a PEtab problem."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qsp_sbml.sensitivity import GsaSpec, SensitivityError, run_gsa
from qsp_sbml.sensitivity.calibration import below_threshold, fix_insensitive

pytest.importorskip("SALib")
THEO = Path(__file__).parents[1] / "petab_problems" / "theophylline"


def _table(values: dict[str, float], output: str = "auc") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "output": output,
            "time": float("nan"),
            "factor": list(values),
            "index": "ST",
            "value": list(values.values()),
            "ci_low": 0.0,
            "ci_high": [v + 0.05 for v in values.values()],
        }
    )


def test_below_threshold_needs_every_output_low() -> None:
    t = pd.concat([_table({"CL": 0.9, "V": 0.01, "ka": 0.01}), _table({"CL": 0.2, "V": 0.01, "ka": 0.6}, "cmax")])
    assert below_threshold(t, threshold=0.05) == ["V"]
    assert below_threshold(t, threshold=0.05, outputs=["auc"]) == ["V", "ka"]
    assert below_threshold(t, threshold=0.05, use_upper=True) == []
    with pytest.raises(SensitivityError, match="threshold must be in"):
        below_threshold(t, threshold=1.5)
    with pytest.raises(SensitivityError, match="no total-order indices for output"):
        below_threshold(t, threshold=0.05, outputs=["tmax"])


def test_fix_writes_estimate_0_and_copies_the_rest(tmp_path: Path) -> None:
    done = fix_insensitive(
        THEO / "theophylline.yaml",
        _table({"CL": 0.7, "Vc": 0.01, "ka": 0.3}),
        tmp_path / "f",
        threshold=0.05,
        mapping={"Vc": ["V"]},
    )
    assert done.fixed == ["V"] and done.kept == ["CL", "ka"] and done.not_in_problem == []
    params = pd.read_csv(tmp_path / "f" / "parameters.tsv", sep="\t").set_index("parameterId")
    assert params.loc["V", "estimate"] == 0 and params.loc["V", "nominalValue"] == 32.06
    for name in ("theophylline.yaml", "model.xml", "measurements.tsv", "conditions.tsv", "observables.tsv"):
        assert (tmp_path / "f" / name).read_bytes() == (THEO / name).read_bytes()


@pytest.mark.slow
def test_gsa_then_petab_problem_with_ka_fixed(tmp_path: Path) -> None:
    pytest.importorskip("petab")
    from qsp_sbml.petab import PetabProblem

    # AUC_inf after an oral dose is F dose / CL: absorption rate and volume do not move it
    spec = GsaSpec(
        kind="gsa",
        model=str(THEO / "model.xml"),
        regimen="320 mg po to A_gut",
        times="0:72:1",
        fixed={"Vc": 32.0},
        parameters=[{"id": "CL", "factor": 2}, {"id": "ka", "factor": 3}],
        outputs=[{"id": "auc", "kind": "nca", "selection": "C", "metric": "auc_inf"}],
    )
    r = run_gsa(spec, method="sobol", n=16, seed=2, num_resamples=100)
    done = fix_insensitive(THEO / "theophylline.yaml", r.indices, tmp_path / "fixed", threshold=0.05)
    assert done.fixed == ["ka"] and done.kept == ["CL"] and done.not_analysed == ["V", "sigma_add", "sigma_prop"]
    params = pd.read_csv(tmp_path / "fixed" / "parameters.tsv", sep="\t").set_index("parameterId")
    original = pd.read_csv(THEO / "parameters.tsv", sep="\t").set_index("parameterId")
    assert params.loc["ka", "estimate"] == 0 and original.loc["ka", "estimate"] == 1
    pd.testing.assert_frame_equal(params.drop(index="ka"), original.drop(index="ka"))
    problem = PetabProblem.from_yaml(done.yaml)
    assert "ka" not in problem.x_free_ids and "CL" in problem.x_free_ids


def test_fix_refuses_files_outside_the_folder_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "problem.yaml").write_text("format_version: 1\nparameter_file: ../parameters.tsv\n")
    (tmp_path / "parameters.tsv").write_text("parameterId\testimate\tnominalValue\nk\t1\t2\n")
    with pytest.raises(SensitivityError, match="outside the problem's folder"):
        fix_insensitive(tmp_path / "p" / "problem.yaml", _table({"k": 0.0, "m": 1.0}), tmp_path / "out", threshold=0.1)
    assert not (tmp_path / "out").exists()


def test_cli_writes_the_fixed_problem_inside_the_results(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "theo.yaml"
    spec.write_text(f"""\
kind: gsa
model: {THEO / "model.xml"}
regimen: "320 mg po to A_gut"
times: "0:72:2"
fixed: {{Vc: 32}}
parameters:
  - {{id: CL, factor: 2}}
  - {{id: ka, factor: 3}}
outputs:
  - {{id: auc, kind: nca, selection: C, metric: auc_inf}}
""")
    args = [
        "gsa",
        spec,
        "--n",
        "16",
        "--seed",
        "1",
        "--out",
        tmp_path / "out",
        "--resamples",
        "50",
        "--no-plots",
        "--petab",
        THEO / "theophylline.yaml",
    ]
    res = run(*args, "--method", "morris")
    assert res.exit_code == 1 and "use --method sobol" in res.output and not (tmp_path / "out").exists()
    res = run(*args, "--method", "sobol")
    assert res.exit_code == 0, res.output
    assert "fixed: ka; kept: CL" in res.output
    params = pd.read_csv(tmp_path / "out" / "petab" / "parameters.tsv", sep="\t").set_index("parameterId")
    assert params.loc["ka", "estimate"] == 0 and params.loc["CL", "estimate"] == 1
