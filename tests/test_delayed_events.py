"""Delayed SBML events: RoadRunner keeps them pending across reset() and fires the t=0 events again at every
reset (measured on libroadrunner 2.11), so a reset-and-reuse loop gives silently wrong trajectories.

``Model.simulate`` compiles such a model afresh for each call (from RoadRunner's in-memory cache); cohorts and
PEtab experiments, which reset one compiled model, refuse it naming the event.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import qsp_sbml as qs
from qsp_sbml.population import Cohort, simulate_cohort

T = '<csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol>'


def _model(at: float, delay: float) -> str:
    """p = 5; an event at time >= ``at`` squares p after ``delay`` (assignment-time values)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
<model id="squaring"><listOfParameters><parameter id="p" value="5" constant="false"/>
<parameter id="k" value="0" constant="true"/></listOfParameters>
<listOfEvents><event id="square" useValuesFromTriggerTime="false">
<trigger initialValue="false" persistent="true"><math xmlns="http://www.w3.org/1998/Math/MathML">
<apply><geq/>{T}<cn>{at}</cn></apply></math></trigger>
<delay><math xmlns="http://www.w3.org/1998/Math/MathML"><cn>{delay}</cn></math></delay>
<listOfEventAssignments><eventAssignment variable="p"><math xmlns="http://www.w3.org/1998/Math/MathML">
<apply><times/><ci>p</ci><ci>p</ci></apply></math></eventAssignment></listOfEventAssignments>
</event></listOfEvents></model></sbml>
"""


@pytest.mark.parametrize("guard", [True, False])
def test_an_event_firing_at_t0_with_a_delay_fires_once_per_simulation(guard):
    model = qs.load_model(_model(0, 1), guard=guard)
    assert model.has_delayed_events
    for _ in range(3):  # was 5**16, then 5**2 ... depending on how many resets came before
        np.testing.assert_allclose(model.simulate([0, 0.5, 1, 3], selections=["p"])["p"], [5, 5, 25, 25])
    np.testing.assert_allclose(model.simulate([0, 1, 3], selections=["p"], parameters={"p": 3})["p"], [3, 9, 9])
    np.testing.assert_allclose(model.simulate([0, 1, 3], selections=["p"], parameters={"k": 2})["p"], [5, 25, 25])


def test_an_event_pending_at_the_end_of_a_simulation_does_not_fire_in_the_next():
    model = qs.load_model(_model(5, 10), guard=False)
    np.testing.assert_allclose(model.simulate([0, 10], selections=["p"])["p"], [5, 5])  # pending at t=15
    np.testing.assert_allclose(model.simulate([0, 10, 20], selections=["p"])["p"], [5, 5, 25])  # was 625


def test_a_cohort_of_a_model_with_delayed_events_is_refused_naming_the_event():
    model = qs.load_model(_model(0, 1), guard=False)
    cohort = Cohort.from_parts(parameters=pd.DataFrame({"k": [1.0, 2.0]}), seed=1)
    with pytest.raises(qs.UnsupportedFeatureError, match="event 'square' has a delay"):
        simulate_cohort(model, cohort, [0, 1, 2], outputs=["p"], progress=False)
