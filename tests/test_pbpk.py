"""Whole-body PBPK module: files, physiology, mass balance, steady state, units, absorption routes."""

from __future__ import annotations

import math
from pathlib import Path

import libsbml
import numpy as np
import pytest

import qsp_sbml as qs
from qsp_sbml.dosing import Dose, Regimen
from qsp_sbml.metrics import auc as metric_auc
from qsp_sbml.pbpk import DOSE_TARGETS, load_drug, parameterise
from qsp_sbml.pbpk.__main__ import generated
from qsp_sbml.pbpk.drugs import DrugRecordError
from qsp_sbml.pbpk.parameters import ParameterError, hepatic_blood_flow, total_clearance
from qsp_sbml.pbpk.structure import ENZYMES, EXCRETA
from qsp_sbml.physiology import PhysiologyError, reference, scale_to
from qsp_sbml.resources import project_models_dir

PBPK = project_models_dir() / "pbpk"
DRUGS = PBPK / "drugs"






@pytest.mark.parametrize("name", ["wholebody_pbpk.xml", "mab_two_compartment_tmdd.xml"])
def test_model_files_load_clean_with_units_everywhere(name: str) -> None:
    model = qs.load_model(PBPK / name, strict_units=True, guard=False)
    assert not model.report.errors() and not model.report.warnings()
    m = model.sbml_model
    for p in (m.getParameter(i) for i in range(m.getNumParameters())):
        assert p.isSetUnits(), p.getId()
    for s in (m.getSpecies(i) for i in range(m.getNumSpecies())):
        assert s.isSetSubstanceUnits(), s.getId()
    for c in (m.getCompartment(i) for i in range(m.getNumCompartments())):
        assert c.isSetUnits(), c.getId()
    assert not m.getNumInitialAssignments(), "per-subject values are parameter values, not initial assignments"


def test_committed_model_files_are_what_the_code_generates() -> None:
    for path, text in generated().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale; run python -m qsp_sbml.pbpk"


def test_module_declares_ports() -> None:
    doc = libsbml.readSBMLFromFile(str(PBPK / "wholebody_pbpk.xml"))
    plugin = doc.getModel().getPlugin("comp")
    refs = {plugin.getPort(i).getIdRef() for i in range(plugin.getNumPorts())}
    assert {"drug_venous_blood", "drug_gi_lumen", "m_CYP3A4", "C_plasma", "drug_liver"} <= refs


@pytest.mark.parametrize("sex", ["male", "female"])
def test_reference_physiology_closes_flows_and_mass(sex: str) -> None:
    phys = reference(sex)
    phys.check()
    assert sum(phys.flows.values()) == pytest.approx(phys.cardiac_output, rel=1e-12)
    assert phys.volumes["rest"] > 0 and phys.flows["rest"] > 0
    scaled = scale_to(phys, 95.0)
    scaled.check()
    assert scaled.volumes["liver"] / phys.volumes["liver"] == pytest.approx(95.0 / phys.body_weight)
    assert scaled.cardiac_output / phys.cardiac_output == pytest.approx((95.0 / phys.body_weight) ** 0.75)
    with pytest.raises(PhysiologyError):
        scale_to(phys, 5.0)


def test_well_stirred_inversion_round_trips(midazolam_record: qs.pbpk.DrugRecord) -> None:
    p = parameterise(midazolam_record, reference("male"))
    cl_h, cl_r = total_clearance(p.values)
    assert cl_h + cl_r == pytest.approx(midazolam_record.clearance.cl_iv, rel=1e-12)
    renal = midazolam_record.model_copy(update={"clearance": midazolam_record.clearance.model_copy(update={"fe": 0.4})})
    p = parameterise(renal, reference("male"))
    assert p.cl_renal == pytest.approx(0.4 * 22.3) and p.cl_total == pytest.approx(22.3)
    assert p.values["CL_renal_secretion"] > 0
    too_fast = midazolam_record.model_copy(
        update={"clearance": midazolam_record.clearance.model_copy(update={"cl_iv": 500.0})})
    with pytest.raises(ParameterError, match="liver blood flow"):
        parameterise(too_fast, reference("male"))


