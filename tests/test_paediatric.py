"""Paediatric PBPK: enzyme ontogeny against the published functions, ICRP 89 children against the table, bad input."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest

from qsp_sbml.ontogeny import ONTOGENY_ENZYMES, OntogenyError, enzyme_ontogeny, ontogeny_factors
from qsp_sbml.paediatric import paediatric_physiology, paediatric_reference, postmenstrual_age_weeks
from qsp_sbml.pbpk import DrugRecordError, load_drug, load_drugs
from qsp_sbml.pbpk.paediatric import (
    PaediatricStudyError,
    load_paediatric_studies,
    paediatric_parameters,
    predict_paediatric,
)
from qsp_sbml.pbpk.parameters import parameterise
from qsp_sbml.pbpk.structure import ENZYMES
from qsp_sbml.physiology import PhysiologyError, gfr_maturation, reference
from qsp_sbml.resources import project_models_dir

PBPK = project_models_dir() / "pbpk"
STUDIES = PBPK / "validation" / "paediatric_studies.tsv"

#: Upreti & Wahlstrom 2016 hybrid functions as printed in Br J Clin Pharmacol 2021 88:4267 Table 1 (ref [108]):
#: F_birth, F_max, age50 (y), n -- typed here from the table, independently of the shipped YAML.
PUBLISHED = {"CYP1A2": (0.08, 1.05, 1.69, 1.1), "CYP2C9": (0.17, 1.0, 0.016, 0.53),
             "CYP2C19": (0.3, 1.0, 0.28, 2.44), "CYP2D6": (0.036, 1.0, 0.1, 1.0), "CYP3A4": (0.0, 1.061, 0.66, 0.78)}


def _hand(enzyme: str, age: float) -> float:
    fb, fmax, a50, n = PUBLISHED[enzyme]
    return fb + (fmax - fb) * age**n / (a50**n + age**n)


@pytest.mark.parametrize("enzyme", sorted(PUBLISHED))
def test_ontogeny_follows_the_published_function(enzyme: str) -> None:
    fb, fmax, a50, _ = PUBLISHED[enzyme]
    assert enzyme_ontogeny(enzyme, 0.0) == pytest.approx(fb)
    assert enzyme_ontogeny(enzyme, a50) == pytest.approx((fb + fmax) / 2)  # half-way at age50, by definition
    for age in (0.05, 0.5, 1.0, 2.0, 5.0, 12.0, 18.0):
        assert enzyme_ontogeny(enzyme, age) == pytest.approx(_hand(enzyme, age), rel=1e-12)
    assert enzyme_ontogeny(enzyme, 18.0) > 0.95  # near-adult by adolescence


def test_ontogeny_covers_the_enzymes_of_the_module_and_other_is_one() -> None:
    assert {"CYP3A4", "CYP2D6", "CYP2C9", "CYP1A2", "UGT1A1", "UGT2B7"} <= set(ONTOGENY_ENZYMES)
    factors = ontogeny_factors(0.5, ENZYMES)
    assert set(factors) == set(ENZYMES) and factors["other"] == 1.0
    assert factors["CYP3A4"] == pytest.approx(_hand("CYP3A4", 0.5))


#: PK-Sim Ontogeny Database Version 7.3 (Open Systems Pharmacology), section 4.4, the "PK-Sim Table" of each
#: UGT (A.1.2.4, A.3.2.4, A.4.2.4, A.6.2.4): postmenstrual age (years) -> ontogeny, typed here from the printed
#: tables (median of PK-Sim's population fit), independently of the fit results in the shipped YAML.
PKSIM_TABLES = {
    "UGT1A1": [(0.698271871, 0.000979058), (0.769230783, 0.007233677), (0.858116925, 0.064657465),
               (0.890073895, 0.130265653), (0.919260323, 0.224505559), (1.029093981, 0.755379558),
               (1.075121403, 0.884206295), (1.128819823, 0.954406977), (1.226630092, 0.991511762),
               (1.361833453, 0.999002397)],
    "UGT1A6": [(0.1, 0.001), (0.22, 0.013), (0.3, 0.038), (0.39, 0.088), (0.45, 0.13), (0.53, 0.21), (0.77, 0.48),
               (0.87, 0.58), (0.99, 0.69), (1.07, 0.74), (1.15, 0.78), (1.24, 0.82), (1.38, 0.87), (1.57, 0.91),
               (1.86, 0.95), (2.37, 0.98), (3.34, 0.99), (6.13, 1.0)],
    "UGT1A9": [(0.09, 0.00099), (0.29, 0.016), (0.4, 0.035), (0.5, 0.059), (0.64, 0.1), (0.77, 0.15), (1.47, 0.44),
               (1.74, 0.54), (2.01, 0.63), (2.34, 0.7), (2.69, 0.77), (3.14, 0.83), (3.7, 0.88), (4.47, 0.92),
               (5.03, 0.94), (5.95, 0.96), (7.45, 0.97), (10.49, 0.99), (16.12, 1.0)],
    "UGT2B7": [(0.48, 0.00099), (0.66, 0.0073), (0.77, 0.02), (0.91, 0.057), (1.03, 0.12), (1.15, 0.22),
               (1.24, 0.31), (1.5, 0.62), (1.64, 0.74), (1.76, 0.82), (1.89, 0.88), (2.07, 0.93), (2.35, 0.97),
               (2.86, 0.99), (4.01, 1.0)],
}
#: The tables' year of PMA is taken as 52 weeks (it reproduces the fits best; the document does not say).
_TABLE_WEEKS_PER_YEAR = 52.0


def _postnatal(pma_weeks: float) -> tuple[float, float]:
    """(postnatal age in years, gestational age at birth in weeks) of a PMA: preterm newborns below 40 weeks."""
    if pma_weeks < 40:
        return 0.0, pma_weeks
    return (pma_weeks - 40) / (365.25 / 7), 40.0


@pytest.mark.parametrize("enzyme", sorted(PKSIM_TABLES))
def test_ugt_ontogeny_reproduces_the_pksim_table(enzyme: str) -> None:
    checked = 0
    for pma_years, value in PKSIM_TABLES[enzyme]:
        pma = pma_years * _TABLE_WEEKS_PER_YEAR
        if pma < 22:  # before the earliest gestational age the functions take
            continue
        age, ga = _postnatal(pma)
        assert enzyme_ontogeny(enzyme, age, ga) == pytest.approx(value, abs=0.01), (enzyme, pma_years)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("enzyme", ["UGT1A1", "UGT1A4", "UGT1A6", "UGT1A9", "UGT2B7"])
def test_ugt_ontogeny_is_adult_by_adolescence_and_lower_in_the_preterm(enzyme: str) -> None:
    assert enzyme_ontogeny(enzyme, 18.0) == pytest.approx(1.0, abs=0.005)
    assert enzyme_ontogeny(enzyme, 40.0) == pytest.approx(1.0, abs=0.001)
    term, preterm = enzyme_ontogeny(enzyme, 0.1), enzyme_ontogeny(enzyme, 0.1, gestational_age_weeks=28)
    if enzyme == "UGT1A4":  # PK-Sim 7.3 A.2.2.2: equal to 1 for all ages
        assert term == preterm == 1.0
    else:
        assert preterm < term < 1.0
    assert enzyme_ontogeny("CYP3A4", 0.1, 28) == enzyme_ontogeny("CYP3A4", 0.1)  # CYP: postnatal age only


def test_ugt_ontogeny_at_half_maximum_pma() -> None:
    """The fit results of PK-Sim 7.3 section 4.4: A0.5 (weeks) is the PMA of half the adult activity."""
    for enzyme, a50 in (("UGT1A1", 50.754), ("UGT1A6", 41.030), ("UGT1A9", 84.220), ("UGT2B7", 72.533)):
        assert enzyme_ontogeny(enzyme, (a50 - 40) / (365.25 / 7)) == pytest.approx(0.5)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: enzyme_ontogeny("CYP3A4", -1.0), "age must be a finite number of years >= 0, got -1.0"),
    (lambda: enzyme_ontogeny("CYP3A4", math.nan), "got nan"),
    (lambda: enzyme_ontogeny("CYP9Z9", 2.0), "no ontogeny function for enzyme 'CYP9Z9'"),
    (lambda: ontogeny_factors(1.0, ["CYP2D6", "UGT2B15"]), "'UGT2B15'"),
    (lambda: enzyme_ontogeny("UGT2B7", 0.5, gestational_age_weeks=12.0), "gestational age at birth 12.0 weeks"),
    (lambda: ontogeny_factors(0.5, ["CYP2D6"], math.inf), "gestational age at birth inf weeks"),
])
def test_ontogeny_bad_input_names_the_culprit(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OntogenyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


#: ICRP 89 Table 2.8 (organ masses, g), 2.9 (body weight, kg) and 2.39 (cardiac output, L/min), typed from the
#: published values: age -> (body weight, liver, kidneys, brain male, cardiac output or None).
ICRP = {0.0: (3.5, 130, 25, 380, None), 1.0: (10.0, 330, 70, 950, None), 5.0: (19.0, 570, 110, 1310, 3.4),
        10.0: (32.0, 830, 180, 1400, 5.0), 15.0: (56.0, 1300, 250, 1420, 6.1)}


@pytest.mark.parametrize("age", sorted(ICRP))
def test_reference_children_reproduce_the_icrp_table(age: float) -> None:
    bw, liver, kidney, brain, co = ICRP[age]
    child = paediatric_reference(age, "male")
    assert child.body_weight == pytest.approx(bw)
    assert child.volumes["liver"] == pytest.approx(liver / 1000)
    assert child.volumes["kidney"] == pytest.approx(kidney / 1000)
    assert child.volumes["brain"] == pytest.approx(brain / 1000)
    if co is not None:
        assert child.cardiac_output == pytest.approx(co * 60)
    assert sum(child.flows.values()) == pytest.approx(child.cardiac_output)
    adult = reference("male")  # kidney perfusion per litre of tissue as in the adult (Grunert 1990)
    per_litre = adult.flows["kidney"] / adult.volumes["kidney"]
    assert child.flows["kidney"] / child.volumes["kidney"] == pytest.approx(per_litre)
    assert child.reference is adult


def test_reference_adult_is_male_at_every_icrp_child_age_and_blends_to_the_same_sex_adult_at_20() -> None:
    """Huisinga 2012 scale every ICRP child from the adult male, the 15-year-old girl too."""
    for age in (0.0, 5.0, 10.0, 15.0):
        assert paediatric_reference(age, "female").reference is reference("male")
    assert all(paediatric_reference(a, "male").reference is reference("male") for a in (10.0, 15.0, 17.5, 18.0))
    half = paediatric_reference(17.5, "female").reference  # half-way from 15 y to the adult female at 20 y
    assert half.volumes["liver"] == pytest.approx((1.8 + 1.4) / 2)
    assert half.gfr == pytest.approx((reference("male").gfr + reference("female").gfr) / 2)
    half.check()


def test_hematocrit_follows_huisinga_2012_at_the_icrp_ages_and_is_linear_in_between() -> None:
    male, female = reference("male").hematocrit, reference("female").hematocrit
    assert [paediatric_reference(a, "male").hematocrit for a in (5.0, 10.0, 15.0, 18.0)] == pytest.approx(
        [female, female, male, male])
    assert paediatric_reference(12.5, "male").hematocrit == pytest.approx((male + female) / 2)
    assert {paediatric_reference(a, "female").hematocrit for a in (5.0, 12.5, 15.0, 18.0)} == {female}


@functools.cache
def _drugs() -> dict:
    return load_drugs(PBPK / "drugs")


def _quantities(age: float, sex: str) -> dict[str, float]:
    """Every physiological quantity of the reference child and two clearances (a cl_iv and a clint record)."""
    child = paediatric_reference(age, sex)
    drugs = _drugs()
    return {"body_weight": child.body_weight, "cardiac_output": child.cardiac_output, "gfr": child.gfr,
            "hematocrit": child.hematocrit, **{f"V {k}": v for k, v in child.volumes.items()},
            **{f"Q {k}": v for k, v in child.flows.items()},
            **{f"CL {d}": paediatric_parameters(drugs[d], age_years=age, sex=sex).cl_total
               for d in ("midazolam", "tizanidine")}}


def _worst_step(a: float, b: float, sex: str) -> tuple[str, float]:
    qa, qb = _quantities(a, sex), _quantities(b, sex)
    return max(((k, abs(qb[k] / qa[k] - 1)) for k in qa), key=lambda kv: kv[1])


@pytest.mark.parametrize("sex", ["female", "male"])
@pytest.mark.parametrize("age", [10.0, 15.0])
def test_nothing_steps_where_the_reference_adult_or_hematocrit_changes_rule(age: float, sex: str) -> None:
    """Within an hour of the ICRP ages where sex enters, no quantity moves by more than 0.1 % (growth: < 0.01 %).

    Before: a girl's reference adult switched from the male to the female at 15 y (midazolam clearance +19 %,
    GFR -7 %), a boy's hematocrit from the adult female's to the male's (+13 %).
    """
    hour = 1 / (365.25 * 24)
    name, step = _worst_step(age - hour, age + hour, sex)
    assert step < 1e-3, f"{sex}, {age} y: {name} changes by {100 * step:.2f} % in two hours"


@pytest.mark.parametrize("sex", ["female", "male"])
def test_monthly_changes_stay_small_from_9_to_18_years(sex: str) -> None:
    months = [9 + m / 12 for m in range(9 * 12 + 1)]
    name, step = max((_worst_step(a, b, sex) for a, b in zip(months, months[1:], strict=False)),
                     key=lambda kv: kv[1])
    assert step < 0.03, f"{sex}: {name} changes by {100 * step:.1f} % in one month"


def test_sexes_differ_where_icrp_does_and_ages_interpolate_linearly() -> None:
    assert paediatric_reference(15.0, "female").body_weight == pytest.approx(53.0)
    assert paediatric_reference(5.0, "female").volumes["brain"] == pytest.approx(1.180)
    three = paediatric_reference(3.0, "male")  # half-way between the 1- and 5-year-old
    assert three.volumes["liver"] == pytest.approx((0.330 + 0.570) / 2)
    assert three.body_weight == pytest.approx((10 + 19) / 2)
    # towards the adult: 18 y lies 3/5 of the way from the 15-year-old to the ICRP adult placed at 20 y
    assert paediatric_reference(18.0, "male").volumes["liver"] == pytest.approx(1.3 + 0.6 * (1.8 - 1.3))


def test_gfr_scales_with_size_and_rhodin_maturation() -> None:
    adult = reference("male")
    child = paediatric_reference(1.0, "male")
    expected = adult.gfr * (10.0 / adult.body_weight) ** 0.75 * gfr_maturation(40 + 365.25 / 7)
    assert child.gfr == pytest.approx(expected)
    preterm = paediatric_physiology(age_years=0.1, sex="male", gestational_age_weeks=30)
    term = paediatric_physiology(age_years=0.1, sex="male")
    assert preterm.gfr / term.gfr == pytest.approx(gfr_maturation(postmenstrual_age_weeks(0.1, 30))
                                                   / gfr_maturation(postmenstrual_age_weeks(0.1)))


def test_individual_weight_scales_volumes_and_flows() -> None:
    ref = paediatric_reference(1.0, "female")
    light = paediatric_physiology(age_years=1.0, sex="female", weight_kg=8.0)
    assert light.volumes["liver"] == pytest.approx(ref.volumes["liver"] * 0.8)
    assert light.cardiac_output == pytest.approx(ref.cardiac_output * 0.8**0.75)
    light.check()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"age_years": -0.5, "sex": "male"}, "postnatal age -0.5 y is outside the paediatric range 0-18"),
    ({"age_years": 30.0, "sex": "male"}, "postnatal age 30.0 y is outside"),
    ({"age_years": 2.0, "sex": "boy"}, "sex must be 'male' or 'female', got 'boy'"),
    ({"age_years": 2.0, "sex": "male", "weight_kg": 40.0}, "body weight 40.0 kg is not within"),
    ({"age_years": 2.0, "sex": "male", "gestational_age_weeks": 12.0}, "gestational age at birth 12.0 weeks"),
])
def test_paediatric_physiology_refuses_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(PhysiologyError, match=message):
        paediatric_physiology(**kwargs)


def test_paediatric_parameters_apply_ontogeny_through_the_fm_split() -> None:
    drugs = load_drugs(PBPK / "drugs")
    mdz = drugs["midazolam"]
    child = paediatric_physiology(age_years=2.0, sex="male")
    base = parameterise(mdz, child)  # adult clearance scaled by liver volume, no ontogeny
    p = paediatric_parameters(mdz, age_years=2.0, sex="male")
    assert p.values["CLint_CYP3A4"] == pytest.approx(base.values["CLint_CYP3A4"] * _hand("CYP3A4", 2.0))
    assert p.values["CLint_other"] == pytest.approx(base.values["CLint_other"])
    assert all(p.values[f"m_{e}"] == 1.0 for e in ENZYMES)  # multipliers stay free for interactions
    assert p.cl_total < base.cl_total


def test_shipped_paediatric_studies_are_consistent_predictions() -> None:
    from qsp_sbml.loading import load_model

    drugs = load_drugs(PBPK / "drugs")
    studies = load_paediatric_studies(STUDIES, drugs)
    assert len({s.study.split()[0] + s.study.split()[1] for s in studies}) >= 4  # Payne, Muchohi, Goresky, Meistelman
    assert {s.drug for s in studies} == {"midazolam", "alfentanil"}
    assert {s.group for s in studies} == {"verification"}
    table = predict_paediatric(studies, drugs, load_model(PBPK / "wholebody_pbpk.xml"))
    for _, r in table.iterrows():
        p = paediatric_parameters(drugs[r["drug"]], age_years=r["age_y"], sex=r["sex"], weight_kg=r["weight_kg"])
        if r["route"] == "iv_bolus":  # mass balance of the simulation: dose / AUC(0-inf) = model clearance
            assert r["cl_pred_ml_min_kg"] == pytest.approx(p.cl_total / r["weight_kg"] * 1000 / 60, rel=2e-3)
        ratios = (r["auc_ratio"], r["cl_ratio"])
        assert bool(r["within_2fold"]) == all(0.5 <= x <= 2.0 for x in ratios)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("\t6.5\tmidpoint", "\t25\tmidpoint", "column age_y: 25.0 is not a paediatric age"),
    ("\t6.5\tmidpoint", "\t-1\tmidpoint", "column age_y: '-1' must be a finite number >= 0"),
    ("midazolam\tPayne 1989 IV", "midazolamx\tPayne 1989 IV", "column drug: no drug record 'midazolamx'"),
    ("\tCL\t9.11", "\tCLR\t9.11", "column cl_kind: 'CLR'"),
    ("\tCL\t9.11", "\tCL/F\t9.11", "column cl_kind: 'CL/F' does not fit route 'iv_bolus'"),
    ("\t10.4\t13", "\t40\t13", "column weight_kg: body weight 40.0 kg is not within"),
])
def test_bad_paediatric_table_names_file_line_and_column(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = STUDIES.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "paed.tsv"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    line = next(n for n, s in enumerate(bad.read_text().splitlines(), start=1) if new in s)
    with pytest.raises(PaediatricStudyError, match=f"{bad}:{line}, {message}"):
        load_paediatric_studies(bad, load_drugs(PBPK / "drugs"))


def test_paediatric_presets_sample_reference_children_and_map_onto_pbpk_parameters() -> None:
    from qsp_sbml.errors import PopulationError
    from qsp_sbml.population import POPULATIONS, sample_population, subject_parameters, subject_physiology

    assert {"paediatric_infants", "paediatric_children", "paediatric_adolescents"} <= set(POPULATIONS)
    df = sample_population("paediatric_children", 20, seed=3)
    assert df["age"].between(2, 12).all() and set(df["population"]) == {"paediatric_children"}
    mdz = load_drugs(PBPK / "drugs")["midazolam"]
    for _, row in df.head(3).iterrows():
        ref = paediatric_reference(float(row["age"]), row["sex"])
        assert row["weight_kg"] == pytest.approx(ref.body_weight)
        assert subject_physiology(row).gfr == pytest.approx(ref.gfr, rel=1e-9)  # eGFR round-trips to the GFR
        direct = paediatric_parameters(mdz, age_years=float(row["age"]), sex=row["sex"], weight_kg=row["weight_kg"])
        assert subject_parameters(mdz, row).cl_total == pytest.approx(direct.cl_total, rel=1e-9)
    sick = df.iloc[0].copy()
    sick["child_pugh"] = "B"
    with pytest.raises(PopulationError, match="impairment presets are for adults only"):
        subject_physiology(sick)


@pytest.mark.slow
def test_qualify_report_has_a_paediatric_section(tmp_path: Path) -> None:
    import csv
    import json

    from click.testing import CliRunner

    from qsp_sbml.cli import main

    lines = (PBPK / "validation" / "observed_profiles.tsv").read_text(encoding="utf-8").splitlines()
    body = [ln for ln in lines if not ln.startswith("#")]
    one = [body[0], *(ln for ln in body[1:] if "Hohmann 2015 - iv 1 mg - Midazolam" in ln)]
    observed = tmp_path / "one.tsv"
    observed.write_text("\n".join(one) + "\n", encoding="utf-8")
    report = tmp_path / "report"
    result = CliRunner().invoke(main, ["pbpk", "qualify", "--observed", str(observed), "--no-ddi", "--report",
                                       str(report), "--json"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((report / "paediatric.tsv").open(), delimiter="\t"))
    assert [r["study"] for r in rows] == [s.study for s in load_paediatric_studies(STUDIES)]
    payload = json.loads(result.output)
    assert [r["study"] for r in payload["paediatric"]] == [r["study"] for r in rows]
    met = sum(r["within_2fold"] == "True" for r in rows)
    assert json.loads((report / "summary.json").read_text())["paediatric_within_2fold"] == [met, len(rows)]
    text = (report / "report.md").read_text()
    assert "## Paediatric studies" in text and f"**{met} of {len(rows)}**" in text
    assert "| verification | Payne 1989 IV | iv_bolus | 6.5 |" in text
    # one summary line per publication: Goresky's 17 children, Payne's two arms
    goresky = [r for r in rows if r["study"].startswith("Goresky 1987 patient")]
    assert len(goresky) == 17
    within = sum(r["within_2fold"] == "True" for r in goresky)
    assert f"| alfentanil | Goresky 1987 | 17 | {within} |" in text
    assert "| midazolam | Payne 1989 IV | 2 |" in text


def _record_with_ugt_share(tmp_path: Path, fm: str) -> Path:
    """Midazolam's record with its hepatic split replaced (a test record, not a shipped one)."""
    text = (PBPK / "drugs" / "midazolam.yaml").read_text(encoding="utf-8")
    assert "  fm: {CYP3A4: 0.98, other: 0.02}\n" in text
    path = tmp_path / "midazolam.yaml"
    path.write_text(text.replace("  fm: {CYP3A4: 0.98, other: 0.02}\n", fm), encoding="utf-8")
    return path


