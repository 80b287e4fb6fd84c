"""Federated calibration: theophylline split by subject into three site processes on loopback."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qsp_sbml.calibrate.federated import (
    REPLY_KEYS,
    FederatedObjective,
    federated_multistart,
    free_parameters,
    problem_fingerprint,
    split_problem,
    start_site,
)
from qsp_sbml.errors import CalibrationError

pytest.importorskip("scipy")

REPO = Path(__file__).resolve().parents[1]
THEO = REPO / "petab_problems" / "theophylline"
SUBJECTS = [f"subject_{i:02d}" for i in range(1, 13)]
GROUPS = {"site_a": SUBJECTS[:4], "site_b": SUBJECTS[4:8], "site_c": SUBJECTS[8:]}


def test_split_problem_partitions_the_measurements(tmp_path: Path) -> None:
    paths = split_problem(THEO / "theophylline.yaml", GROUPS, tmp_path)
    full = pd.read_csv(THEO / "measurements.tsv", sep="\t")
    parts = [pd.read_csv(p.parent / "measurements.tsv", sep="\t") for p in paths.values()]
    assert sum(len(p) for p in parts) == len(full)
    assert set(parts[0]["simulationConditionId"]) == set(GROUPS["site_a"])
    fp = problem_fingerprint([THEO / "model.xml"], THEO / "parameters.tsv")
    for p in paths.values():
        assert problem_fingerprint([p.parent / "model.xml"], p.parent / "parameters.tsv") == fp
    with pytest.raises(CalibrationError, match="given to sites 'a' and 'b'"):
        split_problem(THEO / "theophylline.yaml", {"a": SUBJECTS[:2], "b": SUBJECTS[1:3]}, tmp_path / "x")


def test_free_parameters_on_their_scales() -> None:
    ids, lb, ub = free_parameters(THEO / "parameters.tsv")
    assert ids == ["CL", "V", "ka", "sigma_add", "sigma_prop"]
    np.testing.assert_allclose(lb, [-1, 0, -2, -3, -3])
    np.testing.assert_allclose(ub, [2, 3, 2, 1, 0])


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("sites")
    paths = split_problem(THEO / "theophylline.yaml", GROUPS, out)
    started = []
    try:
        for name, path in paths.items():
            started.append(start_site(path, name=name))
        yield started
    finally:
        for s in started:
            s.stop()


@pytest.mark.slow
def test_federated_equals_pooled_and_no_measurement_crosses(sites, tmp_path: Path) -> None:
    import qsp_sbml.petab as qp

    obj = FederatedObjective(sites, model_files=[THEO / "model.xml"], parameter_table=THEO / "parameters.tsv")
    pooled_obj = qp.PetabObjective(qp.PetabProblem.from_yaml(THEO / "theophylline.yaml", guard=False))

    class Pooled:
        x_free_ids, lb, ub = obj.x_free_ids, obj.lb, obj.ub

        def __call__(self, x: np.ndarray, sensi: int = 0):
            return pooled_obj(x, sensi=sensi)

    try:
        assert obj.n_measurements == pooled_obj.problem.n_measurements == 132
        x = pooled_obj.x_nominal
        f_fed, g_fed, fim_fed = obj(x, sensi=2)
        f_pool, g_pool, fim_pool = pooled_obj(x, sensi=2)
        assert abs(f_fed - f_pool) < 1e-9 * abs(f_pool)
        np.testing.assert_allclose(g_fed, g_pool, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(fim_fed, fim_pool, rtol=1e-9, atol=1e-9)
        fed = federated_multistart(obj, n_starts=1, seed=1, x_starts=x[None, :])
        pooled = federated_multistart(Pooled(), n_starts=1, seed=1, x_starts=x[None, :])
        assert abs(fed.fval - pooled.fval) < 1e-6
        assert math.isclose(fed.fval, 223.3494, abs_tol=1e-3)
        np.testing.assert_allclose(fed.x, pooled.x, atol=1e-4)
        # what crossed the boundary: only the protocol's keys, vectors of the parameters' length, no measurement
        measurements = set(pd.read_csv(THEO / "measurements.tsv", sep="\t")["measurement"].round(6))
        assert obj.received
        for site, op, reply in obj.received:
            assert set(reply) <= REPLY_KEYS[op], (site, op, sorted(reply))
            if op == "evaluate":
                assert len(reply["grad"]) == 5
                numbers = [reply["fval"], *reply["grad"], *(v for row in reply.get("fim", []) for v in row)]
                assert not (measurements - {0.0}) & {round(float(v), 6) for v in numbers if v is not None}
        text = json.dumps([r for _, _, r in obj.received]).replace('"n_measurements"', "")
        assert "measurement" not in text and "subject_" not in text
    finally:
        obj.close()


@pytest.mark.slow
def test_a_site_with_another_model_or_table_is_refused(sites, tmp_path: Path) -> None:
    table = pd.read_csv(THEO / "parameters.tsv", sep="\t")
    table.loc[table["parameterId"] == "CL", "upperBound"] = 1000
    other = tmp_path / "parameters.tsv"
    table.to_csv(other, sep="\t", index=False)
    with pytest.raises(CalibrationError, match="site 'site_a': its parameter table differs"):
        FederatedObjective(sites, model_files=[THEO / "model.xml"], parameter_table=other)
    model = tmp_path / "model.xml"
    model.write_text((THEO / "model.xml").read_text().replace('value="2.814"', 'value="2.815"'))
    with pytest.raises(CalibrationError, match="site 'site_a': its model differs"):
        FederatedObjective(sites, model_files=[model], parameter_table=THEO / "parameters.tsv")
    with pytest.raises(CalibrationError, match="site 'nowhere' at 127.0.0.1:1: cannot connect"):
        FederatedObjective(
            [("nowhere", "127.0.0.1", 1)],
            model_files=[THEO / "model.xml"],
            parameter_table=THEO / "parameters.tsv",
            timeout=2,
        )


def test_a_site_that_cannot_start_says_why(tmp_path: Path) -> None:
    bad = tmp_path / "problem.yaml"
    bad.write_text("format_version: 1\nparameter_file: nothing.tsv\nproblems: []\n")
    with pytest.raises(CalibrationError, match="site 'broken' did not start"):
        start_site(bad, name="broken", timeout=120)


def test_privacy_accounting() -> None:
    from qsp_sbml.calibrate.privacy import DpSettings, clip, releases_allowed, zcdp_epsilon

    eps = zcdp_epsilon(releases=150, noise_multiplier=10.0, delta=1e-5)
    assert eps == pytest.approx(0.75 + 2 * math.sqrt(0.75 * math.log(1e5)))
    assert releases_allowed(epsilon=eps * (1 + 1e-9), delta=1e-5, noise_multiplier=10.0) == 150
    assert releases_allowed(epsilon=eps * 0.999, delta=1e-5, noise_multiplier=10.0) == 149
    assert DpSettings(clip=1.0, noise_multiplier=10.0, epsilon=eps * (1 + 1e-9)).releases == 150
    with pytest.raises(CalibrationError):
        DpSettings(clip=0.0, noise_multiplier=1.0, epsilon=1.0)
    np.testing.assert_allclose(clip([np.array([30.0, 40.0]), np.array([1.0, 0.0])], 5.0), [4.0, 4.0])


def _fit_gmfe(x: np.ndarray) -> float:
    import qsp_sbml.petab as qp
    from qsp_sbml.metrics import gmfe

    pooled = qp.PetabObjective(qp.PetabProblem.from_yaml(THEO / "theophylline.yaml", guard=False))
    sim = pooled.evaluate(x).simulations["simulation"].to_numpy(dtype=float)
    obs = pd.read_csv(THEO / "measurements.tsv", sep="\t")["measurement"].to_numpy(dtype=float)
    ok = (obs > 0) & (sim > 0)
    return gmfe(sim[ok], obs[ok])


@pytest.mark.slow
def test_private_sites_fit_within_the_gmfe_margin(tmp_path: Path) -> None:
    """Three DP sites (z = 10, C = 50, epsilon 6.63 at delta 1e-5 for 150 releases): GMFE within +0.04."""
    from qsp_sbml.calibrate.privacy import DpSettings, dp_adam, zcdp_epsilon

    budget = zcdp_epsilon(releases=150, noise_multiplier=10.0, delta=1e-5) * (1 + 1e-9)
    settings = DpSettings(clip=50.0, noise_multiplier=10.0, epsilon=budget, delta=1e-5)
    paths = split_problem(THEO / "theophylline.yaml", GROUPS, tmp_path)
    sites = []
    try:
        for k, (name, path) in enumerate(paths.items()):
            sites.append(start_site(path, name=name, dp=settings, dp_seed=100 + k))
        with FederatedObjective(
            sites, model_files=[THEO / "model.xml"], parameter_table=THEO / "parameters.tsv"
        ) as obj:
            assert all(s["dp"]["releases_allowed"] == 150 for s in obj.sites)
            x0 = np.log10([2.814, 32.06, 1.571, 0.5, 0.1])  # the parameter table's nominal values
            x = dp_adam(obj.gradient, x0, lb=obj.lb, ub=obj.ub, steps=150, learning_rate=0.02)
            with pytest.raises(CalibrationError, match="site 'site_a': privacy budget spent: 150 releases"):
                obj.gradient(x)
            with pytest.raises(CalibrationError, match="releases noised gradients only"):
                obj(x)
            for _, op, reply in obj.received:
                assert set(reply) <= ({"grad", "error"} if op == "evaluate" else REPLY_KEYS["describe"])
        pooled_x = np.array([0.42023011, 1.54922552, 0.30304419, -0.58540726, -0.51497626])  # the pooled optimum
        assert _fit_gmfe(x) <= _fit_gmfe(pooled_x) + 0.04
    finally:
        for s in sites:
            s.stop()
