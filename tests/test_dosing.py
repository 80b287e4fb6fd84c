"""Regimens: three ways in, unit conversion, timeline vs exported events, closed forms."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import qsp_sbml as qs
from qsp_sbml import resources
from qsp_sbml.dosing import Dose, Regimen, Route

TIGHT = qs.IntegratorOptions(rtol=1e-12, atol=1e-14)


@pytest.fixture(scope="module")
def iv():
    return qs.load_model(resources.ONE_COMPARTMENT_IV)


@pytest.fixture(scope="module")
def oral():
    return qs.load_model(resources.ONE_COMPARTMENT_ORAL)


def _times(reg: Regimen, end: float = 24 * 7 * 13):
    return [a.time for a in reg.administrations(end)]


def test_text_forms():
    assert _times(Regimen.parse("100 mg po q12h x 14")) == [12.0 * k for k in range(14)]
    weeks = [t / 168 for t in _times(Regimen.parse("400 mg sc at 0,2,4 wk then q4wk"), end=168 * 16)]
    assert weeks == [0, 2, 4, 8, 12, 16]
    inf = Regimen.parse("500 mg iv over 30 min q8h for 2 d to A")
    assert next((a.route, a.duration, a.target) for a in inf.administrations()) == (Route.IV_INFUSION, 0.5, "A")
    assert len(inf.administrations()) == 6
    assert Regimen.parse("5 mg po bid from 1 d").doses[0].time == 24.0
    rate = Regimen.parse("100 mg iv rate 50 mg/h to A").doses[0]
    assert rate.infusion_duration == pytest.approx(2.0)
    by_route = Regimen.parse("100 mg po qd x 2; 50 mg iv at 36 h", targets={"po": "A_gut", "iv": "A"})
    assert [d.target for d in by_route.doses] == ["A_gut", "A"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("mg po", "cannot read 'mg'"),
        ("100 mg", "no route"),
        ("100 mg po q12h x 0", "whole number"),
        ("100 mg po x 3", "frequency"),
        ("100 mg po q12h banana", "'banana'"),
        ("100 mg po q12h then 50 mg po q24h x 2", "open-ended"),
        ("100 furlongs po", "unknown amount unit 'furlongs'"),
        ("100 mg iv over 2 parsecs", "parsecs"),
        ("100 mg po at 0,2 wk q4wk", "split them"),
    ],
)
def test_text_errors_name_the_problem(text, needle):
    with pytest.raises(qs.RegimenError, match=needle):
        Regimen.parse(text)


def test_dose_validation():
    with pytest.raises(ValueError, match="exactly one of duration or rate"):
        Dose(amount=1, route="iv_infusion")
    with pytest.raises(ValueError, match="takes no duration"):
        Dose(amount=1, route="po", duration=1)
    with pytest.raises(ValueError, match="greater than 0"):
        Dose(amount=-1)
    with pytest.raises(ValueError, match="needs an interval"):
        Dose(amount=1, count=3)
    with pytest.raises(ValueError, match="unknown amount unit"):
        Dose(amount=1, unit="furlong")


def test_table_round_trip_and_errors(tmp_path):
    reg = Regimen.parse("100 mg po q12h x 3 to A_gut") + Regimen.of(
        Dose(amount=50, unit="mg", time=1, time_unit="h", route="iv_infusion", duration=2, target="A")
    )
    table = reg.to_table()
    path = tmp_path / "doses.tsv"
    table.to_csv(path, sep="\t", index=False)
    back = Regimen.from_table(path, time_unit="h")
    assert [(a.time, a.amount, a.target, a.duration) for a in back.administrations()] == [
        (a.time, a.amount, a.target, a.duration) for a in reg.administrations()
    ]
    nonmem = pd.DataFrame({"TIME": [0, 24], "AMT": [100, 200], "CMT": ["A_gut", "A"], "RATE": [0, 100],
                           "II": [12, 0], "ADDL": [1, 0]})
    adm = Regimen.from_table(nonmem, unit="mg", time_unit="h").administrations()
    assert [(a.time, a.route) for a in adm] == [(0, Route.IV_BOLUS), (12, Route.IV_BOLUS),
                                                (24, Route.IV_INFUSION)]
    with pytest.raises(qs.RegimenError, match="row 2, column amt"):
        Regimen.from_table(pd.DataFrame({"time": [0, 1], "amt": [1, "x"], "cmt": ["A", "A"]}))
    with pytest.raises(qs.RegimenError, match="missing required column"):
        Regimen.from_table(pd.DataFrame({"time": [0], "amt": [1]}))
    with pytest.raises(qs.RegimenError, match="row 1: addl > 0 needs ii|row 1, column ii"):
        Regimen.from_table(pd.DataFrame({"time": [0], "amt": [1], "cmt": ["A"], "addl": [2]}))


def test_repeated_iv_bolus_matches_closed_form(iv):
    dose, tau, n = 100.0, 8.0, 6
    times = np.linspace(0, 72, 721)
    got = iv.simulate(times, selections=["C"], regimen=f"{dose:g} mg iv q{tau:g}h x {n} to A",
                      options=TIGHT)["C"].to_numpy()
    rr = iv.roadrunner()
    cl, v = rr.getValue("CL"), rr.getValue("Vc")
    k = cl / v
    exact = np.zeros_like(times)
    for j in range(n):
        s = times - j * tau
        exact[s >= 0] += dose / v * np.exp(-k * s[s >= 0])
    rel = np.abs(got - exact) / np.max(exact)
    assert rel.max() <= 1e-6, rel.max()
    # post-dose convention: at a dose time the value includes that dose
    assert got[80] == pytest.approx(exact[80], rel=1e-8)


def test_timeline_and_exported_events_agree_on_mixed_oral_and_infusion(oral):
    regimen = Regimen.parse("200 mg po q12h x 4 to A_gut; 150 mg iv over 1.5 h at 30 h to A")
    times = np.linspace(0, 60, 601)
    sels = ["C", "A_gut", "A", "A_eliminated"]
    timeline = oral.simulate(times, selections=sels, regimen=regimen, options=TIGHT)
    exported = qs.load_model(oral.to_sbml(regimen, end=60.0))
    events = exported.simulate(times, selections=sels, options=TIGHT)
    for s in sels:
        a, b = timeline[s].to_numpy(), events[s].to_numpy()
        assert np.max(np.abs(a - b)) / np.max(np.abs(a)) <= 1e-6, s
    total = timeline[["A_gut", "A", "A_eliminated"]].sum(axis=1).iloc[-1]
    assert total == pytest.approx(4 * 200 + 150, rel=1e-9)


def test_amounts_and_times_are_converted_to_model_units(iv):
    times = np.linspace(0, 24, 49)
    mg = iv.simulate(times, selections=["C"], regimen="100 mg iv over 1 h q8h x 3 to A", options=TIGHT)
    grams_per_day = Dose(amount=0.1, unit="g", route="iv_infusion", rate=0.1 * 24, interval=8 / 24,
                         count=3, time_unit="d", target="A")
    g = iv.simulate(times, selections=["C"], options=TIGHT, regimen=Regimen.of(grams_per_day))
    assert np.allclose(mg["C"], g["C"], rtol=1e-9, atol=1e-12)


def test_mass_to_moles_needs_a_molecular_weight():
    sbml = resources.ONE_COMPARTMENT_IV.read_text().replace(
        '<unit kind="gram" exponent="1" scale="-3" multiplier="1"/></listOfUnits></unitDefinition>\n'
        '      <unitDefinition id="hour">',
        '<unit kind="mole" exponent="1" scale="-6" multiplier="1"/></listOfUnits></unitDefinition>\n'
        '      <unitDefinition id="hour">', 1)
    with pytest.warns(qs.UnitWarning):
        model = qs.load_model(sbml, guard=False)  # C's declared mg/L no longer matches umol/L
    with pytest.raises(qs.RegimenError, match="molecular_weight"):
        model.simulate([0, 1], regimen="180.16 mg iv to A")
    out = model.simulate([0], selections=["A"], regimen=Regimen.parse("180.16 mg iv to A", molecular_weight=180.16))
    assert out["A"].iloc[0] == pytest.approx(1000.0)  # 1 mmol = 1000 umol


def test_bad_targets_are_named(iv):
    with pytest.raises(qs.RegimenError, match="'Aa' is not a species.*did you mean 'A'"):
        iv.simulate([0, 1], regimen="1 mg iv to Aa")
    with pytest.raises(qs.RegimenError, match="constant parameter"):
        iv.simulate([0, 1], regimen="1 mg iv to CL")
    with pytest.raises(qs.RegimenError, match="assignment rule"):
        iv.simulate([0, 1], regimen="1 mg iv to C")
    with pytest.raises(qs.RegimenError, match="has no target"):
        iv.simulate([0, 1], regimen="1 mg iv")


def test_open_ended_regimen_stops_at_the_end(iv):
    out = iv.simulate(np.linspace(0, 48, 97), selections=["A_eliminated", "A"], regimen="10 mg iv q12h to A")
    total = out[["A", "A_eliminated"]].sum(axis=1).iloc[-1]
    assert total == pytest.approx(50.0)  # doses at 0, 12, 24, 36, 48
    assert math.isclose(out["A"].iloc[0], 10.0)
