"""Power by simulation against statsmodels' analytic t-test power; assurance; sample size; dose response."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial._checks import check_allocation
from qsp_sbml.trial.analysis import AnalysisResult, t_test
from qsp_sbml.trial.dose import fit_emax, select_dose, trend_test
from qsp_sbml.trial.power import assurance, sample_size_search, simulated_power

EFFECT, SD = 0.5, 1.0


def _generate(n: int, rng: np.random.Generator, effect: object = EFFECT) -> pd.DataFrame:
    return pd.DataFrame({"arm": ["T"] * n + ["C"] * n,
                         "y": np.r_[rng.normal(float(effect), SD, n), rng.normal(0.0, SD, n)]})


def _analyse(df: pd.DataFrame) -> AnalysisResult:
    return t_test(df, outcome="y", treatment="T", control="C", equal_var=True)


def _analytic(n: int, effect: float = EFFECT) -> float:
    from statsmodels.stats.power import TTestIndPower

    return float(TTestIndPower().power(effect_size=effect / SD, nobs1=n, alpha=0.05, ratio=1.0))


@pytest.mark.parametrize("n", [20, 40, 64])
def test_simulated_power_matches_ttestindpower(n: int) -> None:
    # 400 replicates: MC SE = sqrt(p(1-p)/400) <= 0.025; acceptance |sim - analytic| <= 3 SE.
    res = simulated_power(_generate, _analyse, n=n, n_sim=400, seed=n)
    exact = _analytic(n)
    assert abs(res.power - exact) <= 3 * math.sqrt(exact * (1 - exact) / 400)


def test_type_one_error_under_the_null() -> None:
    # 1000 replicates: SE = 0.0069; acceptance alpha ± 3 SE
    res = simulated_power(lambda n, rng: _generate(n, rng, 0.0), _analyse, n=30, n_sim=1000, seed=7)
    assert abs(res.power - 0.05) <= 3 * math.sqrt(0.05 * 0.95 / 1000)


def test_assurance_averages_power_over_the_design_prior() -> None:
    # prior theta ~ N(0.5, 0.2²): assurance = E[power(theta)] by Gauss-Hermite quadrature of the exact
    # two-sided pooled-t power (noncentral t, valid for any sign of theta)
    n, mu, tau = 40, 0.5, 0.2
    df = 2 * n - 2
    q = stats.t.ppf(0.975, df)

    def power(theta: float) -> float:
        ncp = theta / (SD * math.sqrt(2 / n))
        # P(T <= -q) = P(T' >= q) with T' ~ nct(df, -ncp); scipy's nct.cdf far in the tail can return nan
        return float(stats.nct.sf(q, df, ncp) + stats.nct.sf(q, df, -ncp))

    assert power(EFFECT) == pytest.approx(_analytic(n), rel=1e-6)
    x, w = np.polynomial.hermite_e.hermegauss(30)
    expected = float(sum(wi * power(mu + tau * xi) for xi, wi in zip(x, w, strict=True)) / w.sum())
    res = assurance(_generate, _analyse, lambda rng: rng.normal(mu, tau), n=n, n_sim=500, seed=3)
    assert abs(res.power - expected) <= 3 * math.sqrt(expected * (1 - expected) / 500)
    assert expected < _analytic(n)  # uncertainty about theta lowers the chance of success here


def test_sample_size_search_brackets_the_analytic_size() -> None:
    from statsmodels.stats.power import TTestIndPower

    n_exact = TTestIndPower().solve_power(effect_size=EFFECT, alpha=0.05, power=0.8)  # 63.77 per arm
    res = sample_size_search(_generate, _analyse, n_grid=[40, 64, 88], target=0.8, n_sim=300, seed=9)
    for _, row in res.curve.iterrows():
        exact = _analytic(int(row.n))
        assert abs(row.power - exact) <= 3 * math.sqrt(exact * (1 - exact) / 300)
    # power at 40 is 0.60 (7 SE below 0.8), at 88 it is 0.93: the search must land on 64 or 88
    assert res.n in (64, 88) and abs(res.n - n_exact) <= 25


def test_bad_power_inputs() -> None:
    with pytest.raises(TrialDesignError) as err:
        simulated_power(_generate, lambda df: 0.3, n=10, n_sim=2)  # type: ignore[arg-type,return-value]
    assert err.value.field == "analyse"
    with pytest.raises(TrialDesignError) as err:
        simulated_power(_generate, _analyse, n=0, n_sim=2)
    assert err.value.field == "n"
    with pytest.raises(TrialDesignError) as err:
        check_allocation([0.5, 0.4], 2)
    assert err.value.field == "allocation" and "sum to 1" in str(err.value)


def _dose_data(seed: int = 1, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    doses = np.repeat([0.0, 5.0, 20.0, 80.0], n)
    y = 2.0 + 6.0 * doses / (15.0 + doses) + rng.normal(0, 1.5, doses.size)
    return pd.DataFrame({"dose": doses, "y": y})


def test_trend_test_matches_linregress_and_emax_recovers_truth() -> None:
    df = _dose_data()
    res = trend_test(df, dose="dose", outcome="y")
    ref = stats.linregress(df.dose, df.y)
    assert res.estimate == pytest.approx(ref.slope, rel=1e-10)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    fit = fit_emax(df, dose="dose", outcome="y")
    for est, se, truth in zip((fit.e0, fit.emax, fit.ed50), fit.se, (2.0, 6.0, 15.0), strict=True):
        assert abs(est - truth) <= 3 * se
    assert fit.target_dose(3.0) == pytest.approx(fit.ed50 * 3.0 / (fit.emax - 3.0))
    assert math.isinf(fit.target_dose(100.0))


def test_select_dose_rules() -> None:
    df = _dose_data(seed=2, n=200)
    # true effects over placebo: 5 -> 1.5, 20 -> 3.43, 80 -> 5.05
    point = select_dose(df, dose="dose", outcome="y", target=1.0)
    strict = select_dose(df, dose="dose", outcome="y", target=3.0, rule="lower_bound")
    assert point.dose == 5.0
    assert strict.dose in (20.0, 80.0)
    row = strict.table.set_index("dose").loc[strict.dose]
    assert row.lower >= 3.0
    assert select_dose(df, dose="dose", outcome="y", target=10.0).dose is None
    with pytest.raises(TrialDesignError) as err:
        select_dose(df, dose="dose", outcome="y", target=1.0, control_dose=1.0)
    assert err.value.field == "control_dose"
