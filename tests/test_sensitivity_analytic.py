"""Sobol and Morris indices on functions with known indices (SALib designs and estimators through our API).

Analytic values:
- Ishigami function (Ishigami & Homma 1990, Proc ISUMA '90, 398-403), x_i ~ U(-pi, pi), a = 7, b = 0.1:
  V = a^2/8 + b pi^4/5 + b^2 pi^8/18 + 1/2, V1 = b pi^4/5 + b^2 pi^8/50 + 1/2, V2 = a^2/8, V3 = 0,
  V13 = 8 b^2 pi^8/225; S_i = V_i/V, ST1 = (V1 + V13)/V, ST2 = V2/V, ST3 = V13/V.
- Sobol' G-function (Sobol' 1993, Math Model Comput Exp 1:407; Saltelli et al. 2010 Comput Phys Commun
  181:259, section 5), x_i ~ U(0, 1): V_i = 1/(3 (1 + a_i)^2), V = prod(1 + V_i) - 1, S_i = V_i/V,
  ST_i = V_i prod_{j != i}(1 + V_j)/V.
- Linear model y = sum c_i x_i with independent x_i: S_i = ST_i = c_i^2 var(x_i) / sum_j c_j^2 var(x_j).

The estimators are SALib's: first order Saltelli et al. 2010 (Table 2 b), total order Jansen 1999 (Saltelli
et al. 2010 Table 2 f).  Documented N (docs/guide/sensitivity.md): 4096 base samples for Ishigami and G.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qsp_sbml.sensitivity import ParameterSpec, SensitivityError, indices, sample

pytest.importorskip("SALib")


def _table(t: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float, float]]:
    return {(r.factor, r.index): (r.value, r.ci_low, r.ci_high) for r in t.itertuples()}


def _check(t: pd.DataFrame, expected: dict[tuple[str, str], float], tol: float = 0.02) -> None:
    got = _table(t)
    for key, want in expected.items():
        value, lo, hi = got[key]
        assert abs(value - want) <= tol, (key, value, want)
        assert lo <= want <= hi, (key, lo, want, hi)


def test_ishigami_first_and_total_order() -> None:
    a, b = 7.0, 0.1
    pi = math.pi
    v = a**2 / 8 + b * pi**4 / 5 + b**2 * pi**8 / 18 + 0.5
    v1, v2, v13 = b * pi**4 / 5 + b**2 * pi**8 / 50 + 0.5, a**2 / 8, 8 * b**2 * pi**8 / 225
    params = [ParameterSpec(id=f"x{i}", lower=-pi, upper=pi) for i in (1, 2, 3)]
    d = sample(params, method="sobol", n=4096, seed=7)
    x = d.values
    y = np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])
    _check(
        indices(d, y, num_resamples=300),
        {
            ("x1", "S1"): v1 / v,
            ("x2", "S1"): v2 / v,
            ("x3", "S1"): 0.0,
            ("x1", "ST"): (v1 + v13) / v,
            ("x2", "ST"): v2 / v,
            ("x3", "ST"): v13 / v,
        },
    )


def test_sobol_g_function() -> None:
    a = np.array([0.0, 1.0, 4.5, 9.0, 99.0, 99.0])
    vi = 1.0 / (3.0 * (1.0 + a) ** 2)
    v = np.prod(1 + vi) - 1
    params = [ParameterSpec(id=f"x{i}", lower=0, upper=1) for i in range(len(a))]
    d = sample(params, method="sobol", n=4096, seed=11)
    y = np.prod((np.abs(4 * d.values - 2) + a) / (1 + a), axis=1)
    expected = {}
    for i in range(len(a)):
        expected[(f"x{i}", "S1")] = vi[i] / v
        expected[(f"x{i}", "ST")] = vi[i] * np.prod(np.delete(1 + vi, i)) / v
    _check(indices(d, y, num_resamples=300), expected)


def test_linear_model_variance_shares() -> None:
    # x1 ~ U(0, 2) (var 1/3), x2 ~ N(1, 0.5) (var 0.25), x3 ~ U(-3, 3) (var 3)
    c = np.array([3.0, -2.0, 0.5])
    var = np.array([4 / 12, 0.25, 36 / 12])
    share = c**2 * var / np.sum(c**2 * var)
    params = [
        ParameterSpec(id="x1", lower=0, upper=2),
        ParameterSpec(id="x2", distribution="normal", mean=1, sd=0.5),
        ParameterSpec(id="x3", lower=-3, upper=3),
    ]
    d = sample(params, method="sobol", n=2048, seed=3)
    t = indices(d, d.values @ c)
    # the normal marginal is clipped at the 0.1 % / 99.9 % quantiles: variance 0.9935 x sd^2
    _check(t, {(f"x{i + 1}", k): share[i] for i in range(3) for k in ("S1", "ST")}, tol=0.02)


def test_morris_ranks_and_zero_effect() -> None:
    # y = 10 x1 + x2^2 + 0 x3: mu* orders x1 > x2 > x3 = 0; x2 nonlinear (sigma > 0), x1 linear (sigma 0)
    params = [ParameterSpec(id=f"x{i}", lower=0, upper=1) for i in (1, 2, 3)]
    d = sample(params, method="morris", n=20, seed=5)
    x = d.values
    t = _table(indices(d, 10 * x[:, 0] + x[:, 1] ** 2))
    assert t[("x1", "mu_star")][0] == pytest.approx(10.0)  # elementary effect of a linear term = its slope
    assert t[("x1", "sigma")][0] == pytest.approx(0.0, abs=1e-9)
    assert t[("x2", "mu_star")][0] > 0 and t[("x2", "sigma")][0] > 0
    assert t[("x3", "mu_star")][0] == 0.0


def test_same_seed_same_design_and_intervals() -> None:
    params = [ParameterSpec(id=k, lower=0, upper=1) for k in "abc"]
    d1, d2 = (sample(params, method="sobol", n=64, seed=2) for _ in range(2))
    y = d1.values[:, 0] * d1.values[:, 1] + d1.values[:, 2]
    pd.testing.assert_frame_equal(indices(d1, y), indices(d2, y))
    assert not np.array_equal(sample(params, method="sobol", n=64, seed=3).values, d1.values)


def test_groups_share_one_index_and_correlation_is_imposed() -> None:
    params = [
        ParameterSpec(id="a", lower=0, upper=1, group="g"),
        ParameterSpec(id="b", lower=0, upper=1, group="g"),
        ParameterSpec(id="c", lower=0, upper=1),
    ]
    from qsp_sbml.sensitivity.spec import Correlation

    d = sample(params, method="sobol", n=1024, seed=1, correlations=[Correlation(between=("a", "b"), rho=0.8)])
    assert d.factors == ["g", "c"]
    r = np.corrcoef(d.values[:, 0], d.values[:, 1])[0, 1]
    assert 0.7 < r < 0.85  # Pearson correlation of uniforms from a Gaussian copula rho = 0.8 is ~0.786
    t = _table(indices(d, d.values[:, 0] + d.values[:, 1]))
    assert t[("g", "ST")][0] == pytest.approx(1.0, abs=0.03) and t[("c", "ST")][0] == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize(
    ("method", "n", "text"),
    [
        ("sobol", 8, "too small for sobol"),
        ("sobol", 100, "power of two"),
        ("morris", 2, "too small for morris"),
        ("fast", 64, "unknown method"),
    ],
)
def test_n_too_small_or_unknown_method(method: str, n: int, text: str) -> None:
    params = [ParameterSpec(id=k, lower=0, upper=1) for k in "ab"]
    with pytest.raises(SensitivityError, match=text):
        sample(params, method=method, n=n, seed=1)


def test_failed_runs_are_named() -> None:
    params = [ParameterSpec(id=k, lower=0, upper=1) for k in "ab"]
    d = sample(params, method="sobol", n=16, seed=1)
    y = d.values[:, 0].copy()
    y[5] = np.nan
    with pytest.raises(SensitivityError, match=r"1 of 64 runs gave no finite value \(first: run 5, a="):
        indices(d, y, output="auc")