def test_a_ugt_share_follows_ugt_ontogeny_in_a_child_and_none_in_an_adult(tmp_path: Path) -> None:

    drug = load_drug(_record_with_ugt_share(tmp_path, "  fm: {CYP3A4: 0.7, UGT2B7: 0.3}\n"))
    adult = parameterise(drug, reference("male"))  # an adult: the split as given, no ontogeny
    assert adult.values["CLint_UGT2B7"] / adult.values["CLint_CYP3A4"] == pytest.approx(0.3 / 0.7)
    assert adult.values["CLint_other"] == 0.0
    for age in (0.25, 1.0, 5.0):
        base = parameterise(drug, paediatric_physiology(age_years=age, sex="male"))
        child = paediatric_parameters(drug, age_years=age, sex="male")
        assert child.values["CLint_UGT2B7"] == pytest.approx(base.values["CLint_UGT2B7"]
                                                             * enzyme_ontogeny("UGT2B7", age))
        assert child.values["CLint_CYP3A4"] == pytest.approx(base.values["CLint_CYP3A4"] * _hand("CYP3A4", age))
    infant = paediatric_parameters(drug, age_years=0.25, sex="male")
    preterm = paediatric_parameters(drug, age_years=0.25, sex="male", gestational_age_weeks=30)
    assert preterm.values["CLint_UGT2B7"] < infant.values["CLint_UGT2B7"]
    # the same share left in 'other' keeps its adult activity in the infant: the UGT share lowers clearance
    other = load_drug(_record_with_ugt_share(tmp_path, "  fm: {CYP3A4: 0.7, other: 0.3}\n"))
    assert infant.cl_total < paediatric_parameters(other, age_years=0.25, sex="male").cl_total


