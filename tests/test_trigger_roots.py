"""Composite event triggers: an event fires where its trigger changes, even inside one CVODE step.

RoadRunner's root function for an event is the trigger's truth value; a trigger of several relations that is
false at both ends of an internal step (a window ``x > 2 && x < 2.001`` crossed in one step) was never seen
(SBML semantic suite case 01511, plain libroadrunner 2.11).  :mod:`qsp_sbml.simulate.trigger_roots` gives
CVODE a hidden root event per relation.  In these models ``x`` grows at rate 1 from 0, so ``x`` crosses a
threshold ``c`` at time ``c``: every expected event time below is exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import qsp_sbml as qs
from qsp_sbml.population import Cohort, simulate_cohort
from qsp_sbml.simulate.model_cache import compiled_state
from qsp_sbml.simulate.runner import new_runner
from qsp_sbml.simulate.trigger_roots import ROOT_EVENT_PREFIX, composite_relations, with_trigger_roots

pytestmark = pytest.mark.filterwarnings("ignore::qsp_sbml.errors.UnitWarning")  # the models declare no units

MATH = 'xmlns="http://www.w3.org/1998/Math/MathML"'
T = '<csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol>'


def _rel(op: str, a: str, b: str) -> str:
    return f"<apply><{op}/>{a}{b}</apply>"


def _ci(name: str) -> str:
    return f"<ci>{name}</ci>"


def _cn(value: float) -> str:
    return f"<cn>{value}</cn>"


WINDOW = f"<apply><and/>{_rel('gt', _ci('x'), _ci('lo'))}{_rel('lt', _ci('x'), _ci('hi'))}</apply>"
# not (x <= lo or x >= hi): the same window through or/not
OR_NOT = (f"<apply><not/><apply><or/>{_rel('leq', _ci('x'), _ci('lo'))}{_rel('geq', _ci('x'), _ci('hi'))}"
          "</apply></apply>")
# MathML's chained relation lo < x < hi: one node, two relations
CHAINED = f"<apply><lt/>{_ci('lo')}{_ci('x')}{_ci('hi')}</apply>"
# a function definition hiding two windows: inside(x, 2, 2.001) || inside(x, 7, 7.001)
TWO_WINDOWS = ("<apply><or/><apply><ci>inside</ci><ci>x</ci><cn>2</cn><cn>2.001</cn></apply>"
               "<apply><ci>inside</ci><ci>x</ci><cn>7</cn><cn>7.001</cn></apply></apply>")
INSIDE = (f'<listOfFunctionDefinitions><functionDefinition id="inside"><math {MATH}><lambda>'
          "<bvar><ci>v</ci></bvar><bvar><ci>a</ci></bvar><bvar><ci>b</ci></bvar>"
          f"<apply><and/>{_rel('gt', _ci('v'), _ci('a'))}{_rel('lt', _ci('v'), _ci('b'))}</apply>"
          "</lambda></math></functionDefinition></listOfFunctionDefinitions>")


def _model(trigger: str, *, delay: float | None = None, functions: str = "", trigger_time: bool = True,
           lo: float = 2.0) -> str:
    """x' = 1 from 0; event E0 (``trigger``) records the time (``t_fire``) and counts its executions."""
    delay_xml = f"<delay><math {MATH}>{_cn(delay)}</math></delay>" if delay is not None else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
<model id="window">{functions}
<listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
<listOfSpecies><species id="A" compartment="c" initialAmount="1" hasOnlySubstanceUnits="true"
  boundaryCondition="false" constant="false"/></listOfSpecies>
