"""The one reset sequence (``Simulator.reset``), checked against RoadRunner loading the SBML with the values
written into it: RoadRunner's own load-time initialisation is the independent reference for "the model as if
these had been its initial values".

Every caller uses the sequence: ``Model.simulate``, cohort workers and PEtab experiments must agree.
"""

from __future__ import annotations

import libsbml
import numpy as np
import pandas as pd
import pytest
import roadrunner

import qsp_sbml as qs
from qsp_sbml.population import Cohort, simulate_cohort
from qsp_sbml.simulate.simulator import ModelStructure, Simulator

# S: initial concentration 2 in V; T: concentration by an initial assignment 3*k; U: initial amount 4 in V;
# W: amount-only species (hasOnlySubstanceUnits) with an initial assignment; V2 sized by an assignment 2*k.
SBML = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
<model id="resize">
<listOfCompartments><compartment id="V" size="1" constant="true" spatialDimensions="3"/>
<compartment id="V2" size="1" constant="true" spatialDimensions="3"/></listOfCompartments>
<listOfSpecies>
<species id="S" compartment="V" initialConcentration="2" hasOnlySubstanceUnits="false" boundaryCondition="false"
 constant="false"/>
<species id="T" compartment="V" initialConcentration="0" hasOnlySubstanceUnits="false" boundaryCondition="false"
 constant="false"/>
<species id="U" compartment="V" initialAmount="4" hasOnlySubstanceUnits="false" boundaryCondition="false"
 constant="false"/>
<species id="W" compartment="V" initialAmount="0" hasOnlySubstanceUnits="true" boundaryCondition="false"
 constant="false"/>
<species id="X" compartment="V2" initialConcentration="5" hasOnlySubstanceUnits="false" boundaryCondition="false"
 constant="false"/>
</listOfSpecies>
<listOfParameters><parameter id="k" value="1" constant="true"/><parameter id="kel" value="0.1" constant="true"/>
<parameter id="q" value="0" constant="true"/></listOfParameters>
<listOfInitialAssignments>
<initialAssignment symbol="T"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><cn>3</cn><ci>k</ci>
</apply></math></initialAssignment>
<initialAssignment symbol="W"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><cn>7</cn><ci>k</ci>
</apply></math></initialAssignment>
<initialAssignment symbol="V2"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><cn>2</cn><ci>k</ci>
</apply></math></initialAssignment>
<initialAssignment symbol="q"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><cn>10</cn><ci>U</ci>
</apply></math></initialAssignment>
</listOfInitialAssignments>
<listOfReactions><reaction id="J" reversible="false"><listOfReactants>
<speciesReference species="S" stoichiometry="1" constant="true"/></listOfReactants>
<kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>kel</ci><ci>S</ci></apply></math>
</kineticLaw></reaction></listOfReactions>
</model></sbml>
"""
SELECTIONS = ["[S]", "S", "[T]", "U", "W", "V2", "[X]", "X", "q"]
TIMES = [0.0, 1.0, 5.0]


def _reference(values: dict[str, float]) -> np.ndarray:
    """Plain RoadRunner on the SBML with ``values`` written in (a given value replaces an initial assignment)."""
    doc = libsbml.readSBMLFromString(SBML)
    m = doc.getModel()
    for key, value in values.items():
        name = key.strip("[]")
        m.removeInitialAssignment(name)
        sp = m.getSpecies(name)
        if sp is not None and key.startswith("["):
            sp.setInitialConcentration(value)
        elif sp is not None:
            sp.setInitialAmount(value)
        elif m.getCompartment(name) is not None:
            m.getCompartment(name).setSize(value)
        else:
            m.getParameter(name).setValue(value)
    rr = roadrunner.RoadRunner(libsbml.writeSBMLToString(doc))
    rr.timeCourseSelections = ["time", *SELECTIONS]
    rr.integrator.relative_tolerance, rr.integrator.absolute_tolerance = 1e-10, 1e-14
    return np.asarray(rr.simulate(times=TIMES))[:, 1:]


CASES = [
    {},
    {"V": 2.0},  # S keeps its concentration 2; T its assigned concentration 3; U its amount 4 (was [S] = 1)
    {"k": 2.0},  # T = 6, W = 14, V2 = 4 with X keeping its concentration 5
    {"V": 2.0, "k": 0.5},
    {"U": 1.0},  # q = 10 * U re-evaluated from the given initial value
    {"[S]": 3.0, "V": 4.0},  # a given concentration stays that concentration
    {"S": 3.0, "V": 4.0},  # a given amount stays that amount
]


@pytest.mark.parametrize("values", CASES, ids=[str(c) for c in CASES])
def test_model_simulate_equals_roadrunner_loading_the_values(values):
    model = qs.load_model(SBML, guard=False)
    opts = qs.IntegratorOptions(rtol=1e-10, atol=1e-14)
    for _ in range(2):  # nothing persists from one call to the next
        got = model.simulate(TIMES, selections=SELECTIONS, parameters=values, options=opts).to_numpy()[:, 1:]
        np.testing.assert_allclose(got, _reference(values), rtol=1e-8, atol=1e-12)


def test_cohort_subjects_use_the_same_reset():
    model = qs.load_model(SBML, guard=False)
    rows = [{"V": 2.0, "k": 1.0}, {"V": 1.0, "k": 2.0}, {"V": 2.0, "k": 0.5}]
    cohort = Cohort.from_parts(parameters=pd.DataFrame(rows), seed=1)
    res = simulate_cohort(model, cohort, TIMES, outputs=SELECTIONS, progress=False,
                          options=qs.IntegratorOptions(rtol=1e-10, atol=1e-14))
    for j, row in enumerate(rows):
        np.testing.assert_allclose(res.values[j], _reference(row), rtol=1e-8, atol=1e-12)


def test_structure_splits_parameters_from_states():
    st = ModelStructure.from_sbml(SBML)
    assert st.split(["V", "k", "[S]", "U"]) == (["V", "k"], ["[S]", "U"])
    with pytest.raises(qs.SbmlError, match=r"unknown parameter 'kk'.*did you mean 'k'"):
        st.check_keys(["kk"])


def test_reset_plans_are_computed_once_per_set_of_names():
    sim = Simulator.compile(SBML, cache=False)
    sim.reset({"V": 2.0})
    sim.reset({"V": 3.0})
    sim.reset({"k": 2.0})
    assert len(sim._plans) == 2
    assert sim.value("[S]") == pytest.approx(2.0)
