"""Model.simulate: parameters, statelessness, selections, compile-once."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import qsp_sbml as qs
from qsp_sbml import resources

IA_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="ia">
    <listOfCompartments><compartment id="c" size="1" spatialDimensions="3" constant="true"/></listOfCompartments>
    <listOfSpecies>
      <species id="S" compartment="c" hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/>
    </listOfSpecies>
    <listOfParameters>
      <parameter id="p" value="2" constant="true"/>
      <parameter id="q" constant="true"/>
      <parameter id="k" value="0.1" constant="true"/>
    </listOfParameters>
    <listOfInitialAssignments>
      <initialAssignment symbol="q"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><times/><cn>3</cn><ci>p</ci></apply></math></initialAssignment>
      <initialAssignment symbol="S"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><times/><cn>10</cn><ci>q</ci></apply></math></initialAssignment>
    </listOfInitialAssignments>
    <listOfReactions>
      <reaction id="R" reversible="false">
        <listOfReactants><speciesReference species="S" stoichiometry="1" constant="true"/></listOfReactants>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><times/><ci>k</ci><ci>S</ci></apply></math></kineticLaw></reaction>
    </listOfReactions>
  </model>
</sbml>"""


@pytest.fixture(scope="module")
def ia_model():
    with pytest.warns(qs.UnitWarning):
        return qs.load_model(IA_MODEL, guard=False)


def test_parameter_initial_assignments_are_re_evaluated(ia_model):
    base = ia_model.simulate([0], selections=["q", "S"])
    assert base[["q", "S"]].iloc[0].tolist() == [6.0, 60.0]
    changed = ia_model.simulate([0], selections=["q", "S"], parameters={"p": 5})
    assert changed[["q", "S"]].iloc[0].tolist() == [15.0, 150.0]
    # nothing persists to the next call
    again = ia_model.simulate([0], selections=["q", "S"])
    assert again[["q", "S"]].iloc[0].tolist() == [6.0, 60.0]
    # an explicit value of an assigned symbol wins over its initial assignment
    direct = ia_model.simulate([0], selections=["q", "S"], parameters={"p": 5, "q": 1})
    assert direct[["q", "S"]].iloc[0].tolist() == [1.0, 10.0]
    # species initial amounts
    amount = ia_model.simulate([0, 1], selections=["S"], parameters={"S": 7})
    assert amount["S"].iloc[0] == 7.0
    assert amount["S"].iloc[1] == pytest.approx(7 * np.exp(-0.1), rel=1e-6)


def test_bad_parameters_and_selections_are_named(ia_model):
    with pytest.raises(qs.SbmlError, match="unknown parameter 'pp'.*did you mean 'p'"):
        ia_model.simulate([0, 1], parameters={"pp": 1})
    with pytest.raises(qs.SbmlError, match="finite"):
        ia_model.simulate([0, 1], parameters={"p": float("nan")})
    with pytest.raises(qs.SbmlError, match="unknown selection 'SS'"):
        ia_model.simulate([0, 1], selections=["SS"])
    with pytest.raises(ValueError, match="non-decreasing"):
        ia_model.simulate([1, 0])
    with pytest.raises(ValueError, match=">= 0"):
        ia_model.simulate([-1, 0])


def test_compiled_once_and_reused():
    model = qs.load_model(resources.ONE_COMPARTMENT_IV)
    rr = model.roadrunner()
    model.simulate([0, 1], regimen="1 mg iv to A", parameters={"CL": 1.0})
    model.simulate([0, 1], regimen="2 mg iv to A")
    assert model.roadrunner() is rr
    model.simulate([0, 1], regimen="2 mg iv over 1 h to A")
    assert len(model._simulators) == 2  # the infusion variant, compiled once
    model.simulate([0, 1], regimen="3 mg iv over 2 h to A")
    assert len(model._simulators) == 2


def test_model_pickles_without_compiled_state():
    model = qs.load_model(resources.ONE_COMPARTMENT_IV)
    model.simulate([0, 1], regimen="1 mg iv to A")
    clone = pickle.loads(pickle.dumps(model))  # noqa: S301 -- our own object
    a = model.simulate([0, 3], selections=["C"], regimen="5 mg iv to A")
    b = clone.simulate([0, 3], selections=["C"], regimen="5 mg iv to A")
    assert a.equals(b)


def test_default_selections_are_species_amounts():
    model = qs.load_model(resources.ONE_COMPARTMENT_IV)
    out = model.simulate([0, 1], regimen="1 mg iv to A")
    assert list(out.columns) == ["time", "A", "A_eliminated"]


RULES_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="rules">
    <listOfParameters>
      <parameter id="x" value="1" constant="false"/>
      <parameter id="k" value="0.5" constant="true"/>
      <parameter id="y" constant="false"/>
    </listOfParameters>
    <listOfRules>
      <rateRule variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><times/><apply><minus/><ci>k</ci></apply><ci>x</ci></apply></math></rateRule>
      <assignmentRule variable="y"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><times/><cn>2</cn><ci>x</ci></apply></math></assignmentRule>
    </listOfRules>
  </model>
</sbml>"""


def test_rate_rule_state_values_survive_the_reset_and_assigned_values_are_refused():
    with pytest.warns(qs.UnitWarning):
        model = qs.load_model(RULES_MODEL, guard=False)
    out = model.simulate([0, 2], selections=["x"], parameters={"x": 4.0, "k": 0.25})
    assert out["x"].tolist() == pytest.approx([4.0, 4.0 * np.exp(-0.5)], rel=1e-6)
    with pytest.raises(qs.SbmlError, match="'y' is set by an assignment rule"):
        model.simulate([0, 1], parameters={"y": 3.0})


_BLOW_UP = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
<model id="blow_up"><listOfParameters><parameter id="x" value="1" constant="false"/></listOfParameters>
<listOfRules><rateRule variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML">
<apply><times/><ci>x</ci><ci>x</ci></apply></math></rateRule></listOfRules></model></sbml>
"""


def test_an_integration_failure_names_the_tolerances_and_what_to_try():
    """dx/dt = x^2, x(0) = 1 has no solution past t = 1: CVODE fails, and the message says with which settings
    and what to try."""
    import qsp_sbml as qs

    model = qs.load_model(_BLOW_UP, guard=False)
    with pytest.raises(qs.SimulationError) as err:
        model.simulate([0, 2], selections=["x"], options=qs.IntegratorOptions(rtol=1e-8, atol=1e-12))
    message = str(err.value)
    assert "integration failed between t=0 and t=2" in message
    assert "CVODE with rtol=1e-08, atol=1e-12, max_steps=100000" in message
    assert "IntegratorOptions(rtol=1e-6, atol=1e-10)" in message and "--rtol 1e-6" in message


def test_selecting_an_element_named_time_reads_the_element_beside_the_time_axis():
    import qsp_sbml as qs

    text = _BLOW_UP.replace('<parameter id="x" value="1" constant="false"/>',
                            '<parameter id="x" value="1" constant="false"/><parameter id="time" value="10" '
                            'constant="true"/>')
    model = qs.load_model(text, guard=False)
    assert model.simulate([0, 0.5], selections=["x"])["time"].tolist() == [0.0, 0.5]
    with pytest.warns(qs.SimulationWarning, match="has an element named 'time'.*two columns labelled 'time'"):
        frame = model.simulate([0, 0.5], selections=["time", "x"])
    assert list(frame.columns) == ["time", "time", "x"]
    assert frame.iloc[:, 0].tolist() == [0.0, 0.5] and frame.iloc[:, 1].tolist() == [10.0, 10.0]