def _all_regimen() -> Regimen:
    return Regimen.of(
        Dose(amount=2.0, unit="mg", route="iv_bolus", target=DOSE_TARGETS[qs.Route.IV_BOLUS], time=0.5),
        Dose(amount=3.0, unit="mg", route="iv_infusion", duration=2.0, target="drug_venous_blood", time=1.0),
        Dose(amount=7.5, unit="mg", route="oral", target="drug_gi_lumen", interval=6.0, count=3),
        Dose(amount=5.0, unit="mg", route="oral", target="drug_stomach", time=2.0),
        Dose(amount=4.0, unit="mg", route="sc", target="drug_sc_depot", time=3.0),
    )


def test_mass_balance_at_every_output_time(wholebody_model: qs.Model, midazolam_record: qs.pbpk.DrugRecord) -> None:
    values = parameterise(midazolam_record, reference("female")).values
    values.update(Fa=0.8, F_sc=0.7, ka_sc=0.5, ka_si=1.2, CL_renal_secretion=3.0)
    times = np.linspace(0, 30, 301)
    species = wholebody_model.species_ids
    frame = wholebody_model.simulate(times, selections=species, parameters=values, regimen=_all_regimen())
    total = frame[species].sum(axis=1).to_numpy()
    given = np.zeros_like(times)
    given += 2.0 * (times >= 0.5)
    given += 3.0 * np.clip((times - 1.0) / 2.0, 0, 1)
    given += 7.5 * ((times >= 0).astype(float) + (times >= 6) + (times >= 12))
    given += 5.0 * (times >= 2.0) + 4.0 * (times >= 3.0)
    np.testing.assert_allclose(total, given, rtol=1e-6, atol=1e-9)
    assert frame[list(EXCRETA)].iloc[-1].min() > 0, "every elimination route was exercised"


def test_steady_state_infusion_equals_rate_over_well_stirred_clearance(
    wholebody_model: qs.Model, midazolam_record: qs.pbpk.DrugRecord
) -> None:
    clearance = midazolam_record.clearance.model_copy(update={"fe": 0.3, "cl_iv": 30.0})
    drug = midazolam_record.model_copy(update={"clearance": clearance, "log_p": 1.0})
    p = parameterise(drug, reference("male"))
    rate = 10.0  # mg/h
    end = 400.0
    regimen = Regimen.of(Dose(amount=rate * end, unit="mg", route="iv_infusion", duration=end,
                              target="drug_venous_blood"))
    frame = wholebody_model.simulate([end - 10, end], selections=["C_plasma"], parameters=p.values, regimen=regimen)
    assert frame["C_plasma"].iloc[-1] == pytest.approx(frame["C_plasma"].iloc[0], rel=1e-9), "not at steady state"
    # Textbook well-stirred liver plus renal clearance, written out independently of the module.
    v = p.values
    qh, fu_b = hepatic_blood_flow(v), drug.fu / drug.bp
    clint = sum(v[f"CLint_{e}"] for e in ENZYMES)
    cl = drug.bp * qh * fu_b * clint / (qh + fu_b * clint) + 0.3 * 30.0
    assert cl == pytest.approx(30.0, rel=1e-12)
    assert frame["C_plasma"].iloc[-1] == pytest.approx(rate / cl, rel=1e-6)


def test_enzyme_multiplier_scales_intrinsic_clearance(wholebody_model: qs.Model,
                                                      midazolam_record: qs.pbpk.DrugRecord) -> None:
    base = parameterise(midazolam_record, reference("male"))
    inhibited = parameterise(midazolam_record, reference("male"), multipliers={"CYP3A4": 0.1})
    assert inhibited.cl_hepatic < 0.2 * base.cl_hepatic
    regimen = "7.5 mg po to drug_gi_lumen"
    t = np.linspace(0, 48, 481)
    auc = [metric_auc(t, wholebody_model.simulate(t, selections=["C_plasma"], parameters=p.values,
                                             regimen=regimen)["C_plasma"]) for p in (base, inhibited)]
    assert auc[1] > 3 * auc[0]
    with pytest.raises(ParameterError, match="multiplier"):
        parameterise(midazolam_record, reference("male"), multipliers={"CYP9Z9": 1.0})