<listOfParameters><parameter id="x" value="0" constant="false"/>
<parameter id="lo" value="{lo}" constant="true"/><parameter id="width" value="0.001" constant="true"/>
<parameter id="hi" constant="true"/>
<parameter id="t_fire" value="-1" constant="false"/><parameter id="count" value="0" constant="false"/>
</listOfParameters>
<listOfInitialAssignments><initialAssignment symbol="hi"><math {MATH}>
<apply><plus/><ci>lo</ci><ci>width</ci></apply></math></initialAssignment></listOfInitialAssignments>
<listOfRules><rateRule variable="x"><math {MATH}><cn>1</cn></math></rateRule></listOfRules>
<listOfEvents><event id="E0" useValuesFromTriggerTime="{str(trigger_time).lower()}">
<trigger initialValue="false" persistent="true"><math {MATH}>{trigger}</math></trigger>{delay_xml}
<listOfEventAssignments>
<eventAssignment variable="t_fire"><math {MATH}>{T}</math></eventAssignment>
<eventAssignment variable="count"><math {MATH}><apply><plus/><ci>count</ci><cn>1</cn></apply></math>
</eventAssignment></listOfEventAssignments></event></listOfEvents></model></sbml>
"""


def _fired(model: qs.Model, **kw) -> tuple[float, float]:
    row = model.simulate([0, 10], selections=["t_fire", "count"], **kw).iloc[-1]
    return float(row["t_fire"]), float(row["count"])


@pytest.mark.parametrize(("trigger", "guard"), [(WINDOW, True), (WINDOW, False), (CHAINED, False)],
                         ids=["and-guarded", "and", "chained"])
def test_a_window_crossed_within_one_step_fires_at_its_analytic_time(trigger, guard):
    model = qs.load_model(_model(trigger), guard=guard)
    t_fire, count = _fired(model)  # default tolerances: CVODE's steps are far wider than the window
    assert count == 1
    assert t_fire == pytest.approx(2.0, abs=1e-6)
    t_fire, count = _fired(model, parameters={"lo": 5.0})  # the initial assignment of hi follows lo
    assert (count, t_fire) == (1, pytest.approx(5.0, abs=1e-6))


def test_an_or_not_trigger_with_a_delay_and_execution_time_values():
    model = qs.load_model(_model(OR_NOT, delay=0.5, trigger_time=False), guard=False)
    t_fire, count = _fired(model)
    assert count == 1  # persistent: it executes although the trigger is false again 0.001 later
    assert t_fire == pytest.approx(2.5, abs=1e-6)


def test_a_composite_trigger_inside_a_function_definition_fires_at_each_window():
    model = qs.load_model(_model(TWO_WINDOWS, functions=INSIDE), guard=False)
    t_fire, count = _fired(model)
    assert count == 2
    assert t_fire == pytest.approx(7.0, abs=1e-6)


def test_a_cohort_fires_each_subjects_window():
    model = qs.load_model(_model(WINDOW), guard=False)
    cohort = Cohort.from_parts(parameters=pd.DataFrame({"lo": [1.5, 4.0, 8.25]}), seed=1)
    res = simulate_cohort(model, cohort, [0, 10], outputs=["t_fire", "count"], progress=False)
    np.testing.assert_allclose(res.values[:, -1, 0], [1.5, 4.0, 8.25], atol=1e-6)
    np.testing.assert_array_equal(res.values[:, -1, 1], [1, 1, 1])


def test_the_root_events_never_leave_the_compiled_model():
    sbml = _model(WINDOW)
    model = qs.load_model(sbml, guard=False)
    assert ROOT_EVENT_PREFIX not in model.sbml and ROOT_EVENT_PREFIX not in model.to_sbml("1 mg iv to A", end=10)
    assert model.parameter_ids == ["x", "lo", "width", "hi", "t_fire", "count"]
    assert [e.getId() for e in model.sbml_model.getListOfEvents()] == ["E0"]
    assert list(model.simulate([0, 1]).columns) == ["time", "A"]
    compiled = model.roadrunner().model.getEventIds()
    assert compiled[0] == "E0" and sorted(compiled[1:]) == [f"{ROOT_EVENT_PREFIX}0", f"{ROOT_EVENT_PREFIX}1"]
    # the compiled-model cache keys the text RoadRunner compiles: an entry holds the root events
    assert len(new_runner(state=compiled_state(sbml)).model.getEventIds()) == 3


def test_models_without_composite_triggers_are_handed_to_roadrunner_unchanged():
    simple = _model(_rel("gt", T, _cn(2)))
    assert with_trigger_roots(simple) is simple
    negated = _model(f"<apply><not/>{_rel('lt', _ci('x'), _ci('lo'))}</apply>")  # one relation: its root suffices
    assert with_trigger_roots(negated) is negated
    no_events = simple[:simple.index("<listOfEvents>")] + "</model></sbml>"
    assert with_trigger_roots(no_events) is no_events
    once = with_trigger_roots(_model(WINDOW))
    assert once != _model(WINDOW) and with_trigger_roots(once) is once  # idempotent


def test_a_relation_that_is_already_a_whole_trigger_gets_no_second_root_event():
    import libsbml

    sbml = _model(WINDOW).replace(
        "</listOfEvents>",
        f'<event id="E1" useValuesFromTriggerTime="true"><trigger initialValue="true" persistent="true">'
        f'<math {MATH}>{_rel("gt", _ci("x"), _ci("lo"))}</math></trigger></event></listOfEvents>')
    doc = libsbml.readSBMLFromString(with_trigger_roots(sbml))
    events = [e.getId() for e in doc.getModel().getListOfEvents()]
    assert events == ["E0", "E1", f"{ROOT_EVENT_PREFIX}0"]
    assert [libsbml.formulaToL3String(r) for r in composite_relations(doc.getModel())["E0"]] == ["x > lo", "x < hi"]
