"""Saturable (Michaelis-Menten) hepatic metabolism of the whole-body PBPK module (issue 20)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

import qsp_sbml as qs
from qsp_sbml.dosing import Dose, Regimen
from qsp_sbml.metrics import auc as metric_auc
from qsp_sbml.pbpk import load_drug, parameterise
from qsp_sbml.pbpk.ddi import DdiError
from qsp_sbml.pbpk.drugs import DrugRecordError
from qsp_sbml.pbpk.interaction import DdiStudy, compose_ddi, predict_ddi
from qsp_sbml.pbpk.parameters import LINEAR_KM_MG_L, hepatic_blood_flow
from qsp_sbml.physiology import reference
from qsp_sbml.resources import project_models_dir

PBPK = project_models_dir() / "pbpk"
DRUGS = PBPK / "drugs"






def _with_km(drug: qs.pbpk.DrugRecord, km: dict[str, float], **clearance: float) -> qs.pbpk.DrugRecord:
    return drug.model_copy(update={"clearance": drug.clearance.model_copy(update={"km": km, **clearance})})


def test_record_km_sets_the_unbound_constant_in_mg_per_l(midazolam_record: qs.pbpk.DrugRecord) -> None:
    linear = parameterise(midazolam_record, reference("male")).values
    assert all(linear[f"saturable_{e}"] == 0.0 and linear[f"Km_{e}"] == LINEAR_KM_MG_L
               for e in ("CYP3A4", "other"))
    sat = parameterise(_with_km(midazolam_record, {"CYP3A4": 2.0}), reference("male"))
    assert sat.values["Km_CYP3A4"] == pytest.approx(2.0 * 325.78 / 1000, rel=1e-12)  # uM x g/mol -> mg/L
    assert sat.values["saturable_CYP3A4"] == 1.0 and sat.values["saturable_other"] == 0.0
    # CLint stays the low-concentration clearance: the same intrinsic clearances as without Km
    assert {k: v for k, v in sat.values.items() if k.startswith("CLint_")} == {
        k: v for k, v in linear.items() if k.startswith("CLint_")}


def test_huge_km_gives_the_linear_profile(wholebody_model: qs.Model, midazolam_record: qs.pbpk.DrugRecord) -> None:
    regimen = "7.5 mg po q12h x 4 to drug_gi_lumen; 2 mg iv to drug_venous_blood"
    t = np.linspace(0, 60, 241)
    linear = parameterise(midazolam_record, reference("male")).values
    huge = parameterise(_with_km(midazolam_record, {"CYP3A4": 1e12, "other": 1e12}), reference("male")).values
    sels = ["C_plasma", "Cu_liver", "eliminated_hepatic"]
    a = wholebody_model.simulate(t, selections=sels, parameters=linear, regimen=regimen)
    b = wholebody_model.simulate(t, selections=sels, parameters=huge, regimen=regimen)
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-9, atol=1e-15)
    # and a small Km is not ignored
    small = parameterise(_with_km(midazolam_record, {"CYP3A4": 0.01}), reference("male")).values
    c = wholebody_model.simulate(t, selections=sels, parameters=small, regimen=regimen)
    assert metric_auc(t, c["C_plasma"]) > 1.2 * metric_auc(t, a["C_plasma"])


def test_steady_state_infusion_equals_the_well_stirred_michaelis_menten_solution(
    wholebody_model: qs.Model, midazolam_record: qs.pbpk.DrugRecord
) -> None:
    # fe 0.3 keeps a linear renal route beside the saturable liver; log P 1 keeps distribution fast.
    km_um = 0.03  # unbound, about the unbound liver concentration of this infusion: half-saturated
    drug = _with_km(midazolam_record, {"CYP3A4": km_um}, fe=0.3, cl_iv=30.0).model_copy(update={"log_p": 1.0})
    v = parameterise(drug, reference("male")).values
    rate, end = 10.0, 600.0  # mg/h, h
    regimen = Regimen.of(Dose(amount=rate * end, unit="mg", route="iv_infusion", duration=end,
                              target="drug_venous_blood"))
    frame = wholebody_model.simulate([end - 10, end], selections=["C_plasma", "Cu_liver"], parameters=v,
                                     regimen=regimen)
    assert frame["C_plasma"].iloc[-1] == pytest.approx(frame["C_plasma"].iloc[0], rel=1e-8), "not at steady state"

    # Written out independently of the module: at steady state blood enters the liver at the arterial
    # (= venous) concentration Cb and leaves at Cout; unbound liver concentration Cu = fu/BP * Cout;
    #   Q_h (Cb - Cout) = Cu * sum_e CLint_e / (1 + s_e Cu / Km_e)          (well-stirred, Michaelis-Menten)
    #   rate = Q_h (Cb - Cout) + CL_R Cb / BP                                 (total elimination)
    qh, fu_b = hepatic_blood_flow(v), drug.fu / drug.bp
    km = km_um * drug.molecular_weight / 1000
    clint_sat = v["CLint_CYP3A4"]
    clint_lin = sum(v[f"CLint_{e}"] for e in ("CYP1A2", "CYP2C9", "CYP2C19", "CYP2D6", "other"))
    cl_renal = 0.3 * 30.0

    def hepatic(c_out: float) -> float:
        cu = fu_b * c_out
        return cu * (clint_sat / (1 + cu / km) + clint_lin)

    def excess(c_out: float) -> float:
        cb = c_out + hepatic(c_out) / qh
        return hepatic(c_out) + cl_renal * cb / drug.bp - rate

    c_out = brentq(excess, 0.0, 1e3, xtol=1e-14, rtol=1e-14)
    cb = c_out + hepatic(c_out) / qh
    linear_cp = rate / 30.0
    assert cb / drug.bp > 1.3 * linear_cp, "the infusion saturates the liver"
    assert frame["Cu_liver"].iloc[-1] == pytest.approx(fu_b * c_out, rel=1e-6)
    assert frame["C_plasma"].iloc[-1] == pytest.approx(cb / drug.bp, rel=1e-6)


def test_auc_rises_more_than_dose_proportionally_when_km_is_small(
    wholebody_model: qs.Model, midazolam_record: qs.pbpk.DrugRecord
) -> None:
    t = np.linspace(0, 96, 385)

    def auc_per_mg(drug: qs.pbpk.DrugRecord, dose: float) -> float:
        values = parameterise(drug, reference("male")).values
        c = wholebody_model.simulate(t, selections=["C_plasma"], parameters=values,
                           regimen=f"{dose} mg po to drug_gi_lumen")["C_plasma"]
        return metric_auc(t, c) / dose

    linear = [auc_per_mg(midazolam_record, d) for d in (1.0, 100.0)]
    assert linear[1] == pytest.approx(linear[0], rel=1e-6)
    saturable = _with_km(midazolam_record, {"CYP3A4": 0.05})
    small, large = (auc_per_mg(saturable, d) for d in (1.0, 100.0))
    assert small == pytest.approx(linear[0], rel=0.05), "1 mg stays nearly linear"
    assert large > 1.5 * small


def test_composed_ddi_model_keeps_the_victims_saturation(midazolam_record: qs.pbpk.DrugRecord) -> None:
    """The dynamic DDI drives victim.m_<enzyme> by a link; Km and the switch are the victim's own."""
    drugs = qs.pbpk.load_drugs(DRUGS)
    assert {"victim__Km_CYP3A4", "victim__saturable_CYP3A4", "perp__Km_CYP3A4"} <= set(
        compose_ddi(("CYP3A4",)).parameter_ids)
    # a negligible inducer (reversible inhibition of a saturable victim is refused: see the next test)
    weak = drugs["fluconazole"].model_copy(update={"interactions": {
        "CYP3A4": drugs["fluconazole"].interactions["CYP3A4"].model_copy(
            update={"ki": None, "emax": 1e-12, "ec50": 1.0})}})
    study = DdiStudy(victim="midazolam", perpetrator="fluconazole", victim_dose_mg=7.5, victim_time_h=2.0,
                     perpetrator_doses=((0.0, 400.0),))
    base = predict_ddi(study, {**drugs, "fluconazole": weak})
    sat = predict_ddi(study, {**drugs, "fluconazole": weak, "midazolam": _with_km(midazolam_record, {"CYP3A4": 0.002})})
    assert base.auc_ratio == pytest.approx(1.0, abs=1e-4) and sat.auc_ratio == pytest.approx(1.0, abs=1e-4)
    assert sat.details["auc_control"] > 1.2 * base.details["auc_control"]


