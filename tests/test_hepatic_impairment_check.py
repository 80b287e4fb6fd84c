"""Hepatic impairment presets checked on observed data: midazolam and alfentanil in cirrhosis vs healthy controls.

Observed (data, not code):

- Pentikainen PJ, Valisalmi L, Himberg JJ, Crevoisier C (1989) J Clin Pharmacol 29:272 (PMID 2723115), abstract:
  7 patients with cirrhosis vs 7 healthy subjects, midazolam 7.5 mg IV and 15 mg oral; total clearance 3.34 vs
  5.63 mL/min/kg, oral bioavailability 76 % vs 38 %, plasma protein binding unchanged.
- MacGilchrist AJ, Birnie GG, Cook A et al. (1986) Gut 27:190 (PMID 2936661): 7 patients with alcoholic
  cirrhosis vs 8 controls, midazolam 0.075 mg/kg IV; clearance 5.4 +- 1.0 vs 10.4 +- 1.3 mL/min/kg as tabulated
  in the OSP hepatic-impairment qualification (Open-Systems-Pharmacology/Qualification-HI, Midazolam_HI.md,
  Table 16; the abstract gives no numbers).
- Ferrier C, Marty J, Bouffard Y et al. (1985) Anesthesiology 62:480, abstract: 11 patients with alcoholic
  cirrhosis vs 10 controls, alfentanil 50 ug/kg IV; plasma clearance 1.6 +- 1.0 vs 3.1 +- 1.6 mL/min/kg,
  free fraction 18.6 +- 9.4 % vs 11.5 +- 3.9 %.

None of the studies reports Child-Pugh classes; the classes compared are those the OSP qualification assigned
from the reported albumin, bilirubin and ascites (Qualification-HI Midazolam_HI.md and Alfentanil_HI.md):
Pentikainen B and C, MacGilchrist A to C, Ferrier B and C.

Prediction: one typical adult (50 y, male, 73 kg, 176 cm) healthy and with the ``hepatic_A``/``_B``/``_C``
mapping of :func:`qsp_sbml.population.presets.subject_parameters` (enzyme, flow, shunt, binding, GFR and
hematocrit factors of OSP Qualification-HI Table 2), simulated through ``models/pbpk/wholebody_pbpk.xml``;
the ratio impaired / healthy of clearance (dose / AUC(0-inf) after IV), oral bioavailability (dose-normalised
oral over IV AUC) and fraction unbound is compared with the observed ratio of the study's means.  Nothing was
fitted to these data.  Run with ``-s`` to print the table.  The rows live in
``models/pbpk/validation/hepatic_impairment_studies.tsv`` (read by :mod:`qsp_sbml.pbpk.hepatic_impairment`,
which also gives ``qsp-sbml pbpk qualify`` its "Hepatic impairment" section); ``OBSERVED`` below is an
independent transcription of the same means that the table is checked against.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qsp_sbml.errors import PopulationError
from qsp_sbml.loading import load_model
from qsp_sbml.metrics import nca
from qsp_sbml.model import Model
from qsp_sbml.pbpk import load_drugs
from qsp_sbml.pbpk.drugs import DrugRecord
from qsp_sbml.pbpk.hepatic_impairment import (
    HepaticStudyError,
    hepatic_quantities,
    load_hepatic_studies,
    predict_hepatic,
)
from qsp_sbml.pbpk.parameters import hepatic_blood_flow, parameterise, total_clearance
from qsp_sbml.physiology import reference
from qsp_sbml.population.covariates import check_covariates
from qsp_sbml.population.presets import child_pugh_factors, hepatic_fu, subject_parameters
from qsp_sbml.resources import project_models_dir

PBPK = project_models_dir() / "pbpk"
STUDIES = PBPK / "validation" / "hepatic_impairment_studies.tsv"
TYPICAL = {"age": 50.0, "sex": "male", "weight_kg": 73.0, "height_cm": 176.0, "egfr": 95.0, "kdigo_target": None}
TIMES = np.unique(np.concatenate([[0.0], np.geomspace(1e-3, 120.0, 600)]))
FOLD = 2.0

#: (drug, study, quantity, Child-Pugh classes assigned by OSP, observed ratio impaired / healthy)
OBSERVED = [
    ("midazolam", "Pentikainen 1989 (PMID 2723115)", "CL", "BC", 3.34 / 5.63),
    ("midazolam", "Pentikainen 1989 (PMID 2723115)", "F", "BC", 0.76 / 0.38),
    ("midazolam", "MacGilchrist 1986 (PMID 2936661)", "CL", "ABC", 5.4 / 10.4),
    ("alfentanil", "Ferrier 1985 (Anesthesiology 62:480)", "CL", "BC", 1.6 / 3.1),
    ("alfentanil", "Ferrier 1985 (Anesthesiology 62:480)", "fu", "BC", 18.6 / 11.5),
]


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model(PBPK / "wholebody_pbpk.xml", guard=False)


@pytest.fixture(scope="module")
def drugs() -> dict[str, DrugRecord]:
    return load_drugs(PBPK / "drugs")


def _auc(model: Model, values: dict[str, float], regimen: str) -> float:
    c = model.simulate(TIMES, selections=["C_plasma"], parameters=values, regimen=regimen)
    # the solver's absolute tolerance leaves values of -1e-15 in the tail: clip them
    return float(nca(TIMES, np.clip(c["C_plasma"].to_numpy(), 0.0, None)).auc_inf)


@pytest.fixture(scope="module")
def ratios(model: Model, drugs: dict[str, DrugRecord]) -> dict[tuple[str, str, str], float]:
    """Predicted impaired / healthy ratio by (drug, quantity, Child-Pugh class)."""
    out = {}
    for name in ("midazolam", "alfentanil"):
        healthy = hepatic_quantities(model, drugs[name], None)
        for cp in "ABC":
            impaired = hepatic_quantities(model, drugs[name], cp)
            out.update({(name, q, cp): impaired[q] / healthy[q] for q in healthy})
    return out


Row = tuple[str, str, str, str, float, float, float]


@pytest.fixture(scope="module")
def table(model: Model, drugs: dict[str, DrugRecord]) -> list[Row]:
    """(drug, study, quantity, class, observed, predicted, predicted / observed) of the shipped table, printed."""
    frame = predict_hepatic(load_hepatic_studies(STUDIES, drugs), drugs, model)
    rows = []
    for _, r in frame.iterrows():
        rows.append((r["drug"], r["study"], r["quantity"], r["child_pugh"], r["observed_ratio"],
                     r["predicted_ratio"], r["fold"]))
        print(f"{r['drug']:10s} {r['study']:18s} {r['quantity']:2s} CP-{r['child_pugh']}: ratio impaired/healthy "
              f"observed {r['observed_ratio']:5.2f} predicted {r['predicted_ratio']:5.2f}  "
              f"predicted/observed {r['fold']:5.2f}")
    return rows


def test_the_table_holds_the_transcribed_means_and_classes(table: list[Row]) -> None:
    got = {(r[0], r[2]): [] for r in table}
    for r in table:
        got[(r[0], r[2])].append((r[1], r[3], round(r[4], 12)))
    expected: dict[tuple[str, str], list[tuple[str, str, float]]] = {k: [] for k in got}
    for drug, study, quantity, classes, obs in OBSERVED:
        expected[(drug, quantity)] += [(study.split(" (")[0], cp, round(obs, 12)) for cp in classes]
    assert got == expected


def test_the_shipped_table_agrees_with_the_ratios_computed_here(table: list[Row],
                                                                ratios: dict[tuple[str, str, str], float]) -> None:
    for drug, _study, quantity, cp, _obs, pred, _fold in table:
        assert pred == pytest.approx(ratios[(drug, quantity, cp)], rel=1e-12)


def test_midazolam_in_cirrhosis_within_2fold_of_observed(table: list[Row]) -> None:
    rows = [r for r in table if r[0] == "midazolam"]
    assert len(rows) == 7
    for drug, study, quantity, cp, _obs, pred, fold in rows:
        assert 1 / FOLD <= fold <= FOLD, (drug, study, quantity, cp, fold)
        if cp in "BC":  # the direction of every moderate and severe class is the observed one
            assert (pred < 1) if quantity == "CL" else (pred > 1), (quantity, cp, pred)


def test_alfentanil_child_pugh_b_within_2fold_of_observed(table: list[Row]) -> None:
    rows = {(r[2], r[3]): r for r in table if r[0] == "alfentanil"}
    assert 1 / FOLD <= rows[("CL", "B")][-1] <= FOLD
    assert rows[("CL", "B")][-2] < 1, "clearance falls in Child-Pugh B"
    # alpha1-acid glycoprotein binding: the free fraction rises as observed (18.6 % vs 11.5 %)
    assert 1 / 1.25 <= rows[("fu", "B")][-1] <= 1.25


@pytest.mark.xfail(strict=True, reason="issue 20: alfentanil Child-Pugh C clearance ratio predicted 1.05 vs 0.52 "
                   "observed (2.0-fold): the fu rise (AGP x 0.3) offsets the CYP3A4 x 0.4, and no functional "
                   "liver mass loss is applied (not tabulated); see models/pbpk/wholebody_pbpk.md")
def test_alfentanil_child_pugh_c_clearance_within_2fold(ratios: dict[tuple[str, str, str], float]) -> None:
    fold = ratios[("alfentanil", "CL", "C")] / (1.6 / 3.1)
    assert 1 / FOLD <= fold <= FOLD


def test_portal_shunt_keeps_mass_and_raises_oral_availability(model: Model, drugs: dict[str, DrugRecord]) -> None:
    values = parameterise(drugs["midazolam"], reference("male")).values
    species = model.species_ids
    t = np.linspace(0.0, 24.0, 97)
    f = {}
    for shunt in (0.0, 0.6):
        v = {**values, "f_portal_shunt": shunt}
        frame = model.simulate(t, selections=species, parameters=v, regimen="5 mg oral to drug_gi_lumen")
        np.testing.assert_allclose(frame[species].sum(axis=1), 5.0, rtol=1e-6)
        auc_iv = _auc(model, v, "1 mg iv to drug_venous_blood")
        f[shunt] = _auc(model, v, "1 mg oral to drug_gi_lumen") / auc_iv
        cl_h, cl_r = total_clearance(v)
        assert 1 / auc_iv == pytest.approx(cl_h + cl_r, rel=2e-3), "the well-stirred clearance with the shunt"
        # hepatic availability: the shunted fraction escapes, the rest is extracted at E = CL_h,blood / Q_through
        e = cl_h / v["BP"] / hepatic_blood_flow(v)
        fa_fg = drugs["midazolam"].absorption.fa * drugs["midazolam"].absorption.fg
        assert f[shunt] / fa_fg == pytest.approx(shunt + (1 - shunt) * (1 - e), rel=5e-3)
    assert f[0.6] > 1.3 * f[0.0]


def test_agp_binding_scales_fu_by_the_osp_equation() -> None:
    # fu = 1 / ((1 - f) + f K), K from the healthy fu at f = 0.0004, then f x 0.56 (Child-Pugh B)
    k = (1 / 0.10 - (1 - 0.0004)) / 0.0004
    expected = 1 / ((1 - 0.0004 * 0.56) + 0.0004 * 0.56 * k)
    assert hepatic_fu(0.10, "B", binding_protein="alpha1_acid_glycoprotein") == pytest.approx(expected, rel=1e-12)
    assert hepatic_fu(0.10, "B") < expected, "albumin (x 0.68) changes fu less than AGP (x 0.56) here"


def test_unknown_child_pugh_class_is_refused_naming_the_valid_ones(drugs: dict[str, DrugRecord]) -> None:
    with pytest.raises(PopulationError, match=r"unknown Child-Pugh class 'D'; valid classes: A, B, C"):
        child_pugh_factors("D")
    with pytest.raises(PopulationError, match=r"child_pugh: unknown Child-Pugh class 'b'; valid classes: A, B, C"):
        subject_parameters(drugs["midazolam"], {**TYPICAL, "child_pugh": "b"})
    table = pd.DataFrame({"age": [50, 60], "sex": ["male", "female"], "weight_kg": [70, 60],
                          "height_cm": [175, 165], "child_pugh": ["A", "Z"]})
    with pytest.raises(PopulationError, match=r"cov.tsv, row 2, column 'child_pugh': unknown Child-Pugh class 'Z'"):
        check_covariates(table, source="cov.tsv")


def test_a_row_without_egfr_takes_the_reference_gfr_per_bsa(drugs: dict[str, DrugRecord]) -> None:
    # a covariate table may give neither eGFR nor creatinine (qsp-sbml vpop with drug:, once a KeyError)
    row = {"age": 50.0, "sex": "male", "weight_kg": 73.0, "height_cm": 176.0, "child_pugh": "B"}
    with_egfr = subject_parameters(drugs["midazolam"], {**row, "egfr": float("nan")}).values
    without = subject_parameters(drugs["midazolam"], row).values
    assert without["GFR"] == with_egfr["GFR"] > 0
    assert without["m_CYP3A4"] == 0.4


@pytest.mark.parametrize(("edit", "message"), [
    (("\tCL\tB,C\t3.34", "\tCLR\tB,C\t3.34"), ("hepatic.tsv:2, column quantity", "'CLR' is not one of")),
    (("\tCL\tB,C\t3.34", "\tCL\tB,D\t3.34"), ("hepatic.tsv:2, column child_pugh", "'B,D' must list distinct")),
    (("\tCL\tB,C\t3.34", "\tCL\t\t3.34"), ("hepatic.tsv:2, column child_pugh", "'' must list distinct")),
    (("\tCL\tB,C\t3.34\t5.63", "\tCL\tB,C\t3.34\t-5"), ("hepatic.tsv:2, column healthy", "'-5' must be a finite")),
    (("midazolam\tPentikainen", "midazolamx\tPentikainen"), ("hepatic.tsv:2, column drug", "'midazolamx'")),
])
def test_bad_hepatic_tables_are_refused_naming_file_line_and_column(tmp_path, drugs, edit, message) -> None:  # type: ignore[no-untyped-def]
    lines = STUDIES.read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if line.startswith("drug\t"))
    row = next(line for line in lines if line.startswith("midazolam\tPentikainen 1989\t"))
    path = tmp_path / "hepatic.tsv"
    path.write_text(header + "\n" + row.replace(*edit) + "\n", encoding="utf-8")
    with pytest.raises(HepaticStudyError) as err:
        load_hepatic_studies(path, drugs)
    for part in message:
        assert part in str(err.value)


def test_qualify_report_has_a_hepatic_section_and_no_hepatic_leaves_it_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import csv
    import json

    from click.testing import CliRunner

    from qsp_sbml.cli import main

    args = ["pbpk", "qualify", "--drug", "alfentanil", "--no-ddi", "--no-paediatric", "--no-renal"]
    result = CliRunner().invoke(main, [*args, "--report", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "r" / "hepatic.tsv").open(encoding="utf-8"), delimiter="\t"))
    assert [(r["quantity"], r["child_pugh"]) for r in rows] == [("CL", "B"), ("CL", "C"), ("fu", "B"), ("fu", "C")]
    assert [r["within_2fold"] for r in rows] == ["True", "False", "True", "True"]  # the CL C miss (xfail above)
    assert json.loads((tmp_path / "r" / "summary.json").read_text(encoding="utf-8"))["hepatic_within_2fold"] == [3, 4]
    assert len(json.loads(result.output)["hepatic"]) == 4
    text = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "## Hepatic impairment" in text and "**3 of 4** rows" in text
    assert "| alfentanil | Ferrier 1985 | CL | C | 0.52 | 1.05 | 2.04 | no |" in text

    result = CliRunner().invoke(main, [*args, "--no-hepatic", "--report", str(tmp_path / "bare")])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "bare" / "hepatic.tsv").exists()
    assert "## Hepatic impairment" not in (tmp_path / "bare" / "report.md").read_text(encoding="utf-8")
