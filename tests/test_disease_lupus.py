"""Lupus nephritis module (qsp_sbml.library.lupus_nephritis): steady state, drug response, validation, ports."""

from __future__ import annotations

from pathlib import Path

import libsbml
import numpy as np
import pytest

from qsp_sbml import load_model
from qsp_sbml.errors import QspError
from qsp_sbml.library import lupus_nephritis as ln
from qsp_sbml.library._common import read_observed
from qsp_sbml.model import Model
from qsp_sbml.resources import project_models_dir

PATH = project_models_dir() / ln.MODEL_FILE
STATES = list(ln.BASELINE)
YEAR_H = 365.25 * 24.0
OUTPUTS = ["anti_dsDNA", "C3", "C4", "UPCR", "eGFR"]


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model(PATH)


def test_untreated_module_stays_at_the_baseline(model: Model) -> None:
    end = model.simulate([0.0, 20 * YEAR_H], selections=[*STATES, "UPCR", "eGFR"]).iloc[-1]
    for state, value in ln.BASELINE.items():
        assert end[state] == pytest.approx(value, rel=1e-6), state
    assert end["UPCR"] == pytest.approx((3.5 + 3.2) / 2, rel=1e-6)  # BLISS-LN arm means
    assert end["eGFR"] == pytest.approx(95.0, rel=1e-6)


def test_right_hand_side_is_zero_at_baseline(model: Model) -> None:
    rr = model.roadrunner()
    rr.resetAll()
    named = rr.getRatesOfChangeNamedArray()
    rates = {name.rstrip("'"): float(value) for name, value in zip(named.colnames, named[0], strict=True)}
    for state in STATES:
        assert abs(rates[state]) < 1e-12, state


def test_complement_turnover_is_consistent_with_published_synthesis_rates() -> None:
    # normal C3 = Ks / (FCR * plasma volume): with FCR 2.3 %/h (Alper & Rosen 1967) and ~40 mL/kg plasma
    # the implied synthesis must lie in the 0.89-2.0 mg/kg/h range measured by Sliwinski & Zvaifler 1972
    ks = ln.PARAMETERS["C3_normal"].value * 1000.0 * 0.040 * ln.PARAMETERS["FCR_C3"].value / 100.0
    assert 0.89 <= ks <= 2.0


def test_without_autoantibody_the_module_returns_to_normal(model: Model) -> None:
    end = model.simulate([0.0, 30 * YEAR_H], selections=OUTPUTS, parameters={"E_drug": 1.0}).iloc[-1]
    assert end["anti_dsDNA"] < 1e-6
    assert end["C3"] == pytest.approx(1.3, rel=1e-4)
    assert end["C4"] == pytest.approx(0.25, rel=1e-4)
    assert end["UPCR"] == pytest.approx(0.15, rel=1e-3)
    assert end["eGFR"] == pytest.approx(110.0, rel=1e-4)


def test_response_is_monotone_in_drug_effect(model: Model) -> None:
    effects = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ends = [model.simulate([0.0, YEAR_H], selections=OUTPUTS, parameters={"E_drug": e}).iloc[-1] for e in effects]
    for key, sign in (("anti_dsDNA", -1), ("UPCR", -1), ("C3", 1), ("C4", 1), ("eGFR", 1)):
        values = np.array([float(e[key]) for e in ends])
        assert np.all(sign * np.diff(values) > 0), key


def test_anti_dsDNA_decline_is_progressive(model: Model) -> None:
    frame = model.simulate(np.array([0.0, 1.0, 2.0, 4.0, 7.0]) * YEAR_H, selections=["anti_dsDNA"],
                           parameters={"E_drug": ln.BELIMUMAB_E_DRUG.value})
    assert np.all(np.diff(frame["anti_dsDNA"].to_numpy()) < 0)


def test_validation_against_ginzler_2014_is_within_tolerance() -> None:
    outcome = ln.validate()
    assert outcome.passed, outcome
    assert outcome.tolerance == 5.0
    assert list(outcome.table["year"]) == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


def test_ports() -> None:
    doc = libsbml.readSBMLFromFile(str(PATH))
    ports = {p.getIdRef(): p.getSBOTerm() for p in doc.getModel().getPlugin("comp").getListOfPorts()}
    assert ports.pop("E_drug") == 600
    assert set(ports) == {"anti_dsDNA", "C3", "C4", "UPCR", "eGFR", "B_auto", "LLPC"}
    assert set(ports.values()) == {601}
    model = doc.getModel()
    assert model.getParameter("E_drug").getValue() == 0.0
    assert model.getParameter("C3").getUnits() == "g_per_litre"
    assert model.getParameter("eGFR").getUnits() == "mL_per_min_per_1_73m2"
    assert model.getTimeUnits() == "hour"


def test_observed_table_without_a_column_is_refused_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "observed.tsv"
    bad.write_text("quantity\tyear\tlower\tupper\tunit\n" "anti_dsDNA_percent_decrease\t2\t40\t60\tpercent\n")
    with pytest.raises(QspError, match=r"observed\.tsv.*\['source', 'tolerance'\]"):
        read_observed(bad, ln.OBSERVED_COLUMNS)
