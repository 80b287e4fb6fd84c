"""SBML test-suite semantic cases using comp, through load_model and Model.simulate.

Opt-in (``--run-conformance``); reads ``$QSP_SBML_CONFORMANCE_DIR/sbml_comp``
(default ``../shared/conformance``).  A point passes when
``|C - U| <= absolute + relative * |C|`` (the suite's own criterion).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import qsp_sbml as qs
from benchmarks.sbml_semantic import settings as _settings
from tests.conftest import conformance_dir

pytestmark = pytest.mark.conformance

ROOT = conformance_dir() / "sbml_comp"
CASES = sorted(p.name for p in ROOT.iterdir() if p.name.isdigit()) if ROOT.is_dir() else []
#: Cases using constructs RoadRunner cannot run (algebraic rules, delay): they must be refused.
UNSUPPORTED = {"01142", "01173", "01174", "01176", "01350", "01359", "01368", "01377", "01386"}
TIGHT = qs.IntegratorOptions(rtol=1e-10, atol=1e-14)


def test_conformance_folder_is_present():
    if not ROOT.is_dir():
        pytest.skip(f"{ROOT} not found; set QSP_SBML_CONFORMANCE_DIR")
    assert len(CASES) == 123


@pytest.mark.parametrize("case", CASES)
def test_comp_case(case):
    folder = ROOT / case
    settings = _settings(folder / f"{case}-settings.txt")
    path = folder / f"{case}-sbml-l3v2.xml"
    if case in UNSUPPORTED:
        with pytest.raises(qs.UnsupportedFeatureError):
            qs.load_model(path)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qs.UnitWarning)
        model = qs.load_model(path)
    variables = [v.strip() for v in settings["variables"].split(",") if v.strip()]
    conc = {v.strip() for v in settings.get("concentration", "").split(",") if v.strip()}
    selections = [f"[{v}]" if v in conc else v for v in variables]
    start, duration, steps = float(settings["start"]), float(settings["duration"]), int(settings["steps"])
    assert start == 0.0
    times = np.linspace(start, start + duration, steps + 1)
    got = model.simulate(times, selections=selections, options=TIGHT)
    expected = pd.read_csv(folder / f"{case}-results.csv")
    atol, rtol = float(settings["absolute"]), float(settings["relative"])
    for var, sel in zip(variables, selections, strict=True):
        c = expected[var].to_numpy(dtype=float)
        u = got[sel].to_numpy(dtype=float)
        bad = np.abs(c - u) > atol + rtol * np.abs(c)
        assert not bad.any(), f"{case} {var}: max |diff| {np.max(np.abs(c - u)):.3g}"
