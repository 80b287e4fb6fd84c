"""Psoriasis disease module: steady baseline, ports, monotone drug response, PK coupling, validation."""

from __future__ import annotations

import libsbml
import numpy as np
import pytest

from qsp_sbml import load_model
from qsp_sbml.library import psoriasis
from qsp_sbml.pbpk.antibody import RISANKIZUMAB, build_antibody
from qsp_sbml.resources import project_models_dir

WEEK = psoriasis.HOURS_PER_WEEK
STATES = ["T17", "IL17", "P", "D"]


@pytest.fixture(scope="module")
def module():
    return load_model(project_models_dir() / "disease" / "psoriasis.xml")


def _ports(text: str) -> dict[str, int]:
    doc = libsbml.readSBMLFromString(text)
    plugin = doc.getModel().getPlugin("comp")
    return {p.getIdRef(): p.getSBOTerm() for p in plugin.getListOfPorts()}


def test_ports():
    ports = _ports(psoriasis.build_psoriasis())
    assert ports["E_drug"] == 600
    for out in ("PASI", "PASI_improvement", "P_PASI90", "P_PASI75", "IL17", "keratinocytes"):
        assert ports[out] == 601


def test_untreated_baseline_is_the_published_steady_state(module):
    frame = module.simulate([0.0, 52 * WEEK, 520 * WEEK], selections=[*STATES, "PASI", "keratinocytes", "kp"])
    last = frame.iloc[-1]
    for sid in STATES:  # no drift over ten years
        assert last[sid] == pytest.approx(frame.iloc[0][sid], rel=1e-9)
    assert last["PASI"] == pytest.approx(psoriasis.DISEASE_VALUES["PASI0"][0], rel=1e-9)
    # Weinstein 1984: 52,000 proliferative cells/mm^2 producing 35,000 cells/mm^2/day in a plaque
    assert last["P"] == pytest.approx(52_000.0, rel=1e-9)
    assert last["kp"] * last["P"] * 24 == pytest.approx(35_000.0, rel=0.01)
    # steady state: every derivative ~ 0 at the initial state
    rr = module.roadrunner()
    rr.reset()
    rates = np.asarray(rr.getRatesOfChange())
    assert len(rates) == len(STATES)
    assert np.max(np.abs(rates)) < 1e-9


def test_normal_skin_kinetics_when_il17_is_zero(module):
    frame = module.simulate([0.0, 200 * WEEK], selections=["P", "kp", "PASI"],
                            parameters={"E_drug": 1.0, "f_ind": 0.0})
    last = frame.iloc[-1]
    assert last["P"] == pytest.approx(27_000.0, rel=1e-3)
    assert last["kp"] * last["P"] * 24 == pytest.approx(1_246.0, rel=0.01)  # Weinstein 1984 normal epidermis
    assert last["PASI"] == pytest.approx(0.0, abs=1e-2)


def test_response_is_monotone_in_e_drug(module):
    values = []
    for e in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0):
        frame = module.simulate([0.0, 16 * WEEK], selections=["PASI", "IL17"], parameters={"E_drug": e})
        values.append(frame.iloc[-1]["PASI"])
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert values[0] == pytest.approx(20.0)


def test_composed_pk_matches_the_shipped_antibody_module():
    """C_free of the risankizumab-driven model equals the shipped mAb module with the same doses."""
    from qsp_sbml.dosing import Dose, Regimen

    composed = psoriasis.simulate_arm(150.0, [1, 4, 5, 16, 20, 52])
    mab = load_model(build_antibody(RISANKIZUMAB.sbml_values))
    doses = [Dose(amount=150.0, unit="mg", time=w * WEEK, route="sc", target="mab_sc_depot")
             for w in psoriasis.ULTIMMA_DOSE_WEEKS]
    ref = mab.simulate(composed["time"].to_numpy(), selections=["C_free"],
                       regimen=Regimen.of(*doses, molecular_weight=RISANKIZUMAB.molecular_weight))
    np.testing.assert_allclose(composed["C_free"].to_numpy()[1:], ref["C_free"].to_numpy()[1:], rtol=1e-4)


def test_validation_within_tolerance(tmp_path):
    outcome = psoriasis.validate(plot=tmp_path / "v.png")
    assert outcome.passed, outcome.table
    assert (tmp_path / "v.png").stat().st_size > 1000
    assert len(outcome.table) == len(psoriasis.observed()) == 6