def test_reversible_inhibition_of_a_saturable_victim_is_refused(midazolam_record: qs.pbpk.DrugRecord) -> None:
    """Competitive inhibition must raise Km; the module lowers Vmax: refused rather than silently non-competitive."""
    drugs = qs.pbpk.load_drugs(DRUGS)
    study = DdiStudy(victim="midazolam", perpetrator="fluconazole", victim_dose_mg=7.5, victim_time_h=2.0,
                     perpetrator_doses=((0.0, 400.0),))
    saturable = r"midazolam\+fluconazole: the victim's CYP3A4 is saturable .*\(interactions\.CYP3A4\.ki\)"
    with pytest.raises(DdiError, match=saturable):
        predict_ddi(study, {**drugs, "midazolam": _with_km(midazolam_record, {"CYP3A4": 0.002})})


@pytest.mark.parametrize(("km", "field", "match"), [
    ("{CYP3A4: -2.0}", "clearance.km.CYP3A4", "finite and > 0"),
    ("{CYP2D6: 2.0}", "clearance.km.CYP2D6", "CYP2D6 carries no clearance"),
    ("{CYP9Z9: 2.0}", "clearance.km.CYP9Z9", "unknown enzyme 'CYP9Z9'"),
])
def test_bad_km_is_refused_naming_file_line_field(tmp_path: Path, km: str, field: str, match: str) -> None:
    text = (DRUGS / "midazolam.yaml").read_text(encoding="utf-8")
    old = "  fm: {CYP3A4: 0.98, other: 0.02}\n"
    assert old in text
    line = text[: text.index(old)].count("\n") + 2
    bad = tmp_path / "midazolam.yaml"
    bad.write_text(text.replace(old, f"{old}  km: {km}\n"), encoding="utf-8")
    with pytest.raises(DrugRecordError) as err:
        load_drug(bad)
    assert f"midazolam.yaml, line {line}, field {field}: " in str(err.value) and match in str(err.value)


