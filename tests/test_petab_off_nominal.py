"""Our PEtab objective away from the nominal parameters, against an independent evaluation.

The conformance suites check the objective at the nominal parameters only; the
multistart figures of Boehm_JProteomeRes2014 (README "Calibrate") depend on
the landscape everywhere.  Here a plain libroadrunner run of the SBML file,
the observable formulas parsed by petab's own ``sympify_petab`` and petab's
``calculate_llh`` (none of our PEtab code) evaluate the likelihood at uniform
random start points and at the local optima the multistarts end in.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import conformance_dir

BOEHM = conformance_dir() / "benchmark_models" / "Boehm_JProteomeRes2014"

pytestmark = pytest.mark.conformance

#: End points of Boehm multistarts (linear scale, ids in parameter-table order), README "Calibrate".
LOCAL_OPTIMA = {
    147.544: [0.031388690, 0.00044341044, 96722.10, 0.016674619, 0.017436629, 9594.5507, 4.2858852, 6.1567897,
              5.4292389],
    149.588: [0.024063008, 99999.897, 1.1653580, 0.025824359, 99985.619, 13671.953, 8.5300669, 4.9648246,
              3.8437545],
}


def _independent_nllh(x_scaled: np.ndarray, ids: list[str]) -> float:
    import petab.v1 as petab
    import roadrunner
    import sympy as sp
    from petab.v1.math import sympify_petab

    problem = petab.Problem.from_yaml(BOEHM / "Boehm_JProteomeRes2014.yaml")
    scales = problem.parameter_df.loc[ids, "parameterScale"]
    values = {pid: (10.0**v if scales[pid] == "log10" else float(np.exp(v)) if scales[pid] == "log" else v)
              for pid, v in zip(ids, x_scaled, strict=True)}
    rr = roadrunner.RoadRunner(str(BOEHM / "model_Boehm_JProteomeRes2014.xml"))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-14
    for pid, v in values.items():
        if pid in rr.model.getGlobalParameterIds():
            rr.setValue(pid, v)
    rr.reset()  # initial assignments see the new values
    meas = problem.measurement_df
    times = sorted(set(meas["time"].astype(float)))
    species = list(rr.model.getFloatingSpeciesIds())
    out = np.asarray(rr.simulate(times=[0.0, *times] if times[0] > 0 else times, selections=["time", *species]))
    rows = {float(t): dict(zip(species, r[1:], strict=True)) for t, r in zip(out[:, 0], out, strict=True)}
    fixed = {pid: float(v) for pid, v in problem.parameter_df["nominalValue"].items() if pid not in values}
    formulas = {oid: sympify_petab(f) for oid, f in problem.observable_df["observableFormula"].items()}
    sims = []
    for _, row in meas.iterrows():
        expr = formulas[row["observableId"]]
        subs = {s: rows[float(row["time"])].get(str(s), fixed.get(str(s), values.get(str(s))))
                for s in expr.free_symbols}
        sims.append(float(sp.N(expr.subs(subs))))
    simulation_df = meas.rename(columns={"measurement": "simulation"}).assign(simulation=sims)
    parameter_df = problem.parameter_df.copy()
    for pid, v in values.items():
        parameter_df.loc[pid, "nominalValue"] = v
    return -float(petab.calculate_llh(meas, simulation_df, problem.observable_df, parameter_df))


def _points(objective) -> list[np.ndarray]:
    from qsp_sbml.calibrate import start_points

    ids = objective.problem.x_free_ids
    optima = [np.log10(np.asarray(v)) for v in LOCAL_OPTIMA.values()]
    assert len(optima[0]) == len(ids)
    return [objective.x_nominal, *start_points(objective.problem, 4, seed=3), *optima]


@pytest.mark.skipif(not BOEHM.is_dir(), reason="conformance folder not found")
def test_boehm_objective_matches_independent_llh_away_from_nominal():
    import qsp_sbml.petab as qp
    from qsp_sbml.simulate.options import IntegratorOptions

    objective = qp.PetabObjective(
        qp.PetabProblem.from_yaml(BOEHM / "Boehm_JProteomeRes2014.yaml", guard=False),
        options=qp.ObjectiveOptions(integrator=IntegratorOptions(rtol=1e-10, atol=1e-14)))
    ids = objective.problem.x_free_ids
    ours, theirs = [], []
    for x in _points(objective):
        ours.append(objective(x))
        theirs.append(_independent_nllh(x, ids))
    # values range from 138 to ~1e14 at random starts: compare relatively
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    # the two local optima really are worse than the published optimum, by the amounts the README reports
    np.testing.assert_allclose(ours[-2:], list(LOCAL_OPTIMA), atol=2e-3)
    assert ours[0] == pytest.approx(138.222, abs=1e-3)
