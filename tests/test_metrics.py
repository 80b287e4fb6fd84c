"""NCA against analytic values."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qsp_sbml as qs
from qsp_sbml import resources
from qsp_sbml.metrics import auc, lambda_z, nca


def test_iv_bolus_nca_matches_analytic():
    c0, k = 12.0, 0.15
    t = np.linspace(0, 60, 601)
    r = nca(t, c0 * np.exp(-k * t))
    assert r.t_half == pytest.approx(math.log(2) / k, rel=1e-9)
    assert r.auc_inf == pytest.approx(c0 / k, rel=1e-9)  # log-down trapezoids are exact for exponentials
    assert r.cmax == c0 and r.tmax == 0.0


def test_simulated_oral_profile_nca_matches_closed_form():
    model = qs.load_model(resources.ONE_COMPARTMENT_ORAL)
    t = np.round(np.arange(0, 96.0001, 0.01), 10)
    out = model.simulate(t, selections=["C"], regimen="320 mg po to A_gut",
                         options=qs.IntegratorOptions(rtol=1e-11, atol=1e-14))
    rr = model.roadrunner()
    cl, v, ka = rr.getValue("CL"), rr.getValue("Vc"), rr.getValue("ka")
    r = nca(t, out["C"].to_numpy(), lambda_z_points=2000)  # the last 20 h: absorption is over
    assert r.auc_inf == pytest.approx(320 / cl, rel=1e-5)
    assert r.t_half == pytest.approx(math.log(2) * v / cl, rel=1e-6)
    k = cl / v
    tmax = math.log(ka / k) / (ka - k)
    assert r.tmax == pytest.approx(tmax, abs=0.05)


def test_interval_nca_and_trough():
    t = np.arange(0, 24.5, 0.5)
    c = np.where(t < 12, 10 * np.exp(-0.1 * t), 10 * np.exp(-0.1 * (t - 12)) + 10 * np.exp(-0.1 * t))
    r = nca(t, c, interval=(12, 24))
    exact = (10 + 10 * math.exp(-1.2)) / 0.1 * (1 - math.exp(-1.2))
    assert r.auc_last == pytest.approx(exact, rel=1e-9)
    assert r.ctrough == pytest.approx(c[-1])
    with pytest.raises(ValueError, match="sample times"):
        nca(t, c, interval=(12.2, 24))


def test_auc_methods_and_errors():
    t, c = [0, 1, 2], [0, 2, 1]
    assert auc(t, c, method="linear") == pytest.approx(2.5)
    assert auc(t, c) == pytest.approx(1 + 1 / math.log(2))
    with pytest.raises(ValueError, match="strictly increasing"):
        auc([0, 0, 1], [1, 1, 1])
    with pytest.raises(ValueError, match=">= 0"):
        auc([0, 1], [1, -1])
    assert math.isnan(lambda_z([0, 1, 2], [0, 1, 2])[0])


def test_below_solver_noise_zeroes_only_values_under_the_relative_floor() -> None:
    from qsp_sbml.metrics import below_solver_noise

    c = np.array([0.0, 2.0, 1e-3, 2e-8 * 2.0, 1.9e-8, -3e-11])
    out = below_solver_noise(c)
    assert out.tolist() == [0.0, 2.0, 1e-3, 4e-8, 0.0, 0.0]
    assert c[-1] == -3e-11  # the input is not changed
    assert below_solver_noise(c, relative=1e-2).tolist() == [0.0, 2.0, 0.0, 0.0, 0.0, 0.0]
