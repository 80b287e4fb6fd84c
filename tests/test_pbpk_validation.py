"""`qsp-sbml pbpk validate`: the shipped validation passes; bad tables and failing thresholds exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qsp_sbml.cli import main
from qsp_sbml.pbpk import load_drugs
from qsp_sbml.pbpk.validation import THRESHOLDS, ObservationError, load_observations
from qsp_sbml.resources import project_models_dir

PBPK = project_models_dir() / "pbpk"
OBSERVED = PBPK / "validation" / "observed_pk.tsv"


def _invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def test_shipped_validation_meets_the_thresholds_and_reports_every_study() -> None:
    code, out = _invoke("pbpk", "validate", "--json")
    assert code == 0, out
    payload = json.loads(out)
    s = payload["summary"]
    assert s["gmfe_auc"] <= THRESHOLDS["gmfe_auc"] and s["gmfe_cmax"] <= THRESHOLDS["gmfe_cmax"]
    assert s["within_2fold"] >= THRESHOLDS["within_2fold"]
    drugs = {row["drug"] for row in payload["comparisons"]}
    assert len(drugs) >= 6
    assert s["n"] == len(load_observations(OBSERVED))


def test_validation_fails_when_predictions_are_off(tmp_path: Path) -> None:
    # A drug record with a 5-fold wrong clearance must fail the thresholds (the check can fail).
    drugs = tmp_path / "drugs"
    drugs.mkdir()
    for path in (PBPK / "drugs").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if line.strip().startswith("cl_iv:"):
                value = float(line.split(":")[1])
                text = text.replace(line, f"  cl_iv: {value / 5}")
        (drugs / path.name).write_text(text, encoding="utf-8")
    code, out = _invoke("pbpk", "validate", "--drugs", drugs)
    assert code == 1
    assert "FAIL" in out and "gmfe_auc" in out


@pytest.mark.parametrize(("edit", "message"), [
    (("\tauc_inf\t", "\tauc_forever\t"), "column metric"),
    (("\t250.3\t", "\t-1\t"), "column value"),
    (("\tng*h/mL\t", "\tpound*h/mL\t"), "column unit"),
    (("midazolam\tSchwagmeier", "midazolamx\tSchwagmeier"), "no drug record 'midazolamx'"),
    (("\tiv\t5\t", "\tnasal\t5\t"), "column route"),
])
def test_bad_observation_rows_name_file_row_and_column(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    text = OBSERVED.read_text(encoding="utf-8")
    assert edit[0] in text
    bad = tmp_path / "observed.tsv"
    bad.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(ObservationError, match=message) as info:
        load_observations(bad, load_drugs(PBPK / "drugs"))
    assert "observed.tsv row 5" in str(info.value)
    code, out = _invoke("pbpk", "validate", "--observed", bad)
    assert code == 1 and message.split()[0] in out and "Traceback" not in out


def test_kp_command_prints_partition_coefficients() -> None:
    code, out = _invoke("pbpk", "kp", PBPK / "drugs" / "atenolol.yaml", "--json")
    assert code == 0, out
    payload = json.loads(out)
    assert set(payload["kp"]) >= {"adipose", "liver", "rest"}
    assert payload["cl_renal_l_per_h"] == pytest.approx(0.95 * 10.5)


def test_validate_writes_table_and_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the 'plot' extra is not installed")
    code, out = _invoke("pbpk", "validate", "-o", tmp_path / "v.tsv", "--plot", tmp_path / "v.png")
    assert code == 0, out
    assert (tmp_path / "v.png").read_bytes()[:4] == b"\x89PNG"
    assert "fold" in (tmp_path / "v.tsv").read_text(encoding="utf-8").splitlines()[0]
