"""Autoimmune hepatitis module (qsp_sbml.library.liver_autoimmune): steady state, drug response, validation, ports."""

from __future__ import annotations

import libsbml
import pytest

from qsp_sbml import load_model
from qsp_sbml.errors import QspError
from qsp_sbml.library import liver_autoimmune as la
from qsp_sbml.model import Model
from qsp_sbml.resources import project_models_dir

PATH = project_models_dir() / la.MODEL_FILE
STATES = list(la.BASELINE)
YEAR_H = 365.25 * 24.0


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model(PATH)


def test_untreated_module_stays_at_the_published_baseline(model: Model) -> None:
    frame = model.simulate([0.0, 5 * YEAR_H], selections=STATES)
    end = frame.iloc[-1]
    for state, value in la.BASELINE.items():
        assert end[state] == pytest.approx(value, rel=1e-6), state
    # published values, independent of the code's bookkeeping
    assert end["ALT"] == pytest.approx(757.0, rel=1e-6)
    assert end["AST"] / end["ALT"] == pytest.approx(0.7, rel=1e-6)


def test_right_hand_side_is_zero_at_baseline(model: Model) -> None:
    rr = model.roadrunner()
    rr.resetAll()
    named = rr.getRatesOfChangeNamedArray()
    rates = {name.rstrip("'"): float(value) for name, value in zip(named.colnames, named[0], strict=True)}
    assert set(STATES) <= set(rates)
    for state in STATES:
        assert abs(rates[state]) < 1e-9 * max(1.0, la.BASELINE[state]), state


def test_remission_steady_state_returns_to_published_normal_values(model: Model) -> None:
    end = model.simulate([0.0, 3 * YEAR_H], selections=["ALT", "AST", "Teff", "hepatocyte_mass", "collagen"],
                         parameters={"E_drug": 1.0}).iloc[-1]
    assert end["Teff"] < 1e-6
    assert end["ALT"] == pytest.approx(16.0, rel=1e-3)  # remission median, Eur J Intern Med 2021
    assert end["AST"] == pytest.approx(22.0, rel=1e-3)
    assert end["hepatocyte_mass"] == pytest.approx(1.0, rel=1e-3)
    assert end["collagen"] == pytest.approx(1.0, rel=1e-3)


def test_transaminase_decay_follows_the_published_half_lives(model: Model) -> None:
    # with injury switched off at once (Teff = 0, E_drug = 1) ALT and AST relax to their remission
    # values with their own plasma half-lives (47 h, 17 h; Dufour 2000): exactly one and three half-lives
    rr = model.roadrunner()
    rr.resetAll()
    rr.setValue("E_drug", 1.0)
    rr.setValue("Teff", 0.0)
    out = rr.simulate(0.0, 51.0, 52, ["time", "ALT", "AST"])
    alt = dict(zip(out[:, 0], out[:, 1], strict=True))
    ast = dict(zip(out[:, 0], out[:, 2], strict=True))
    assert (alt[47.0] - 16.0) / (757.0 - 16.0) == pytest.approx(0.5, rel=1e-4)
    assert (ast[51.0] - 22.0) / (0.7 * 757.0 - 22.0) == pytest.approx(0.125, rel=1e-4)
    rr.resetAll()


def test_response_is_monotone_in_drug_effect(model: Model) -> None:
    effects = [0.0, 0.25, 0.5, 0.75, 0.9, 1.0]
    ends = [model.simulate([0.0, 26 * 7 * 24.0], selections=["ALT", "AST", "Teff", "hepatocyte_mass", "collagen"],
                           parameters={"E_drug": e}).iloc[-1] for e in effects]
    for key in ("ALT", "AST", "Teff", "collagen"):
        values = [float(e[key]) for e in ends]
        assert all(b < a for a, b in zip(values, values[1:], strict=False)), key
    mass = [float(e["hepatocyte_mass"]) for e in ends]
    assert all(b > a for a, b in zip(mass, mass[1:], strict=False))


def test_validation_against_pape_2020_is_within_tolerance() -> None:
    outcome = la.validate()
    assert outcome.passed, outcome
    assert outcome.tolerance == 10.0
    assert 0.9 < float(outcome.table["E_drug"].iloc[0]) < 1.0


def test_ports() -> None:
    doc = libsbml.readSBMLFromFile(str(PATH))
    ports = {p.getIdRef(): p.getSBOTerm() for p in doc.getModel().getPlugin("comp").getListOfPorts()}
    assert ports.pop("E_drug") == 600
    assert set(ports) == {"ALT", "AST", "Teff", "Treg", "hepatocyte_mass", "HSC_active", "collagen"}
    assert set(ports.values()) == {601}
    e_drug = doc.getModel().getParameter("E_drug")
    assert e_drug.getValue() == 0.0 and e_drug.getUnits() == "dimensionless"
    assert doc.getModel().getTimeUnits() == "hour"


def test_validation_discriminates_t_cell_kinetics() -> None:
    # the check can fail: with central-memory turnover (1.5 %/day, Macallan 2004) instead of effector-memory
    # (4.7 %/day) the week-8 AST fall of a week-26 normaliser is far below the 80 % of Pape 2020 ...
    slow = {"k_Teff": 0.015 / 24.0, "k_Treg": 0.015 / 24.0}
    assert la.ast_decrease(8.0, 1.0, slow) < 60.0
    with pytest.raises(QspError, match="even E_drug = 1"):
        la.normalising_effect(26.0, overrides=slow)
    # ... and with 10 %/day it is above the tolerance band
    fast = {"k_Teff": 0.10 / 24.0, "k_Treg": 0.10 / 24.0}
    assert la.ast_decrease(8.0, la.normalising_effect(26.0, overrides=fast), fast) > 90.0
