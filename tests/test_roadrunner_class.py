"""A model whose ids are named like RoadRunner methods cannot break RoadRunner for the rest of the process.

libroadrunner adds a property to the RoadRunner class per id of the last loaded model and deletes them at the
next load, so an id ``reset`` replaced and then deleted ``RoadRunner.reset`` for every instance (SBML semantic
suite case 00952 broke the 60 cases after it with ``AttributeError: reset``).
"""

from __future__ import annotations

import numpy as np
import pytest

import qsp_sbml as qs
from qsp_sbml import resources
from qsp_sbml.simulate.runner import new_runner, repair_roadrunner_class

_NAMED_LIKE_METHODS = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
<model id="m" timeUnits="second"><listOfParameters>
<parameter id="reset" value="1" constant="false"/><parameter id="simulate" value="2" constant="true"/>
<parameter id="getValue" value="3" constant="true"/></listOfParameters>
<listOfRules><rateRule variable="reset"><math xmlns="http://www.w3.org/1998/Math/MathML"><ci>simulate</ci></math>
</rateRule></listOfRules></model></sbml>
"""


def test_ids_named_like_methods_do_not_break_roadrunner(recwarn):
    roadrunner = pytest.importorskip("roadrunner")
    weird = qs.load_model(_NAMED_LIKE_METHODS, guard=False)
    np.testing.assert_allclose(weird.simulate([0, 1, 2], selections=["reset"])["reset"], [1, 3, 5])
    other = qs.load_model(resources.ONE_COMPARTMENT_IV, guard=False)
    assert other.simulate([0, 1], regimen="1 mg iv to A", selections=["A"])["A"].iloc[0] > 0
    np.testing.assert_allclose(weird.simulate([0, 2], selections=["reset"])["reset"], [1, 5])  # again, reset works
    assert callable(roadrunner.RoadRunner.reset) and callable(roadrunner.RoadRunner.getValue)
    # the dynamic properties stay on for everybody else (Tellurium users read r.S1)
    key = roadrunner.Config.ROADRUNNER_DISABLE_PYTHON_DYNAMIC_PROPERTIES
    assert not roadrunner.Config.getValue(key)


def test_a_class_broken_by_someone_else_is_repaired_before_we_load():
    roadrunner = pytest.importorskip("roadrunner")
    new_runner(resources.ONE_COMPARTMENT_IV.read_text())  # our snapshot of the class is taken here at the latest
    roadrunner.RoadRunner(_NAMED_LIKE_METHODS)  # plain RoadRunner: 'reset' becomes a property of the class
    roadrunner.RoadRunner(resources.ONE_COMPARTMENT_IV.read_text())  # ... and is deleted: the method is gone
    assert "reset" not in vars(roadrunner.RoadRunner)
    model = qs.load_model(resources.ONE_COMPARTMENT_ORAL, guard=False)
    assert model.simulate([0, 1], selections=["C"]).shape == (2, 2)
    assert callable(roadrunner.RoadRunner.reset)
    assert repair_roadrunner_class() == []
