"""The renal-impairment table reader and comparison (qsp_sbml.pbpk.renal_impairment): bad input and arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qsp_sbml.loading import load_model
from qsp_sbml.pbpk import load_drugs
from qsp_sbml.pbpk.renal_impairment import RenalArmError, load_renal_arms, predict_renal
from qsp_sbml.resources import project_models_dir

PBPK = project_models_dir() / "pbpk"
HEADER = ("drug\tstudy\tdataset\treference\trole\tcontrol\tegfr\tegfr_basis\tsex\tage_y\tweight_kg\theight_cm\troute\t"
          "dose_mg\tdose_times_h\tmatrix\ttime_h\tvalue\tunit")


def _row(dataset: str, role: str, control: str, egfr: str, t: float, v: float, *, study: str = "S 2000",
         drug: str = "atenolol") -> str:
    return (f"{drug}\t{study}\t{dataset}\tref\t{role}\t{control}\t{egfr}\tgiven\tmale\t50\t70\t175\toral\t50\t0\t"
            f"plasma\t{t}\t{v}\tmg/L")


def _table(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "renal.tsv"
    path.write_text("# comment\n" + HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


GOOD = [_row("H", "control", "", "", t, v) for t, v in ((1, 0.2), (4, 0.3), (24, 0.05))] + \
       [_row("G4", "impaired", "H", "20", t, v) for t, v in ((1, 0.3), (4, 0.5), (24, 0.2))]


def test_the_shipped_table_reads_and_pairs_every_impaired_arm_with_its_own_study() -> None:
    arms = load_renal_arms(PBPK / "validation" / "renal_impairment_profiles.tsv", load_drugs(PBPK / "drugs"))
    by_name = {a.dataset: a for a in arms}
    impaired = [a for a in arms if a.role == "impaired"]
    assert len(impaired) == 8 and all(by_name[a.control].study == a.study for a in impaired)
    assert by_name["Kirch_CKD5"].dose_times_h == (0.0, 24.0, 48.0, 72.0, 96.0, 120.0, 144.0)
    assert by_name["Kirch_CKD5"].subject()["kdigo_target"] == "G5"
    assert by_name["Wan_Healthy"].subject()["kdigo_target"] is None


def test_blood_profiles_are_plasma_times_the_records_blood_to_plasma_ratio(tmp_path: Path) -> None:
    drugs = load_drugs(PBPK / "drugs")
    drugs["atenolol"] = drugs["atenolol"].model_copy(update={"bp": 1.6})  # the shipped record's B:P is 1
    model = load_model(PBPK / "wholebody_pbpk.xml", guard=False)
    plasma = predict_renal(load_renal_arms(_table(tmp_path, *GOOD), drugs), drugs, model).set_index("dataset")
    blood_rows = [r.replace("\tplasma\t", "\tblood\t") for r in GOOD]
    blood = predict_renal(load_renal_arms(_table(tmp_path, *blood_rows), drugs), drugs, model).set_index("dataset")
    assert blood.loc["H", "auc_pred"] == pytest.approx(1.6 * plasma.loc["H", "auc_pred"], rel=1e-9)


def test_ratio_to_control_is_the_ratio_of_the_trapezoid_aucs(tmp_path: Path) -> None:
    drugs = load_drugs(PBPK / "drugs")
    arms = load_renal_arms(_table(tmp_path, *GOOD), drugs)
    table = predict_renal(arms, drugs, load_model(PBPK / "wholebody_pbpk.xml", guard=False)).set_index("dataset")
    auc_h = np.trapezoid([0.2, 0.3, 0.05], [1, 4, 24])
    auc_g4 = np.trapezoid([0.3, 0.5, 0.2], [1, 4, 24])
    assert table.loc["G4", "obs_ratio_to_control"] == pytest.approx(auc_g4 / auc_h)
    # the same windows on both arms here, so the common-window ratio is the judged one
    assert table.loc["G4", "obs_ratio_common"] == pytest.approx(table.loc["G4", "obs_ratio_to_control"])
    assert table.loc["G4", "pred_ratio_common"] == pytest.approx(table.loc["G4", "pred_ratio_to_control"])
    # less GFR, less renal clearance of a renally cleared drug: exposure rises
    assert table.loc["G4", "pred_ratio_to_control"] > 1.5
    assert table.loc["H", "within_2fold"] is None


@pytest.mark.parametrize(("rows", "message"), [
    ([*GOOD[:3], *(r.replace("\tH\t20\t", "\tX\t20\t") for r in GOOD[3:])],
     ("renal.tsv:6, column control", "'X' is not a control arm", "['H']")),
    ([*GOOD[:3], *(r.replace("S 2000\tG4", "T 2001\tG4") for r in GOOD[3:])],
     ("renal.tsv:6, column control", "control 'H' is from S 2000", "not from the arm's own study T 2001")),
    ([*GOOD[:3], *(r.replace("\tH\t20\t", "\tH\t\t") for r in GOOD[3:])],
     ("renal.tsv:6, column egfr", "an impaired arm needs its eGFR below 90",)),
    ([*GOOD[:3], GOOD[3], GOOD[5], GOOD[4]], ("renal.tsv:8, column time_h", "4 h does not follow 24 h")),
    ([*GOOD[:3], *(r.replace("atenolol", "atenololx") for r in GOOD[3:])],
     ("renal.tsv:6, column drug", "no drug record 'atenololx'")),
    ([*GOOD[:3], GOOD[3].replace("\tmale\t", "\tfemale\t"), *GOOD[4:]],
     ("renal.tsv:7, column sex", "'male' differs from 'female' on line 6", "'G4'")),
    ([r.replace("\t0\tplasma", "\t48\tplasma") for r in GOOD[:3]] + GOOD[3:],
     ("renal.tsv:3, column time_h", "1 h is not after the first dose (48 h)")),
    ([*GOOD[:3], *(r.replace("\t0\tplasma", "\t0,x\tplasma") for r in GOOD[3:])],
     ("renal.tsv:6, column dose_times_h", "'0,x' is not a comma-separated list")),
    ([*GOOD[:3], *(r.replace("\t0\tplasma", "\t24,12\tplasma") for r in GOOD[3:])],
     ("renal.tsv:6, column dose_times_h", "must list ascending, distinct times")),
    ([*GOOD[:3], GOOD[3]], ("renal.tsv:6", "data set 'G4' has 1 point; an AUC needs two")),
    ([*GOOD[:3], *(r.replace("\tmale\t50\t70\t175\t", "\tmale\t12\t70\t175\t") for r in GOOD[3:])],
     ("renal.tsv:6, column age_y", "12 is outside the adult range")),
    ([*GOOD[:3], *(r.replace("\tmale\t50\t70\t175\t", "\tmale\t50\t70\t1.75\t") for r in GOOD[3:])],
     ("renal.tsv:6, column height_cm", "1.75 is outside the adult range")),
    ([r.replace("control\t\t\t", "control\t\t60\t") for r in GOOD[:3]] + GOOD[3:],
     ("renal.tsv:3, column egfr", "a control arm is simulated with healthy kidneys", "60 is below 90")),
    ([r.replace("\tH\tref\t", "\t\tref\t") for r in GOOD[:3]] + GOOD[3:],
     ("renal.tsv:3, column dataset", "must not be empty")),
])
def test_bad_tables_are_refused_naming_file_line_and_column(tmp_path: Path, rows: list[str],
                                                             message: tuple[str, ...]) -> None:
    with pytest.raises(RenalArmError) as err:
        load_renal_arms(_table(tmp_path, *rows), load_drugs(PBPK / "drugs"))
    for part in message:
        assert part in str(err.value)


def test_qualify_report_has_a_renal_section_and_no_renal_leaves_it_out(tmp_path: Path) -> None:
    import csv
    import json

    from click.testing import CliRunner

    from qsp_sbml.cli import main

    report = tmp_path / "report"
    result = CliRunner().invoke(main, ["pbpk", "qualify", "--drug", "atenolol", "--no-ddi", "--no-paediatric",
                                       "--report", str(report), "--json"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((report / "renal.tsv").open(encoding="utf-8"), delimiter="\t"))
    impaired = [r for r in rows if r["role"] == "impaired"]
    met = sum(r["within_2fold"] == "True" for r in impaired)
    assert len(rows) == 9 and len(impaired) == 6
    assert met == 5  # Wan 1979's arm is the miss (tests/test_impairment_check.py)
    assert json.loads((report / "summary.json").read_text(encoding="utf-8"))["renal_within_2fold"] == [met, 6]

    def no_nan(token: str) -> float:
        raise AssertionError(f"--json printed {token}, which is not JSON")

    payload = json.loads(result.output, parse_constant=no_nan)
    assert [r["dataset"] for r in payload["renal"]] == [r["dataset"] for r in rows]
    control = next(r for r in payload["renal"] if r["role"] == "control")
    assert control["obs_ratio_to_control"] is None and control["within_2fold"] is None
    text = (report / "report.md").read_text(encoding="utf-8")
    assert "## Renal impairment" in text and f"**{met} of 6** impaired arms" in text
    assert "![renal impairment](renal.png)" in text and (report / "renal.png").read_bytes()[:4] == b"\x89PNG"
    assert "| atenolol | Kirch 1981 | Kirch_CKD5 | impaired | 7 | G5 |" in text

    bare = tmp_path / "bare"
    result = CliRunner().invoke(main, ["pbpk", "qualify", "--drug", "atenolol", "--no-ddi", "--no-paediatric",
                                       "--no-renal", "--report", str(bare)])
    assert result.exit_code == 0, result.output
    assert not (bare / "renal.tsv").exists() and not (bare / "renal.png").exists()
    assert "## Renal impairment" not in (bare / "report.md").read_text(encoding="utf-8")
    assert json.loads((bare / "summary.json").read_text(encoding="utf-8"))["renal_within_2fold"] is None


def test_a_drug_with_renal_arms_only_is_refused_by_drug_with_where_its_arms_are(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from qsp_sbml.cli import main

    result = CliRunner().invoke(main, ["pbpk", "qualify", "--drug", "gabapentin", "--report", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "--drug gabapentin: no profiles" in result.output
    assert "gabapentin: renal-impairment arms only" in result.output and "leave out --drug" in result.output
    assert not (tmp_path / "r").exists()
