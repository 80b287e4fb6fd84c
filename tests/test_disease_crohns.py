"""Crohn's disease module: steady baseline at the published CRP, ports, monotone drug response, validation."""

from __future__ import annotations

import libsbml
import numpy as np
import pytest

from qsp_sbml import load_model
from qsp_sbml.library import crohns
from qsp_sbml.resources import project_models_dir

WEEK = crohns.HOURS_PER_WEEK
STATES = ["TNF", "IL6", "IL10", "inflammation", "CRP"]


@pytest.fixture(scope="module")
def module():
    return load_model(project_models_dir() / "disease" / "crohns.xml")


def test_ports():
    doc = libsbml.readSBMLFromString(crohns.build_crohns())
    ports = {p.getIdRef(): p.getSBOTerm() for p in doc.getModel().getPlugin("comp").getListOfPorts()}
    assert ports["E_drug"] == 600
    for out in ("CRP", "CDAI", "P_CDAI70", "P_remission", "TNF", "IL6", "IL10"):
        assert ports[out] == 601


def test_untreated_baseline_is_the_published_steady_state(module):
    rr = module.roadrunner()
    rr.reset()
    rates = np.asarray(rr.getRatesOfChange())
    assert len(rates) == len(STATES)
    assert np.max(np.abs(rates)) < 1e-9
    frame = module.simulate([0.0, 520 * WEEK], selections=[*STATES, "CDAI"])
    last = frame.iloc[-1]
    assert last["CRP"] == pytest.approx(15.5, rel=1e-9)  # Li 2018 Table 3B, Crohn's typical baseline
    assert last["CDAI"] == pytest.approx(crohns.DISEASE_VALUES["CDAI0"][0], rel=1e-9)
    for sid in STATES:
        assert last[sid] == pytest.approx(frame.iloc[0][sid], rel=1e-9)


def test_full_il6_block_takes_crp_to_the_healthy_level(module):
    frame = module.simulate([0.0, 52 * WEEK], selections=["CRP"], parameters={"E_drug": 1.0})
    assert frame.iloc[-1]["CRP"] == pytest.approx(1.16, rel=1e-3)  # Li 2018 healthy-volunteer baseline


def test_response_is_monotone_in_e_drug(module):
    crp, cdai = [], []
    for e in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        last = module.simulate([0.0, 12 * WEEK], selections=["CRP", "CDAI"], parameters={"E_drug": e}).iloc[-1]
        crp.append(last["CRP"])
        cdai.append(last["CDAI"])
    assert all(a > b for a, b in zip(crp, crp[1:], strict=False))
    assert all(a > b for a, b in zip(cdai, cdai[1:], strict=False))


def test_crp_half_life_matches_li_2018(module):
    """With IL-6 fully blocked and no feedback on inflammation CRP decays with Kout = 0.0238 1/h."""
    t = np.array([0.0, 10.0, 29.0])
    frame = module.simulate(t, selections=["CRP"], parameters={"E_drug": 1.0, "k_I": 1e-12, "k_cyt": 1e-12})
    expected = 1.16 + (15.5 - 1.16) * np.exp(-0.0238 * t)
    np.testing.assert_allclose(frame["CRP"], expected, rtol=1e-5)


def test_calibration_reproduces_the_module_values():
    fitted = crohns.calibrate()
    for pid, value in fitted.items():
        assert value == pytest.approx(crohns.DISEASE_VALUES[pid][0], rel=1e-3)


def test_validation_within_tolerance(tmp_path):
    outcome = crohns.validate(plot=tmp_path / "v.png")
    assert outcome.passed, outcome.table
    assert (tmp_path / "v.png").stat().st_size > 1000
    assert len(outcome.table) == 6
