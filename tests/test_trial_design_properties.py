"""Property-based tests (hypothesis) of trial designs: valid designs load, every corruption names its field.

Designs are generated on the composed psoriasis model; validation only (no simulation), so each example
costs milliseconds (the model's ids are read once).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial.design import validate_parallel

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "composed" / "mab_psoriasis_flat.xml"
SOURCE = ROOT / "trials" / "generated.yaml"   # never written: paths resolve against its folder
OUTPUT = "disease__PASI"
#: Endpoint type -> the tests that fit it (qsp_sbml/trial/design.py) and one that does not.
TESTS = {"change": (["t_test", "ancova"], "chi2"), "percent_change": (["t_test", "ancova"], "logrank"),
         "responder": (["chi2", "logistic"], "t_test"), "time_to_event": (["logrank"], "chi2")}


@st.composite
def designs(draw: st.DrawFn) -> dict[str, Any]:
    n_arms = draw(st.integers(2, 4))
    ratios = draw(st.lists(st.integers(1, 3), min_size=n_arms, max_size=n_arms))
    n = sum(ratios) * draw(st.integers(2, 20))
    duration = draw(st.integers(4, 52))
    visits = sorted(set(draw(st.lists(st.integers(1, duration), min_size=1, max_size=6))))
    arms = [{"id": "placebo", "regimen": "placebo"}] + [
        {"id": f"dose{k}", "regimen": f"{draw(st.integers(10, 2000))} nmol sc at 0 wk to pk__mab_sc_depot"}
        for k in range(1, n_arms)]
    kind = draw(st.sampled_from(sorted(TESTS)))
    endpoint: dict[str, Any] = {"id": "primary", "output": OUTPUT, "type": kind,
                                "time": draw(st.sampled_from(visits)),
                                "analysis": {"test": draw(st.sampled_from(TESTS[kind][0])), "control": "placebo"}}
    if kind in ("responder", "time_to_event"):
        endpoint.update(threshold=-draw(st.integers(10, 90)), direction="below")
    return {"model": str(MODEL), "time_unit": "week", "duration": duration, "visits": visits, "n": n,
            "allocation": ratios, "arms": arms, "endpoints": [endpoint],
            "replicates": draw(st.integers(1, 500)),
            "dropout": {"hazard": draw(st.floats(0.0, 0.05))}}


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(designs())
def test_valid_designs_load_with_their_values(spec: dict[str, Any]) -> None:
    design = validate_parallel(spec, source=SOURCE)
    assert [a.id for a in design.arms] == [a["id"] for a in spec["arms"]]
    assert design.n == spec["n"]


def _corrupt(spec: dict[str, Any], how: str, data: st.DataObject) -> str:
    """Apply one corruption; return the field the error must name."""
    if how == "unknown output":
        spec["endpoints"][0]["output"] = "disease__NOPE"
        return "endpoints[0].output"
    if how == "arm without regimen":
        k = data.draw(st.integers(0, len(spec["arms"]) - 1))
        del spec["arms"][k]["regimen"]
        return f"arms[{k}].regimen"
    if how == "allocation does not divide n":
        spec["n"] += 1   # the integer ratios sum to 2 or more and divided n
        return "allocation"
    if how == "allocation length":
        spec["allocation"] = [*spec["allocation"], 1]
        return "allocation"
    if how == "visit after the end":
        spec["visits"] = [*spec["visits"], spec["duration"] + data.draw(st.integers(1, 10))]
        return "visits"
    if how == "analysis does not fit":
        spec["endpoints"][0]["analysis"]["test"] = TESTS[spec["endpoints"][0]["type"]][1]
        return "endpoints[0].analysis.test"
    if how == "unknown control arm":
        spec["endpoints"][0]["analysis"]["control"] = "nobody"
        return "endpoints[0].analysis.control"
    if how == "negative dropout":
        spec["dropout"]["hazard"] = -data.draw(st.floats(1e-6, 1.0))
        return "dropout.hazard"
    if how == "non-positive n":
        spec["n"] = -data.draw(st.integers(0, 100))
        return "n"
    raise AssertionError(how)


HOW = ["unknown output", "arm without regimen", "allocation does not divide n", "allocation length",
       "visit after the end", "analysis does not fit", "unknown control arm", "negative dropout", "non-positive n"]


@FAST
@given(designs(), st.sampled_from(HOW), st.data())
def test_every_corruption_is_refused_naming_its_field(spec: dict[str, Any], how: str, data: st.DataObject) -> None:
    bad = copy.deepcopy(spec)
    field = _corrupt(bad, how, data)
    with pytest.raises(TrialDesignError) as err:
        validate_parallel(bad, source=SOURCE)
    assert field in str(err.value), (how, field, str(err.value))