def test_the_module_eliminates_through_the_ugt_share(tmp_path: Path) -> None:
    """The shipped SBML sums CLint_UGT2B7 into hepatic metabolism: IV dose / AUC(0-inf) = the UGT-only clearance."""
    from qsp_sbml.dosing import Dose, Regimen
    from qsp_sbml.loading import load_model
    from qsp_sbml.metrics import nca

    drug = load_drug(_record_with_ugt_share(tmp_path, "  fm: {UGT2B7: 1.0}\n"))
    p = paediatric_parameters(drug, age_years=0.5, sex="male")
    assert p.values["CLint_UGT2B7"] > 0 and all(p.values[f"CLint_{e}"] == 0 for e in ENZYMES if e != "UGT2B7")
    model = load_model(PBPK / "wholebody_pbpk.xml")
    grid = np.unique(np.concatenate([np.geomspace(1e-3, 400.0, 800), [0.0]]))
    regimen = Regimen.of(Dose(amount=1.0, unit="mg", route="iv_bolus", target="drug_venous_blood", time_unit="h"))
    frame = model.simulate(grid, selections=["C_plasma"], parameters=p.values, regimen=regimen)
    c = frame["C_plasma"].to_numpy()
    assert c.min() > -1e-9  # solver noise near zero only
    r = nca(frame["time"].to_numpy(), np.clip(c, 0.0, None))
    assert 1.0 / r.auc_inf == pytest.approx(p.cl_total, rel=5e-3)


