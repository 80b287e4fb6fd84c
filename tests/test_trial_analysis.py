"""Two-arm analyses against scipy/statsmodels and a textbook log-rank example."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial.analysis import ancova, logrank_test, responder_test, t_test


def _two_arm(seed: int = 0, n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(10, 2, 2 * n)
    arm = np.repeat(["drug", "placebo"], n)
    y = 0.6 * base + np.where(arm == "drug", 1.5, 0.0) + rng.normal(0, np.where(arm == "drug", 2.0, 1.0))
    return pd.DataFrame({"arm": arm, "baseline": base, "age": rng.normal(50, 10, 2 * n), "y": y})


@pytest.mark.parametrize("equal_var", [False, True])
def test_t_test_matches_scipy(equal_var: bool) -> None:
    df = _two_arm()
    res = t_test(df, outcome="y", treatment="drug", control="placebo", equal_var=equal_var)
    ref = stats.ttest_ind(df.y[df.arm == "drug"], df.y[df.arm == "placebo"], equal_var=equal_var)
    ci = ref.confidence_interval(0.95)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)


def test_ancova_matches_statsmodels_formula() -> None:
    smf = pytest.importorskip("statsmodels.formula.api")
    df = _two_arm(seed=3)
    res = ancova(df, outcome="y", baseline="baseline", covariates=["age"], treatment="drug", control="placebo")
    fit = smf.ols("y ~ C(arm, Treatment('placebo')) + baseline + age", data=df).fit()
    name = "C(arm, Treatment('placebo'))[T.drug]"
    assert res.estimate == pytest.approx(fit.params[name], rel=1e-10)
    lo, hi = fit.conf_int().loc[name]
    assert (res.ci_low, res.ci_high) == pytest.approx((lo, hi), rel=1e-10)
    assert res.p_value == pytest.approx(fit.pvalues[name], rel=1e-8)


def test_responder_chi2_and_odds_ratio_by_hand() -> None:
    # 2x2 table: drug 30/50 responders, placebo 15/50 (a, b / c, d)
    a, b, c, d = 30, 20, 15, 35
    df = pd.DataFrame({"arm": ["drug"] * 50 + ["placebo"] * 50,
                       "pasi75": [1] * a + [0] * b + [1] * c + [0] * d})
    res = responder_test(df, outcome="pasi75", treatment="drug", control="placebo")
    n = a + b + c + d
    chi2 = n * (a * d - b * c) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
    assert res.statistic == pytest.approx(chi2, rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(chi2, 1), rel=1e-10)
    assert res.estimate == pytest.approx(0.3)
    se_log_or = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    assert res.details["odds_ratio"] == pytest.approx(a * d / (b * c))
    assert res.details["odds_ratio_ci_low"] == pytest.approx(math.exp(math.log(a * d / (b * c)) - 1.959964 * se_log_or),
                                                              rel=1e-6)
    yates = responder_test(df, outcome="pasi75", treatment="drug", control="placebo", correction=True)
    ref = stats.chi2_contingency([[a, b], [c, d]], correction=True)
    assert yates.statistic == pytest.approx(ref.statistic)
    logit = responder_test(df, outcome="pasi75", treatment="drug", control="placebo", method="logistic")
    # saturated logistic model: exp(coefficient) is the sample odds ratio, Wald SE is Woolf's
    assert logit.details["odds_ratio"] == pytest.approx(a * d / (b * c), rel=1e-6)
    assert logit.details["odds_ratio_ci_low"] == pytest.approx(res.details["odds_ratio_ci_low"], rel=1e-5)


# Freireich et al. (1963) 6-MP vs placebo remission times (weeks), "+" censored; the log-rank
# chi-square of this example is 16.79 (Kleinbaum & Klein, Survival Analysis: A Self-Learning Text,
# 3rd ed. 2012, chapter 2).
SIX_MP = "6 6 6 6+ 7 9+ 10 10+ 11+ 13 16 17+ 19+ 20+ 22 23 25+ 32+ 32+ 34+ 35+"
PLACEBO = "1 1 2 2 3 4 4 5 5 8 8 8 8 11 11 12 12 15 17 22 23"


def _leukaemia() -> pd.DataFrame:
    rows = []
    for arm, text in (("6-MP", SIX_MP), ("placebo", PLACEBO)):
        for tok in text.split():
            rows.append({"arm": arm, "weeks": float(tok.rstrip("+")), "relapse": 0 if tok.endswith("+") else 1})
    return pd.DataFrame(rows)


def test_logrank_matches_textbook_and_statsmodels_survdiff() -> None:
    survfunc = pytest.importorskip("statsmodels.duration.survfunc")
    df = _leukaemia()
    res = logrank_test(df, time="weeks", event="relapse", treatment="6-MP", control="placebo")
    assert res.statistic == pytest.approx(16.79, abs=0.005)
    chi2, p = survfunc.survdiff(df.weeks.to_numpy(), df.relapse.to_numpy(), df.arm.to_numpy())
    assert res.statistic == pytest.approx(chi2, rel=1e-10)
    assert res.p_value == pytest.approx(p, rel=1e-8)
    assert res.estimate < 1 < 1 / res.ci_high  # 6-MP lowers the relapse hazard
    assert res.details["peto_hazard_ratio"] == pytest.approx(res.estimate, rel=0.15)


def test_bad_inputs_name_the_field() -> None:
    df = _two_arm()
    with pytest.raises(TrialDesignError) as err:
        t_test(df, outcome="y", treatment="drug", control="placebo_x")
    assert err.value.field == "control"
    with pytest.raises(TrialDesignError) as err:
        t_test(df, outcome="weight", treatment="drug", control="placebo")
    assert err.value.field == "weight"
    with pytest.raises(TrialDesignError) as err:  # log-rank on a continuous endpoint
        logrank_test(df.assign(t=1.0), time="t", event="y", treatment="drug", control="placebo")
    assert err.value.field == "y"
    with pytest.raises(TrialDesignError) as err:  # responder analysis of a continuous outcome
        responder_test(df, outcome="y", treatment="drug", control="placebo")
    assert err.value.field == "y" and "binary" in str(err.value)
    with pytest.raises(TrialDesignError) as err:
        logrank_test(_leukaemia().assign(weeks=0.0), time="weeks", event="relapse", treatment="6-MP",
                     control="placebo")
    assert err.value.field == "weeks"
    with pytest.raises(TrialDesignError) as err:
        ancova(df, outcome="y", baseline=None, treatment="drug", control="placebo")
    assert err.value.field == "baseline"
