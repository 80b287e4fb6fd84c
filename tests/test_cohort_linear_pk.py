"""The structure-aware cohort path (``simulate_cohort(method="auto"|"linear-pk")``) against the general path.

Reference: the general path (CVODE through RoadRunner, regimen as SBML events) at rtol 1e-10 / atol 1e-14;
the structure-aware path runs at the model's default options (rtol 1e-8 / atol 1e-12).  Accuracy measure
per output: max |difference| / max |reference| over subjects and times (<= 1e-6 required).
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from pathlib import Path

import libsbml
import numpy as np
import pandas as pd
import pytest

import qsp_sbml as qs
from qsp_sbml.compose.assemble import assemble
from qsp_sbml.engine import SerialEngine
from qsp_sbml.errors import UnsupportedFeatureError
from qsp_sbml.pbpk import load_drug
from qsp_sbml.population import Cohort, lognormal_iiv, sample_population, simulate_cohort, subject_parameters
from qsp_sbml.resources import project_models_dir

REPO = Path(__file__).resolve().parents[1]
THEO = REPO / "petab_problems" / "theophylline" / "model.xml"
MODELS = project_models_dir()


def _rel(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(a - ref)) / np.max(np.abs(ref)))


def _compare(model: qs.Model, cohort: Cohort, times: np.ndarray, outputs: list[str], regimen: str,
             **kw: object) -> tuple[qs.population.CohortResult, float]:
    tight = dataclasses.replace(model.options, rtol=1e-10, atol=1e-14)
    ref = simulate_cohort(model, cohort, times, outputs=outputs, regimen=regimen, options=tight, progress=False)
    fast = simulate_cohort(model, cohort, times, outputs=outputs, regimen=regimen, method="auto", progress=False,
                           **kw)  # type: ignore[arg-type]
    worst = max(_rel(fast.values[:, :, j], ref.values[:, :, j]) for j in range(len(outputs)))
    return fast, worst


def _pbpk_cohort(n: int, prefix: str = "") -> Cohort:
    drug = load_drug(MODELS / "pbpk" / "drugs" / "midazolam.yaml")
    cov = sample_population("healthy_adults", n, seed=7)
    params = pd.DataFrame([subject_parameters(drug, row).values for _, row in cov.iterrows()]).add_prefix(prefix)
    return Cohort.from_parts(parameters=params, seed=7)


@pytest.mark.slow
def test_benchmark_pbpk_pd_model_matches_general_path() -> None:
    # benchmarks/cohort.py's model: whole-body PBPK (midazolam) -> molar conversion -> IDR type I, 28 oral doses
    warnings.filterwarnings("ignore", category=qs.errors.UnitWarning)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pbpk.xml"
        path.write_text((MODELS / "pbpk" / "wholebody_pbpk.xml").read_text(encoding="utf-8"), encoding="utf-8")
        modules = {"pbpk": path, "conv": MODELS / "pd" / "molar_conversion.xml", "pd": MODELS / "pd" / "idr1.xml"}
        flat = assemble(modules, ["pbpk.C_plasma -> conv.C_mass", "conv.C_molar -> pd.C_drug"], {"conv.MW": 325.78},
                        name="pbpk_idr1").flat_sbml
    model = qs.load_model(flat, guard=False)
    outputs = ["pd__R", "pbpk_C_plasma", "pbpk__drug_liver", "[pbpk__drug_venous_blood]", "pd__I_drug"]
    fast, worst = _compare(model, _pbpk_cohort(6, "pbpk__"), np.arange(0.0, 337.0, 1.0), outputs,
                           "7.5 mg po q12h x 28 to pbpk__drug_gi_lumen")
    assert fast.attrs["method"] == "linear-pk" and fast.attrs["general_subjects"] == 0
    assert "pd=1 integrated" in fast.attrs["method_reason"]
    assert worst <= 1e-6, worst


def test_shipped_pbpk_model_oral_iv_infusion_matches_general_path() -> None:
    # pure linear PK: no state integrated; oral doses, an IV bolus and two infusions, outputs at the dose times
    model = qs.load_model(MODELS / "pbpk" / "wholebody_pbpk.xml", guard=False)
    regimen = ("7.5 mg po q12h x 4 to drug_gi_lumen; 2 mg iv at 30 h to drug_venous_blood; "
               "5 mg iv over 2 h q24h x 2 to drug_venous_blood")
    outputs = ["C_plasma", "drug_liver", "[drug_venous_blood]", "eliminated_hepatic", "drug_gi_lumen"]
    fast, worst = _compare(model, _pbpk_cohort(4), np.arange(0.0, 60.5, 0.5), outputs, regimen)
    assert fast.attrs["method"] == "linear-pk" and fast.attrs["general_subjects"] == 0
    assert "pd=0 integrated" in fast.attrs["method_reason"]
    assert worst <= 1e-6, worst


@pytest.fixture(scope="module")
def theo() -> qs.Model:
    return qs.load_model(THEO, guard=False)


def _theo_cohort(n: int = 5, **fixed: float) -> Cohort:
    params = lognormal_iiv({"CL": 2.8, "ka": 1.5}, n, seed=3, cv={"CL": 0.3, "ka": 0.4})
    for k, v in fixed.items():
        params[k] = v
    return Cohort.from_parts(parameters=params, seed=3)


def _variant(model: qs.Model, edit) -> qs.Model:  # type: ignore[no-untyped-def]
    doc = libsbml.readSBMLFromString(model.sbml)
    edit(doc.getModel())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qs.errors.UnitWarning)  # the added parameters carry no units
        return qs.load_model(libsbml.writeSBMLToString(doc), guard=False)


def _michaelis_menten(m: libsbml.Model) -> None:
    for pid, value in (("Vmax", 20.0), ("Km", 5.0)):
        p = m.createParameter()
        p.setId(pid), p.setValue(value), p.setConstant(True)
    m.getReaction("elimination").getKineticLaw().setMath(libsbml.parseL3Formula("Vmax * (A / Vc) / (Km + A / Vc)"))


def test_nonlinear_elimination_integrated_and_a_dose_into_it_falls_back(theo: qs.Model) -> None:
    mm = _variant(theo, _michaelis_menten)
    times = np.arange(0.0, 49.0, 1.0)
    fast, worst = _compare(mm, _theo_cohort(), times, ["C", "A_gut"], "320 mg po q12h x 4 to A_gut")
    assert fast.attrs["method"] == "linear-pk" and worst <= 1e-6, (fast.attrs, worst)
    # an IV dose goes into the nonlinear central amount: general path, and the reason says so
    res = simulate_cohort(mm, _theo_cohort(), times, outputs=["C"], regimen="100 mg iv q12h to A", method="auto",
                          progress=False)
    assert res.attrs["method"] == "general"
    assert "dose target 'A' is not in the linear part" in res.attrs["method_reason"]
    with pytest.raises(UnsupportedFeatureError, match="dose target 'A'"):
        simulate_cohort(mm, _theo_cohort(), times, outputs=["C"], regimen="100 mg iv q12h to A",
                        method="linear-pk", progress=False)


def _event(m: libsbml.Model) -> None:
    ev = m.createEvent()
    ev.setId("clearance_switch"), ev.setUseValuesFromTriggerTime(True)
    trigger = ev.createTrigger()
    trigger.setMath(libsbml.parseL3Formula("time >= 20")), trigger.setInitialValue(False), trigger.setPersistent(True)
    m.getParameter("CL").setConstant(False)
    ea = ev.createEventAssignment()
    ea.setVariable("CL"), ea.setMath(libsbml.parseL3Formula("2 * CL"))


def _time_dependent(m: libsbml.Model) -> None:
    # absorption slowing with time: the depot's equation is not one with constant coefficients
    m.getReaction("absorption").getKineticLaw().setMath(libsbml.parseL3Formula("F * ka * A_gut / (1 + 0.01 * time)"))


@pytest.mark.parametrize(("edit", "reason"), [(_event, "SBML events (clearance_switch) other than doses"),
                                              (_time_dependent, "dose target 'A_gut' is not in the linear part")])
def test_structure_not_there_falls_back_to_general_path_with_reason(theo: qs.Model, edit, reason: str) -> None:  # type: ignore[no-untyped-def]
    variant = _variant(theo, edit)
    times = np.arange(0.0, 37.0, 1.0)
    kw = {"outputs": ["C"], "regimen": "320 mg po q12h x 3 to A_gut", "progress": False}
    res = simulate_cohort(variant, _theo_cohort(), times, method="auto", **kw)  # type: ignore[arg-type]
    ref = simulate_cohort(variant, _theo_cohort(), times, **kw)  # type: ignore[arg-type]
    assert res.attrs["method"] == "general" and reason in res.attrs["method_reason"]
    assert np.array_equal(res.values, ref.values)
    assert ref.attrs["method"] == "general" and "method_reason" not in ref.attrs


def test_shipped_tmdd_model_falls_back() -> None:
    mab = qs.load_model(MODELS / "pbpk" / "mab_two_compartment_tmdd.xml")
    res = simulate_cohort(mab, Cohort.from_parts(parameters=pd.DataFrame({"CL": [0.01, 0.02]}), seed=1),
                          np.linspace(0.0, 48.0, 49), outputs=["mab_central"], regimen="100 nmol iv over 20 h to "
                          "mab_central", method="auto", progress=False)
    assert res.attrs["method"] == "general" and "not in the linear part" in res.attrs["method_reason"]


def test_defective_subject_handed_to_general_path_and_batches_do_not_matter(theo: qs.Model) -> None:
    # ka = CL / Vc makes A = [[-ka, 0], [ka, -ka]] (gut, central) a Jordan block: no eigenvector basis
    cohort = _theo_cohort(6)
    table = cohort.parameters().copy()
    table.loc[2, "ka"] = table.loc[2, "CL"] / 32.06
    cohort = Cohort.from_parts(parameters=table, seed=3)
    times = np.arange(0.0, 37.0, 1.0)
    fast, worst = _compare(theo, cohort, times, ["C", "A_eliminated"], "320 mg po q12h x 3 to A_gut")
    assert fast.attrs["general_subjects"] == 1 and worst <= 1e-6, (fast.attrs, worst)
    one_by_one = simulate_cohort(theo, cohort, times, outputs=["C", "A_eliminated"], regimen="320 mg po q12h x 3 "
                                 "to A_gut", method="auto", batch_size=1, engine=SerialEngine(), progress=False)
    assert np.array_equal(one_by_one.values, fast.values)


def test_bad_method_named(theo: qs.Model) -> None:
    with pytest.raises(ValueError, match="method must be one of general, auto, linear-pk"):
        simulate_cohort(theo, _theo_cohort(), [0.0, 1.0], outputs=["C"], method="fast")


def test_process_engine_gives_the_serial_result(theo: qs.Model) -> None:
    # the workers detect the structure again from the shipped SBML and actions; batches differ (5 vs 256)
    from qsp_sbml.engine import ProcessEngine

    kw = {"outputs": ["C", "A_gut"], "regimen": "320 mg po q12h x 4 to A_gut", "method": "auto", "progress": False}
    times = np.arange(0.0, 49.0, 1.0)
    mm = _variant(theo, _michaelis_menten)
    ser = simulate_cohort(mm, _theo_cohort(40), times, engine=SerialEngine(), **kw)  # type: ignore[arg-type]
    par = simulate_cohort(mm, _theo_cohort(40), times, engine=ProcessEngine(2), **kw)  # type: ignore[arg-type]
    assert par.attrs["method"] == "linear-pk" and par.attrs["batch_size"] != ser.attrs["batch_size"]
    assert np.array_equal(par.values, ser.values)