@pytest.mark.parametrize(("fm", "field", "message"), [
    ("  fm: {CYP3A4: 0.7, UGT2B15: 0.3}\n", "clearance.fm.UGT2B15", "unknown enzyme 'UGT2B15'"),
    ("  fm:\n    CYP3A4: -0.2\n    UGT2B7: 1.2\n", "clearance.fm.CYP3A4", "-0.2 is not a fraction in [0, 1]"),
    ("  fm:\n    CYP3A4: 0.7\n    UGT2B7: 1.2\n", "clearance.fm.UGT2B7", "1.2 is not a fraction in [0, 1]"),
])
def test_a_bad_enzyme_share_is_refused_naming_file_line_and_field(tmp_path: Path, fm: str, field: str,
                                                                   message: str) -> None:

    path = _record_with_ugt_share(tmp_path, fm)
    lines = path.read_text(encoding="utf-8").splitlines()
    key = field.rsplit(".", 1)[1]
    line = next(i for i, s in enumerate(lines, 1) if f"{key}:" in s and ("fm" in s or s.startswith("    ")))
    with pytest.raises(DrugRecordError) as err:
        load_drug(path)
    assert f"{path}, line {line}, field {field}: {message}" in str(err.value)

def test_explicit_renal_clearance_of_a_clint_record_scales_with_the_childs_gfr() -> None:
    """Both record forms scale a measured renal clearance by GFR / the reference adult's GFR.

    Before, a ``clint`` record's explicit ``cl_renal`` kept its adult value in a child (no shipped record has
    one: latent).
    """
    tiz = _drugs()["tizanidine"]
    clearance = type(tiz.clearance).model_validate({"clint": dict(tiz.clearance.clint or {}), "cl_renal": 9.0})
    record = tiz.model_copy(update={"clearance": clearance})
    adult = reference("male")
    assert parameterise(record, adult).cl_renal == pytest.approx(9.0)
    child = paediatric_physiology(age_years=5.0, sex="male")
    ratio = child.gfr / adult.gfr
    assert 0.3 < ratio < 0.6
    # rel 1e-4: the filtered part also follows the child's fu (albumin at 5 y is 0.99996 of the adult's)
    assert paediatric_parameters(record, age_years=5.0, sex="male").cl_renal == pytest.approx(9.0 * ratio, rel=1e-4)
    atenolol = _drugs()["atenolol"]  # a cl_iv + fe record: the same rule
    assert (paediatric_parameters(atenolol, age_years=5.0, sex="male").cl_renal
            / parameterise(atenolol, adult).cl_renal) == pytest.approx(ratio, rel=1e-4)