@pytest.mark.parametrize(("amount", "unit"), [(5.0, "mg"), (5000.0, "ug"), (0.005, "g"), (15.347780710909202, "umol")])
def test_results_do_not_depend_on_the_dose_unit(wholebody_model: qs.Model, amount: float, unit: str) -> None:
    regimen = Regimen.of(Dose(amount=amount, unit=unit, route="oral", target="drug_gi_lumen", interval=12,
                              count=3, time_unit="h"), molecular_weight=325.78)
    t = np.linspace(0, 36, 73)
    frame = wholebody_model.simulate(t, selections=["C_plasma", "[drug_liver]"], regimen=regimen)
    reference_frame = wholebody_model.simulate(t, selections=["C_plasma", "[drug_liver]"],
                                     regimen="5 mg po q12h x 3 to drug_gi_lumen")
    np.testing.assert_allclose(frame.to_numpy(), reference_frame.to_numpy(), rtol=1e-9, atol=1e-15)


def test_cat_chain_absorbs_the_yu_amidon_fraction(wholebody_model: qs.Model,
                                                  midazolam_record: qs.pbpk.DrugRecord) -> None:
    # Yu & Amidon 1999 (Int J Pharm 186:119): Fa = 1 - (1 + ka/kt)^-7 for seven transit compartments.
    values = parameterise(midazolam_record, reference("male")).values | {"ka_si": 0.8, "Fg": 1.0}
    frame = wholebody_model.simulate([0, 200], selections=["eliminated_feces"], parameters=values,
                           regimen="10 mg po to drug_stomach")
    fa_model = 1 - frame["eliminated_feces"].iloc[-1] / 10.0
    kt = values["k_si_transit"]
    assert fa_model == pytest.approx(1 - (1 + 0.8 / kt) ** -7, rel=1e-6)


def test_first_order_oral_and_sc_fractions(wholebody_model: qs.Model, midazolam_record: qs.pbpk.DrugRecord) -> None:
    values = parameterise(midazolam_record, reference("male")).values | {"Fa": 0.7, "Fg": 0.6, "F_sc": 0.8,
                                                                         "ka_sc": 1.0}
    frame = wholebody_model.simulate([0, 200], selections=["eliminated_feces", "eliminated_gut_wall", "eliminated_sc"],
                           parameters=values, regimen="10 mg po to drug_gi_lumen; 10 mg sc to drug_sc_depot")
    last = frame.iloc[-1]
    assert last["eliminated_feces"] == pytest.approx(3.0, rel=1e-6)
    assert last["eliminated_gut_wall"] == pytest.approx(10 * 0.7 * 0.4, rel=1e-6)
    assert last["eliminated_sc"] == pytest.approx(2.0, rel=1e-6)


def test_drug_records_are_complete_and_sourced() -> None:
    records = qs.pbpk.load_drugs(DRUGS)
    assert len(records) >= 6
    for record in records.values():
        for name in record.valued_fields():
            assert record.sources[name].strip(), (record.id, name)
        parameterise(record, reference("male"))


def test_unsourced_or_malformed_records_are_refused(tmp_path: Path) -> None:
    text = (DRUGS / "midazolam.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "midazolam.yaml"
    bad.write_text(text.replace("  fu: \"0.031", "  fu_typo: \"0.031"), encoding="utf-8")
    with pytest.raises(DrugRecordError, match=r"(?s)midazolam.yaml.*no source given for fu"):
        load_drug(bad)
    bad.write_text(text.replace("CYP3A4: 0.98", "CYP3A5: 0.98"), encoding="utf-8")
    with pytest.raises(DrugRecordError, match="unknown enzyme"):
        load_drug(bad)
    other = tmp_path / "other.yaml"
    other.write_text(text, encoding="utf-8")
    with pytest.raises(DrugRecordError, match="does not match the file name"):
        load_drug(other)
    bad.write_text("fu: [1, 2", encoding="utf-8")
    with pytest.raises(DrugRecordError, match="not valid YAML"):
        load_drug(bad)


def test_rest_of_body_takes_muscle_kp(midazolam_record: qs.pbpk.DrugRecord) -> None:
    v = parameterise(midazolam_record, reference("male")).values
    assert v["Kp_rest"] == v["Kp_muscle"] == v["Kp_thyroid"]
    assert all(math.isfinite(v[k]) and v[k] > 0 for k in v if k.startswith("Kp_"))


def test_regeneration_command_refuses_unknown_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m qsp_sbml.pbpk --help`` used to regenerate (write) the shipped files; now a usage error."""
    from qsp_sbml.pbpk.__main__ import main as regenerate

    assert regenerate(["--help"]) == 2
    assert "usage: python -m qsp_sbml.pbpk [--check]" in capsys.readouterr().err