def test_km_needs_a_source(tmp_path: Path) -> None:
    text = (DRUGS / "midazolam.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "midazolam.yaml"
    bad.write_text(text.replace("other: 0.02}\n", "other: 0.02}\n  km: {CYP3A4: 2.0}\n"), encoding="utf-8")
    with pytest.raises(DrugRecordError, match="no source given for clearance.km.CYP3A4"):
        load_drug(bad)



def test_cohort_pk_is_solved_exactly_only_when_every_subject_is_linear(wholebody_model: qs.Model,
                                                                      midazolam_record: qs.pbpk.DrugRecord) -> None:
    """``saturable_<e> = 0`` in every subject keeps the whole PK exact on the linear-PK cohort path."""
    from qsp_sbml.population import Cohort, simulate_cohort
    from qsp_sbml.population.simulation import _known_zeros
    from qsp_sbml.simulate.linear_pk import LinearPkStructure

    linear = parameterise(midazolam_record, reference("male")).values
    sat = parameterise(_with_km(midazolam_record, {"CYP3A4": 0.05}), reference("male")).values
    t = np.arange(0.0, 48.5, 0.5)
    regimen = "7.5 mg po q12h x 4 to drug_gi_lumen"
    cohort = Cohort.from_parts(parameters=pd.DataFrame([linear, linear]), seed=1)
    fast = simulate_cohort(wholebody_model, cohort, t, outputs=["C_plasma"], regimen=regimen, method="auto",
                           progress=False)
    ref = simulate_cohort(wholebody_model, cohort, t, outputs=["C_plasma"], regimen=regimen, progress=False)
    assert fast.attrs["method"] == "linear-pk" and "pd=0 integrated" in fast.attrs["method_reason"]
    np.testing.assert_allclose(fast.values, ref.values, rtol=1e-6, atol=1e-12)
    # one saturable subject: its switch is not 0 for every subject, so the liver leaves the exact part
    actions, _ = wholebody_model.plan(regimen, end=48.0)
    frame = pd.DataFrame([linear, sat])
    zeros = _known_zeros(wholebody_model.sbml_model, list(frame.columns), frame.to_numpy(dtype=float))
    assert "saturable_CYP3A4" not in zeros and "saturable_CYP1A2" in zeros
    structure = LinearPkStructure.detect(wholebody_model.sbml_model, actions, ["C_plasma"], list(frame.columns), zeros)
    assert "drug_liver" in structure.pd