def test_an_impossible_gestational_age_is_refused_for_every_enzyme() -> None:
    from qsp_sbml.ontogeny import OntogenyError

    for enzyme in ("CYP3A4", "UGT2B7"):  # a postnatal and a postmenstrual function alike
        with pytest.raises(OntogenyError, match="gestational age at birth 12"):
            enzyme_ontogeny(enzyme, 0.1, 12)


# --- plasma binding proteins: PK-Sim Ontogeny Database 7.3, section 4.6 ------------------------------------------
#: The database's printed "PK-Sim Table" for human serum albumin (PMA in years, median ontogeny), typed in from the
#: document independently of the fitted function in ontogeny.yaml.
HSA_TABLE = [(0.05, 0.0011), (0.1, 0.011), (0.16, 0.04), (0.23, 0.13), (0.46, 0.59), (0.55, 0.71), (0.64, 0.81),
             (0.77, 0.88), (0.88, 0.92), (1.06, 0.96), (1.42, 0.98), (2.17, 1.0)]


@pytest.mark.parametrize(("pma_years", "expected"), [r for r in HSA_TABLE if r[0] * 365.25 / 7 >= 22])
def test_albumin_ontogeny_reproduces_the_pk_sim_table(pma_years: float, expected: float) -> None:
    """Rows below 22 weeks PMA (the youngest gestational age the functions accept) are not compared."""
    from qsp_sbml.ontogeny import protein_ontogeny

    weeks_per_year = 365.25 / 7
    gestation = min(pma_years * weeks_per_year, 40.0)  # a PMA below term is a preterm birth at that PMA
    age = max(0.0, pma_years - gestation / weeks_per_year)
    assert protein_ontogeny("albumin", age, gestation) == pytest.approx(expected, abs=0.01)


