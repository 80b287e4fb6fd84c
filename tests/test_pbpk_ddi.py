"""Drug-drug interactions: static net-effect equation, perpetrator records, enzyme turnover, composed DDI model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qsp_sbml.loading import load_model
from qsp_sbml.pbpk import ddi, load_drug, load_drugs
from qsp_sbml.pbpk.ddi_verification import (
    ACCEPTANCE,
    DdiStudyError,
    failures,
    load_ddi_studies,
    summarise,
    verify,
)
from qsp_sbml.pbpk.drugs import DrugRecordError
from qsp_sbml.pbpk.interaction import DdiStudy, build_enzyme_module, compose_ddi, predict_ddi, static_prediction
from qsp_sbml.pbpk.parameters import parameterise
from qsp_sbml.physiology import reference
from qsp_sbml.resources import project_models_dir

PBPK = project_models_dir() / "pbpk"
DRUGS = PBPK / "drugs"
STUDIES = PBPK / "validation" / "ddi_studies.tsv"


@pytest.fixture(scope="module")
def drugs() -> dict:
    return load_drugs(DRUGS)


# --- static equation --------------------------------------------------------------------------------------------


def test_net_effect_reduces_to_rowland_matin_without_gut_term() -> None:
    # AUCR = 1 / (fm / (1 + I/Ki) + 1 - fm) (Rowland & Matin 1973)
    for fm, i_over_ki in ((0.5, 1.0), (0.9, 9.0), (0.98, 100.0)):
        c = ddi.reversible_term(i_over_ki, 1.0)
        expected = 1.0 / (fm / (1.0 + i_over_ki) + 1.0 - fm)
        assert ddi.net_effect_auc_ratio(fm=fm, liver=c) == pytest.approx(expected, rel=1e-12)
    # the gut term alone is 1/Fg when the gut enzyme is fully inhibited
    assert ddi.net_effect_auc_ratio(fm=0.0, fg=0.4, gut=1e-12) == pytest.approx(1 / 0.4, rel=1e-9)


def test_mbi_and_induction_terms_match_their_steady_state_definitions() -> None:
    kdeg = math.log(2) / 36.0
    # [I] >> KI: A -> kdeg / (kdeg + kinact)
    assert ddi.mbi_term(1e6, 0.1, 1.0, kdeg) == pytest.approx(kdeg / (kdeg + 0.1), rel=1e-5)
    assert ddi.induction_term(1e9, 9.0, 0.34) == pytest.approx(10.0, rel=1e-6)
    assert ddi.induction_term(0.0, 9.0, 0.34) == 1.0
    effect = ddi.EnzymeEffect(ki=18.5, emax=9.0, ec50=0.34)
    f = ddi.organ_factor(effect, 2.0)
    assert f == pytest.approx(ddi.induction_term(2.0, 9.0, 0.34) * ddi.reversible_term(2.0, 18.5))


def test_static_terms_reproduce_published_worked_values() -> None:
    # Checks against numbers we did not compute. (1) Ketoconazole + oral triazolam, Table 7.5 of the chapter
    # "Regulatory considerations of drug metabolism and drug interactions" (p. 222; page reproduced at
    # issuhub.com/view/index/6909?pageIndex=245): Ki 0.0165 uM, fu 0.01; predicted AUCi/AUC = 1 + Cmax/Ki (total)
    # and 1 + Iu/Ki (unbound): Cmax 9.3 uM -> 565 and 6.6; 10 uM -> 607 and 7.1 (fm = 1, no gut term).
    for cmax, total, unbound in ((9.3, 565, 6.6), (10.0, 607, 7.1)):
        assert round(ddi.net_effect_auc_ratio(fm=1.0, liver=ddi.reversible_term(cmax, 0.0165))) == total
        assert round(ddi.net_effect_auc_ratio(fm=1.0, liver=ddi.reversible_term(0.01 * cmax, 0.0165)), 1) == unbound
    # (2) Kim SJ et al. 2016 Drug Metab Dispos 44:1622 (clopidogrel cassette small-dose study; table at
    # dmd.aspetjournals.org/highwire/markup/62208), "Summary of input parameters and prediction of drug-drug
    # interactions by static model": rifampicin on CYP3A4,
    # Iu,max 3.28 uM, Ki 18.5 uM -> R < 1.18; mechanism-based inactivation of CYP2C8, R = 1/A at Iu,max, by
    # clopidogrel acyl-glucuronide (KI 9.9 uM, kinact 2.82 1/h, 1.21 uM) -> 10.3 and gemfibrozil glucuronide
    # (KI 26.7 uM, kinact 4.05 1/h, 5.55 uM) -> 22.1. The paper's kdeg is not in the table: it is taken from the
    # first MBI row, and the equation must then give the second row (a check of A's form, not of kdeg).
    assert 1.0 / ddi.reversible_term(3.28, 18.5) == pytest.approx(1.18, abs=0.005)
    kdeg = 2.82 * 1.21 / (9.9 + 1.21) / (10.3 - 1.0)
    assert 1.0 / ddi.mbi_term(1.21, 2.82, 9.9, kdeg) == pytest.approx(10.3, rel=1e-12)
    assert round(1.0 / ddi.mbi_term(5.55, 4.05, 26.7, kdeg), 1) == 22.1


def test_guest_limits_narrow_towards_one_and_tend_to_twofold() -> None:
    assert ddi.guest_limits(1.0) == pytest.approx((0.8, 1.25))
    lo, hi = ddi.guest_limits(0.2)
    assert (lo, hi) == pytest.approx((0.2 / ((1.25 + 2 * 4) / 5), 0.2 * ((1.25 + 2 * 4) / 5)))
    _, hi_large = ddi.guest_limits(1000.0)
    assert 1.99 < hi_large / 1000.0 < 2.0


@pytest.mark.parametrize(("call", "match"), [
    (lambda: ddi.reversible_term(1.0, -0.1), "Ki must be"),
    (lambda: ddi.net_effect_auc_ratio(fm=1.2), "fm must be"),
    (lambda: ddi.hepatic_inlet_concentration(cmax=1.0, fu=1.5), "fu must be"),
    (lambda: ddi.EnzymeEffect(kinact=0.1), "both kinact and ki_inact"),
    (lambda: ddi.organ_factor(ddi.EnzymeEffect(emax=1.0, ec50=1.0), 1.0, enzyme="CYP2D6"), "half-life"),
    (lambda: ddi.gmfe([1.0], [1.0, 2.0]), "paired"),
])
def test_static_inputs_outside_their_range_are_refused(call, match) -> None:
    with pytest.raises(ddi.DdiError, match=match):
        call()


# --- perpetrator records ----------------------------------------------------------------------------------------


def test_perpetrator_records_carry_sourced_interactions(drugs) -> None:
    perpetrators = {k: r for k, r in drugs.items() if r.interactions}
    assert {"itraconazole", "fluconazole", "rifampicin"} <= set(perpetrators)
    for record in perpetrators.values():
        for name in record.valued_fields():
            assert record.sources[name].strip(), (record.id, name)
    assert drugs["rifampicin"].interactions["CYP3A4"].effect().emax == 9.0


@pytest.mark.parametrize(("old", "new", "match"), [
    ("fu: 0.17", "fu: 1.7", r"rifampicin.yaml, line 6, field fu: Input should be less than or equal to 1"),
    ("{ki: 18.5, emax", "{ki: -18.5, emax", r"line 17, field interactions.CYP3A4.ki: Input should be greater than 0"),
    ("log_p: 1.3", "log_p: 13", r"line 4, field log_p: Input should be less than or equal to 10"),
    ("CYP3A4: {ki: 18.5", "CYP3A5: {ki: 18.5", r"interactions: unknown enzyme"),
    ("emax: 9.0, ec50: 0.34", "emax: 9.0", r"induction needs both emax and ec50"),
    ("bp: 0.9\n", "", r"line \d+, field bp: required field is missing"),
    ('  interactions.CYP3A4.ec50: "0.34', '  interactions_ec50: "0.34',
     r"no source given for interactions.CYP3A4.ec50"),
])
def test_bad_perpetrator_record_is_refused_naming_file_line_field(tmp_path: Path, old: str, new: str,
                                                                  match: str) -> None:
    text = (DRUGS / "rifampicin.yaml").read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "rifampicin.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(DrugRecordError, match=match):
        load_drug(bad)


# --- enzyme turnover and the composed model ---------------------------------------------------------------------


def test_shipped_enzyme_module_is_generated() -> None:
    assert (PBPK / "enzyme_turnover.xml").read_text(encoding="utf-8") == build_enzyme_module()


def test_enzyme_turnover_reaches_the_static_steady_state() -> None:
    # constant unbound liver concentration: E -> A B and m_liver -> A B C, the static organ factor
    model = load_model(PBPK / "enzyme_turnover.xml")
    mw, conc_um = 500.0, 2.0
    to_mg_l = mw / 1000.0
    effect = ddi.EnzymeEffect(ki=3.0, kinact=1.2, ki_inact=5.0, emax=4.0, ec50=1.0)
    values = {"Cu_liver_perp": conc_um * to_mg_l, "f_rev": 1.0, "Ki": 3.0 * to_mg_l, "kinact": 1.2,
              "KI": 5.0 * to_mg_l, "Emax": 4.0, "EC50": 1.0 * to_mg_l}
    frame = model.simulate([0.0, 2000.0], selections=["E_liver", "m_liver", "m_gut"], parameters=values)
    assert frame["m_liver"].iloc[-1] == pytest.approx(ddi.organ_factor(effect, conc_um), rel=1e-5)
    assert frame["m_gut"].iloc[-1] == pytest.approx(1.0)  # no perpetrator in the lumen


def test_ddi_model_is_composed_from_two_drug_instances_and_the_enzyme_module() -> None:
    model = compose_ddi(("CYP3A4",))
    ids = set(model.parameter_ids)
    assert {"victim__CLint_CYP3A4", "perp__CLint_CYP3A4", "enz_cyp3a4__kdeg_liver"} <= ids
    assert "enz_cyp3a4_m_liver" in ids and "perp_Cu_liver" in ids  # the links' top-level parameters


def test_without_a_potent_effect_the_ratio_is_one_and_a_strong_inhibitor_raises_it(drugs) -> None:
    weak = drugs["fluconazole"].model_copy(update={"interactions": {
        "CYP3A4": drugs["fluconazole"].interactions["CYP3A4"].model_copy(update={"ki": 1e9})}})
    study = DdiStudy(victim="midazolam", perpetrator="fluconazole", victim_dose_mg=7.5, victim_time_h=2.0,
                     perpetrator_doses=((0.0, 400.0),))
    none = predict_ddi(study, {**drugs, "fluconazole": weak})
    assert none.auc_ratio == pytest.approx(1.0, abs=1e-4) and none.cmax_ratio == pytest.approx(1.0, abs=1e-4)
    strong = predict_ddi(study, drugs)
    assert strong.auc_ratio > 1.5 and strong.static_auc_ratio > strong.auc_ratio


def test_static_dose_terms_use_the_dose_being_absorbed_at_the_victim(drugs) -> None:
    # Backman 1998 design: midazolam 4 days after the last of four itraconazole doses. No perpetrator dose is
    # being absorbed then, so [I]g = 0 and [I]h = fu Cmax (FDA 2020 Table 2 with Dose = 0); the whole-regimen
    # maximum dose used before gave [I]g 29.8 uM and a static ratio of 32 (observed 2.63).
    itra = drugs["itraconazole"]
    study = DdiStudy(victim="midazolam", perpetrator="itraconazole", victim_dose_mg=7.5, victim_time_h=170.0,
                     perpetrator_doses=((0.0, 200.0), (24.0, 200.0), (48.0, 200.0), (72.0, 200.0)), horizon_h=24.0)
    assert study.perpetrator_dose_at_victim() == 0.0
    pred = predict_ddi(study, drugs)
    assert pred.gut_conc_um == 0.0
    assert pred.inlet_conc_um == pytest.approx(itra.fu * pred.perpetrator_cmax / itra.molecular_weight * 1000.0)
    assert pred.static_auc_ratio < 2.0
    # a loading dose is not the dose in effect at steady state (Olkkola 1996: fluconazole 400 mg, then 200 mg)
    flu = DdiStudy(victim="midazolam", perpetrator="fluconazole", victim_dose_mg=7.5, victim_time_h=122.0,
                   perpetrator_doses=((0.0, 400.0), *((24.0 * d, 200.0) for d in range(1, 6))))
    assert flu.perpetrator_dose_at_victim() == 200.0
    # victim first, perpetrator within the window after it
    late = DdiStudy(victim="midazolam", perpetrator="fluconazole", victim_dose_mg=7.5, victim_time_h=0.0,
                    perpetrator_doses=((1.0, 100.0), (25.0, 50.0)))
    assert late.perpetrator_dose_at_victim() == 100.0


def test_static_ratio_of_an_iv_victim_is_flow_limited(drugs) -> None:
    # After an IV dose AUC = Dose / CL with the well-stirred CL_h = Qh X / (Qh + X), X = fu_b CLint (Wilkinson &
    # Shand 1975): the oral net-effect liver term 1 / (fm ABC + 1 - fm) is the low-extraction limit only.
    # Midazolam (hepatic extraction ~0.4) with ketoconazole: computed here by hand from the record.
    from qsp_sbml.pbpk.parameters import hepatic_blood_flow

    mdz, keto = drugs["midazolam"], drugs["ketoconazole"]
    ratio, inlet, _ = static_prediction(mdz, keto, ("CYP3A4",), cmax_mg_l=4.0, dose_mg=400.0, victim_oral=False)
    abc = ddi.reversible_term(inlet, keto.interactions["CYP3A4"].ki)
    ref = reference("male")
    qh = hepatic_blood_flow(parameterise(mdz, ref).values)
    cl_b = mdz.clearance.cl_iv * (1 - mdz.clearance.fe) / mdz.bp  # hepatic blood clearance, L/h
    x = qh * cl_b / (qh - cl_b)
    fm = mdz.clearance.fm["CYP3A4"]
    x_i = x * (fm * abc + 1 - fm)
    expected = cl_b / (qh * x_i / (qh + x_i))
    assert ratio == pytest.approx(expected, rel=1e-9)
    oral_form = ddi.net_effect_auc_ratio(fm=fm, liver=abc)
    assert 0.2 < cl_b / qh < 0.6 and ratio < 0.7 * oral_form  # flow limitation matters at this extraction
    # induction (rifampicin) cannot raise an IV victim's clearance above hepatic blood flow
    rif = drugs["rifampicin"]
    ratio_ind, inlet_r, _ = static_prediction(mdz, rif, ("CYP3A4",), cmax_mg_l=10.0, dose_mg=600.0, victim_oral=False)
    assert ratio_ind > cl_b / qh
    assert ratio_ind > ddi.net_effect_auc_ratio(fm=fm, liver=ddi.organ_factor(rif.interactions["CYP3A4"].effect(),
                                                                                 inlet_r))


def test_static_fm_holds_for_any_victim_record_with_the_enzyme(drugs) -> None:
    # fm is the enzyme's share of the victim's total clearance, whether the record gives cl_iv + fm or clint
    flv = drugs["fluvoxamine"]
    ki = flv.interactions["CYP1A2"].ki
    caffeine, tizanidine = drugs["caffeine"], drugs["tizanidine"]
    assert tizanidine.clearance.clint is not None and "CYP1A2" not in tizanidine.clearance.fm  # clint record
    ratio, inlet, _ = static_prediction(caffeine, flv, ("CYP1A2",), cmax_mg_l=0.05, dose_mg=73.28)
    fm = (1 - caffeine.clearance.fe) * caffeine.clearance.fm["CYP1A2"]
    assert ratio == pytest.approx(ddi.net_effect_auc_ratio(fm=fm, liver=ddi.reversible_term(inlet, ki)), rel=1e-9)
    ratio, inlet, _ = static_prediction(tizanidine, flv, ("CYP1A2",), cmax_mg_l=0.05, dose_mg=73.28)
    par = parameterise(tizanidine, reference("male"))  # all of its intrinsic clearance is CYP1A2; renal fu GFR
    fm = par.cl_hepatic / (par.cl_hepatic + tizanidine.fu * par.values["GFR"])
    assert 0.5 < fm < 1 and ratio > 3
    assert ratio == pytest.approx(ddi.net_effect_auc_ratio(fm=fm, liver=ddi.reversible_term(inlet, ki)), rel=1e-9)
    # a victim cleared by no inhibited enzyme is not affected
    assert static_prediction(drugs["atenolol"], flv, ("CYP1A2", "CYP3A4"), cmax_mg_l=0.05,
                             dose_mg=73.28)[0] == pytest.approx(1.0)


def test_study_table_errors_name_file_line_and_column(tmp_path: Path, drugs) -> None:
    text = STUDIES.read_text(encoding="utf-8")
    lines = text.splitlines()
    first = next(i for i, t in enumerate(lines) if t.startswith("50\t"))
    bad = tmp_path / "studies.tsv"
    bad.write_text("\n".join([*lines[:first], lines[first].replace("\t5.745098039\t", "\t-1\t"),
                              *lines[first + 1:]]) + "\n", encoding="utf-8")
    with pytest.raises(DdiStudyError, match=rf"studies.tsv, line {first + 1}, column obs_auc_ratio"):
        load_ddi_studies(bad, drugs)
    bad.write_text(text.replace("\titraconazole\t", "\taspirin\t", 1), encoding="utf-8")
    with pytest.raises(DdiStudyError, match=r"column perpetrator: no drug record 'aspirin'"):
        load_ddi_studies(bad, drugs)


# --- verification -----------------------------------------------------------------------------------------------


def _committed_report() -> pd.DataFrame:
    return pd.read_csv(PBPK / "validation" / "ddi_verification.tsv", sep="\t")


@pytest.mark.slow
def test_ddi_verification_recomputes_the_committed_report(drugs) -> None:
    observations = load_ddi_studies(STUDIES, drugs)
    assert len(observations) >= 15 and all(o.role == "verification" for o in observations)
    table = verify(observations, drugs)
    committed = _committed_report()
    assert list(table["id"].astype(str)) == list(committed["id"].astype(str))
    for col in ("dyn_auc_ratio", "static_auc_ratio", "dyn_cmax_ratio"):
        np.testing.assert_allclose(table[col].to_numpy(), committed[col].to_numpy(), rtol=1e-4)
    summary = summarise(table)
    report = (PBPK / "validation" / "ddi_verification.md").read_text(encoding="utf-8")
    assert f"| dynamic | {summary['dyn_gmfe_auc']:.2f} | {100 * summary['dyn_inside_guest']:.0f} % |" in report
    assert f"| static | {summary['static_gmfe_auc']:.2f} | {100 * summary['static_inside_guest']:.0f} % |" in report
    # static (measured after the audit of issue 20 item 2): GMFE 3.16, 35 % inside Guest's limits (was 3.86, 20 %);
    # with the perpetrators' kp_scale and ka fitted to their model-building profiles: 2.84, 41 %
    assert summary["static_gmfe_auc"] == pytest.approx(2.84, abs=0.005)
    # the acceptance figures are not met (measured: GMFE 1.61, 69 % inside Guest's limits, n = 97); the gap is in
    # ddi_verification.md and pinned by test_ddi_acceptance_gap (strict xfail: it fails once the figures hold)
    assert summary["n"] >= 15 and set(ACCEPTANCE) == {"gmfe_auc", "inside_guest"}


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="measured: dynamic GMFE of AUC ratios 1.61 (target 1.5), 69 % inside Guest's "
                                       "limits (target 80 %); gap in models/pbpk/validation/ddi_verification.md")
def test_ddi_acceptance_gap(drugs) -> None:
    table = verify(load_ddi_studies(STUDIES, drugs), drugs)
    assert not failures(summarise(table))


# --- command line -----------------------------------------------------------------------------------------------


def test_cli_predict_prints_ratios_and_refuses_an_unknown_drug() -> None:
    import json

    from click.testing import CliRunner

    from qsp_sbml.cli import main

    args = ["pbpk", "ddi", "predict", "midazolam", "fluconazole", "--victim-dose", "7.5", "--victim-time", "2",
            "--perpetrator-doses", "0:400", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["auc_ratio"] > 1.5 and out["static_auc_ratio"] > out["auc_ratio"]
    bad = CliRunner().invoke(main, [*args[:4], "aspirin", *args[5:]])
    assert bad.exit_code == 1 and "no drug record 'aspirin'" in bad.output
    worse = CliRunner().invoke(main, [*args[:-2], "0-400", "--json"])
    assert worse.exit_code != 0 and "time_h:mg" in worse.output
