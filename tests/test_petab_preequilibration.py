"""Preequilibrations shared by experiments: reused, with the same numbers as computed one experiment at a time.

The model ``A <-> B`` (``k1 A``, ``k2 B``) conserves ``A + B``: the default steady-state method goes straight to
the long simulation (RoadRunner's solver runs without moiety analysis), the gradient's runner solves with the
conservation law.  Three experiments share the preequilibration condition ``pre``; the objective and its gradient
on the whole problem must equal the sums over one-experiment problems (where nothing can be shared; the value
to 1e-12, the gradient to the integration tolerance), at two points and back at the first (a reused steady
state must not leak from one parameter vector to the next).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("petab")

import qsp_sbml.petab as qp
from tests.test_petab import PARS, _write

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
 <model id="isomerisation">
  <listOfCompartments><compartment id="V" size="2" constant="true"/></listOfCompartments>
  <listOfSpecies>
   <species id="A" compartment="V" initialConcentration="1" hasOnlySubstanceUnits="false" boundaryCondition="false"
     constant="false"/>
   <species id="B" compartment="V" initialConcentration="0" hasOnlySubstanceUnits="false" boundaryCondition="false"
     constant="false"/>
  </listOfSpecies>
  <listOfParameters>
   <parameter id="k1" value="1" constant="true"/><parameter id="k2" value="1" constant="true"/>
  </listOfParameters>
  <listOfReactions>
   <reaction id="fwd" reversible="false">
    <listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/></listOfReactants>
    <listOfProducts><speciesReference species="B" stoichiometry="1" constant="true"/></listOfProducts>
    <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k1</ci><ci>A</ci><ci>V</ci>
    </apply></math></kineticLaw></reaction>
   <reaction id="bwd" reversible="false">
    <listOfReactants><speciesReference species="B" stoichiometry="1" constant="true"/></listOfReactants>
    <listOfProducts><speciesReference species="A" stoichiometry="1" constant="true"/></listOfProducts>
    <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k2</ci><ci>B</ci><ci>V</ci>
    </apply></math></kineticLaw></reaction>
  </listOfReactions>
 </model>
</sbml>
"""
PARAMETERS = PARS + ("k1_pre\tlog10\t0.01\t100\t0.5\t1\nk1_a\tlog10\t0.01\t100\t2\t1\nk1_b\tlog10\t0.01\t100\t0.2\t1\n"
                     "k2\tlog10\t0.01\t100\t1.5\t1\n")
CONDITIONS = "conditionId\tk1\npre\tk1_pre\nsa\tk1_a\nsb\tk1_b\nsc\tk1_pre\n"
ROWS = [("sa", 0.0, 0.3), ("sa", 0.5, 0.5), ("sa", 2.0, 0.45), ("sb", 1.0, 0.35), ("sb", 3.0, 0.6),
        ("sc", 1.0, 0.3), ("sc", math.inf, 0.25)]


def _objective(folder, rows) -> qp.PetabObjective:
    meas = "observableId\tpreequilibrationConditionId\tsimulationConditionId\ttime\tmeasurement\n" + "".join(
        f"obs\tpre\t{c}\t{t}\t{m}\n" for c, t, m in rows)
    folder.mkdir()
    path = _write(folder, parameters=PARAMETERS, measurements=meas, conditions=CONDITIONS)
    (folder / "model.xml").write_text(MODEL)
    return qp.PetabObjective(qp.PetabProblem.from_yaml(path, guard=False))


def test_shared_preequilibration_gives_the_numbers_of_separate_experiments(tmp_path):
    whole = _objective(tmp_path / "whole", ROWS)
    parts = [_objective(tmp_path / c, [r for r in ROWS if r[0] == c]) for c in ("sa", "sb", "sc")]
    ids = whole.problem.x_free_ids
    x1 = whole.x_nominal
    x2 = x1 + np.array([0.2, -0.1, 0.3, -0.2])
    for x in (x1, x2, x1):
        value, grad = whole(x, sensi=1)
        expected_value, expected_grad = 0.0, np.zeros(len(ids))
        for part in parts:
            sub = [ids.index(p) for p in part.problem.x_free_ids]
            v, g = part(x[sub], sensi=1)
            expected_value += v
            expected_grad[sub] += g
        assert value == pytest.approx(expected_value, rel=1e-12)
        assert whole(x) == pytest.approx(expected_value, rel=1e-12)
        # the one-experiment problems' sensitivity models follow fewer parameters: CVODE's error control differs
        # (measured 6e-9 relative at rtol 1e-8); a wrongly reused state would be off by orders more
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-6, atol=1e-9 * np.max(np.abs(expected_grad)))


def test_preequilibrated_state_is_the_closed_form_steady_state(tmp_path):
    # at t=0 of experiment "sa", A is the preequilibrium k2 / (k1_pre + k2) of the total concentration 1
    objective = _objective(tmp_path / "p", ROWS)
    for shift in (0.0, 0.3):
        x = objective.x_nominal + shift
        sims = objective.evaluate(x).simulated
        k1_pre, k2 = 10 ** x[0], 10 ** x[3]
        assert sims[0] == pytest.approx(k2 / (k1_pre + k2), rel=1e-6)
        # "sc" keeps the preequilibration's k1: its t=1 and t=inf values are that steady state too
        assert sims[5] == pytest.approx(k2 / (k1_pre + k2), rel=1e-6)
        assert sims[6] == pytest.approx(k2 / (k1_pre + k2), rel=1e-6)