def test_aag_ontogeny_interpolates_the_pk_sim_table_and_fu_follows() -> None:
    from qsp_sbml.ontogeny import OntogenyError, protein_ontogeny
    from qsp_sbml.pbpk.paediatric import paediatric_fu

    weeks_per_year = 365.25 / 7
    # rows of the printed table (PMA years, ontogeny): term birth, and 1.387656856 y
    assert protein_ontogeny("alpha1_acid_glycoprotein", 0.0) == pytest.approx(0.254563711, abs=1e-6)
    at = 1.387656856 - 40 / weeks_per_year
    assert protein_ontogeny("alpha1_acid_glycoprotein", at) == pytest.approx(0.935748949, abs=1e-6)
    # half-way between two rows, linearly
    a, b = (1.035021675, 0.855224822), (1.169176363, 0.900405864)
    mid = (a[0] + b[0]) / 2 - 40 / weeks_per_year
    assert protein_ontogeny("alpha1_acid_glycoprotein", mid) == pytest.approx((a[1] + b[1]) / 2, abs=1e-9)
    with pytest.raises(OntogenyError, match="plasma protein 'globulin'"):
        protein_ontogeny("globulin", 1.0)
    drugs = load_drugs(PBPK / "drugs")
    alf, mdz = drugs["alfentanil"], drugs["midazolam"]
    assert alf.binding_protein == "alpha1_acid_glycoprotein" and mdz.binding_protein == "albumin"
    # fu = 1 / ((1 - f) + f K), K from the adult fu: by hand at term birth for alfentanil (AAG, f = 0.0004)
    k = (1 / alf.fu - (1 - 0.0004)) / 0.0004
    fd = 0.0004 * 0.254563711
    assert paediatric_fu(alf, 0.0) == pytest.approx(1 / ((1 - fd) + fd * k), rel=1e-9)
    fus = [paediatric_fu(alf, age) for age in (0.0, 0.1, 0.3, 1.0, 5.0)]
    assert fus == sorted(fus, reverse=True) and fus[-1] == pytest.approx(alf.fu, rel=0.01)
    p = paediatric_parameters(alf, age_years=0.2, sex="male")
    assert p.values["fu"] == pytest.approx(paediatric_fu(alf, 0.2)) and p.values["fu"] > alf.fu
