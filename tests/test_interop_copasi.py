"""COPASI (basico) against RoadRunner on composed models: the comp document and a regimen as SBML events."""

from __future__ import annotations

import numpy as np
import pytest

from qsp_sbml import load_model
from qsp_sbml.compose import assemble
from qsp_sbml.dosing import Regimen
from qsp_sbml.interop.copasi import simulate_copasi
from qsp_sbml.simulate.options import IntegratorOptions
from tests.test_compose import EC50_NM, EMAX, MAB, emax_module

pytest.importorskip("basico", reason="COPASI exchange tests need the copasi extra")

TIGHT = IntegratorOptions(rtol=1e-10, atol=1e-14)


def _relmax(a: np.ndarray, b: np.ndarray) -> float:
    """Max relative difference; values below 1e-9 of the series' peak count against that floor."""
    floor = 1e-9 * float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


@pytest.fixture
def composed(tmp_path):
    pd_um = emax_module(tmp_path / "pd_um.xml", units="uM", ec50=EC50_NM / 1000.0)
    return assemble({"pk": MAB, "pd": pd_um}, ["pk.C_free -> pd.C_drug"], {"pk.mab_central": 50.0},
                    name="mab_emax")


def test_copasi_reads_the_comp_document_like_roadrunner(tmp_path, composed):
    comp = tmp_path / "mab_emax.xml"
    comp.write_text(composed.comp_sbml)
    times = np.linspace(0.0, 672.0, 29)
    selections = ["pk_C_free", "pd__E", "pk__mab_central", "pk__mab_peripheral"]
    rr = load_model(comp).simulate(times, selections=selections, options=TIGHT)
    cps = simulate_copasi(comp, times, selections, rtol=1e-10, atol=1e-14)
    assert rr["pk_C_free"].iloc[0] > 1.0
    for sel in selections:
        assert _relmax(cps[sel].to_numpy(), rr[sel].to_numpy()) <= 1e-4, sel
    c_um = rr["pk_C_free"].to_numpy() / 1000.0
    assert _relmax(rr["pd__E"].to_numpy(), EMAX * c_um / (EC50_NM / 1000.0 + c_um)) <= 1e-9


def test_copasi_matches_roadrunner_under_a_multiple_dose_regimen(tmp_path, composed):
    flat = tmp_path / "flat.xml"
    flat.write_text(composed.flat_sbml)
    model = load_model(flat)
    regimen = Regimen.parse("200 nmol sc q168h x 4 to pk__mab_sc_depot")
    end = 840.0
    with_events = tmp_path / "flat_events.xml"
    with_events.write_text(model.to_sbml(regimen, end=end))
    times = np.concatenate([[0.0], np.arange(12.0, end, 24.0)])  # no output exactly at a dose time
    selections = ["pk_C_free", "pd__E", "pk__mab_sc_depot"]
    rr = model.simulate(times, selections=selections, regimen=regimen, options=TIGHT)
    cps = simulate_copasi(with_events, times, selections, rtol=1e-10, atol=1e-14)
    depot = rr["pk__mab_sc_depot"].to_numpy()
    assert depot[times == 180.0][0] > depot[times == 156.0][0], "the second dose arrived"
    for sel in selections:
        assert _relmax(cps[sel].to_numpy(), rr[sel].to_numpy()) <= 1e-4, sel


def test_unknown_selection_is_named(tmp_path, composed):
    flat = tmp_path / "flat.xml"
    flat.write_text(composed.flat_sbml)
    with pytest.raises(ValueError, match="'nope'"):
        simulate_copasi(flat, [0.0, 1.0], ["nope"])
