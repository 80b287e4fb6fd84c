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
fitted to these data.  Run with ``-s`` to print the table.
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
from qsp_sbml.pbpk.parameters import hepatic_blood_flow, parameterise, total_clearance
from qsp_sbml.physiology import reference
from qsp_sbml.population.covariates import check_covariates
from qsp_sbml.population.presets import child_pugh_factors, hepatic_fu, subject_parameters
from qsp_sbml.resources import project_models_dir

PBPK = project_models_dir() / "pbpk"
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


def _quantities(model: Model, drug: DrugRecord, child_pugh: str | None) -> dict[str, float]:
    values = subject_parameters(drug, {**TYPICAL, "child_pugh": child_pugh}).values
    auc_iv = _auc(model, values, "1 mg iv to drug_venous_blood")
    auc_po = _auc(model, values, "1 mg oral to drug_gi_lumen")
    return {"CL": 1.0 / auc_iv, "F": auc_po / auc_iv, "fu": values["fu"]}


@pytest.fixture(scope="module")
def ratios(model: Model, drugs: dict[str, DrugRecord]) -> dict[tuple[str, str, str], float]:
    """Predicted impaired / healthy ratio by (drug, quantity, Child-Pugh class)."""
    out = {}
    for name in ("midazolam", "alfentanil"):
        healthy = _quantities(model, drugs[name], None)
        for cp in "ABC":
            impaired = _quantities(model, drugs[name], cp)
            out.update({(name, q, cp): impaired[q] / healthy[q] for q in healthy})
    return out


Row = tuple[str, str, str, str, float, float, float]


@pytest.fixture(scope="module")
def table(ratios: dict[tuple[str, str, str], float]) -> list[Row]:
    """(drug, study, quantity, class, observed, predicted, predicted / observed), printed once."""
    rows = []
    for drug, study, quantity, classes, obs in OBSERVED:
        for cp in classes:
            pred = ratios[(drug, quantity, cp)]
            rows.append((drug, study, quantity, cp, obs, pred, pred / obs))
            print(f"{drug:10s} {study:38s} {quantity:2s} CP-{cp}: ratio impaired/healthy observed {obs:5.2f} "
                  f"predicted {pred:5.2f}  predicted/observed {pred / obs:5.2f}")
    return rows


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
