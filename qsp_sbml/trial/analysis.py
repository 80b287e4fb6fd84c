"""Two-arm analyses of per-subject outcomes: continuous, responder and time-to-event endpoints.

Every function takes a plain :class:`pandas.DataFrame` with one row per subject, the name of
the arm column and the labels of the two arms compared, and returns an :class:`AnalysisResult`
(effect estimate with its confidence interval, test statistic and two-sided p-value).
statsmodels and scipy are imported inside the functions, so ``import qsp_sbml`` stays light.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"arm": ["A"] * 4 + ["P"] * 4, "y": [5.0, 6, 7, 8, 1, 2, 3, 4]})
>>> r = t_test(df, outcome="y", treatment="A", control="P")
>>> r.estimate, round(r.p_value, 4)
(4.0, 0.0047)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qsp_sbml._optional import require
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial._checks import arm_values, check_alpha, check_binary, check_columns, check_numeric

__all__ = ["AnalysisResult", "ancova", "logrank_test", "responder_test", "t_test"]


@dataclass(frozen=True, kw_only=True)
class AnalysisResult:
    """Result of one two-arm analysis."""

    #: Name of the test (``"welch_t"``, ``"ancova"``, ``"chi2"``, ``"logrank"``...).
    test: str
    #: What ``estimate`` is (``"difference in means"``, ``"risk difference"``, ``"hazard ratio"``...).
    estimand: str
    #: Treatment-versus-control effect estimate.
    estimate: float
    #: Two-sided ``1 - alpha`` confidence interval of ``estimate``.
    ci_low: float
    ci_high: float
    #: Standard error of the estimate (on the log scale for ratios).
    se: float
    #: Test statistic (t, z or chi-square) and its two-sided p-value.
    statistic: float
    p_value: float
    alpha: float
    #: Subjects analysed per arm label.
    n: dict[str, int]
    #: Further estimates (odds ratio, residual variance, ...).
    details: dict[str, float] = field(default_factory=dict)

    def significant(self) -> bool:
        """Whether the two-sided p-value is below ``alpha``."""
        return self.p_value < self.alpha


def _stats():  # type: ignore[no-untyped-def]
    return require("scipy.stats", extra="trial")


def t_test(
    data: pd.DataFrame, *, outcome: str, treatment: object, control: object, arm: str = "arm",
    equal_var: bool = False, alpha: float = 0.05,
) -> AnalysisResult:
    """Two-sample t-test of ``outcome`` (Welch by default, pooled with ``equal_var=True``).

    The estimate is mean(treatment) - mean(control) with its t-based confidence interval
    (Welch-Satterthwaite degrees of freedom for the unequal-variance test).
    """
    check_alpha(alpha)
    check_columns(data, [arm, outcome])
    is_t, is_c = arm_values(data, arm, treatment, control)
    y = check_numeric(data, outcome, what="a continuous outcome")
    yt, yc = y[is_t], y[is_c]
    for label, arr in (("treatment", yt), ("control", yc)):
        if arr.size < 2:
            raise TrialDesignError(f"needs at least 2 subjects per arm, arm has {arr.size}", field=label)
    nt, nc = yt.size, yc.size
    vt, vc = yt.var(ddof=1), yc.var(ddof=1)
    diff = float(yt.mean() - yc.mean())
    if equal_var:
        df = nt + nc - 2
        sp2 = ((nt - 1) * vt + (nc - 1) * vc) / df
        se = math.sqrt(sp2 * (1 / nt + 1 / nc))
    else:
        se = math.sqrt(vt / nt + vc / nc)
        df = (vt / nt + vc / nc) ** 2 / ((vt / nt) ** 2 / (nt - 1) + (vc / nc) ** 2 / (nc - 1))
    st = _stats()
    tstat = diff / se
    p = float(2 * st.t.sf(abs(tstat), df))
    q = float(st.t.ppf(1 - alpha / 2, df))
    return AnalysisResult(
        test="pooled_t" if equal_var else "welch_t", estimand="difference in means", estimate=diff,
        ci_low=diff - q * se, ci_high=diff + q * se, se=se, statistic=float(tstat), p_value=p, alpha=alpha,
        n={str(treatment): nt, str(control): nc}, details={"df": float(df)},
    )


def ancova(
    data: pd.DataFrame, *, outcome: str, baseline: str | None, treatment: object, control: object,
    arm: str = "arm", covariates: Sequence[str] = (), alpha: float = 0.05,
) -> AnalysisResult:
    """ANCOVA by ordinary least squares: ``outcome ~ arm + baseline + covariates``.

    The estimate is the adjusted treatment-versus-control difference (the arm coefficient) with
    its t-based confidence interval. ``details`` holds the residual variance and R².
    ``baseline=None`` with ``covariates`` gives a regression on the covariates alone.
    """
    check_alpha(alpha)
    adjust = ([baseline] if baseline is not None else []) + list(covariates)
    if not adjust:
        raise TrialDesignError("ANCOVA needs a baseline or at least one covariate", field="baseline")
    check_columns(data, [arm, outcome, *adjust])
    is_t, is_c = arm_values(data, arm, treatment, control)
    sub = data[is_t | is_c]
    y = check_numeric(sub, outcome, what="a continuous outcome")
    cols = [np.ones(len(sub)), (sub[arm].to_numpy() == treatment).astype(float)]
    cols += [check_numeric(sub, c, what="an ANCOVA covariate") for c in adjust]
    x = np.column_stack(cols)
    if len(sub) <= x.shape[1]:
        raise TrialDesignError(f"{len(sub)} subjects cannot fit {x.shape[1]} coefficients", field=outcome)
    sm = require("statsmodels.api", extra="trial")
    fit = sm.OLS(y, x).fit()
    est, se = float(fit.params[1]), float(fit.bse[1])
    q = float(_stats().t.ppf(1 - alpha / 2, fit.df_resid))
    return AnalysisResult(
        test="ancova", estimand="adjusted difference in means", estimate=est, ci_low=est - q * se,
        ci_high=est + q * se, se=se, statistic=float(fit.tvalues[1]), p_value=float(fit.pvalues[1]), alpha=alpha,
        n={str(treatment): int(is_t.sum()), str(control): int(is_c.sum())},
        details={"residual_variance": float(fit.scale), "r_squared": float(fit.rsquared), "df": float(fit.df_resid)},
    )


def responder_test(
    data: pd.DataFrame, *, outcome: str, treatment: object, control: object, arm: str = "arm",
    method: str = "chi2", correction: bool = False, alpha: float = 0.05,
) -> AnalysisResult:
    """Responder analysis (e.g. PASI75) of a binary ``outcome``: chi-square or logistic regression.

    The estimate is the risk difference p(treatment) - p(control) with a Wald interval; the odds
    ratio and its interval are in ``details`` (Woolf's log-odds interval for ``"chi2"``, the Wald
    interval of the logistic coefficient for ``"logistic"``). The p-value is Pearson's chi-square
    (Yates-corrected with ``correction=True``) or the logistic Wald test.
    """
    check_alpha(alpha)
    if method not in ("chi2", "logistic"):
        raise TrialDesignError(f"unknown method {method!r}; use 'chi2' or 'logistic'", field="method")
    check_columns(data, [arm, outcome])
    is_t, is_c = arm_values(data, arm, treatment, control)
    r = check_binary(data, outcome, what="a responder outcome")
    rt, rc = r[is_t], r[is_c]
    nt, nc = rt.size, rc.size
    xt, xc = int(rt.sum()), int(rc.sum())
    pt, pc = xt / nt, xc / nc
    st = _stats()
    z = float(st.norm.ppf(1 - alpha / 2))
    rd = pt - pc
    se_rd = math.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc)
    table = np.array([[xt, nt - xt], [xc, nc - xc]], dtype=float)
    details: dict[str, float] = {"p_treatment": pt, "p_control": pc}
    if method == "chi2":
        if (table.sum(axis=0) == 0).any():
            raise TrialDesignError("all subjects share one outcome; the chi-square test is undefined", field=outcome)
        chi2, p, _, _ = st.chi2_contingency(table, correction=correction)
        cells = table + 0.5 if (table == 0).any() else table
        log_or = math.log(cells[0, 0] * cells[1, 1] / (cells[0, 1] * cells[1, 0]))
        se_lor = math.sqrt(float((1 / cells).sum()))
        stat = float(chi2)
    else:
        sm = require("statsmodels.api", extra="trial")
        x = np.column_stack([np.ones(nt + nc), np.r_[np.ones(nt), np.zeros(nc)]])
        fit = sm.Logit(np.r_[rt, rc], x).fit(disp=0)
        log_or, se_lor = float(fit.params[1]), float(fit.bse[1])
        stat = log_or / se_lor
        p = float(2 * st.norm.sf(abs(stat)))
    details |= {"odds_ratio": math.exp(log_or), "odds_ratio_ci_low": math.exp(log_or - z * se_lor),
                "odds_ratio_ci_high": math.exp(log_or + z * se_lor)}
    return AnalysisResult(
        test=method, estimand="risk difference", estimate=rd, ci_low=rd - z * se_rd, ci_high=rd + z * se_rd,
        se=se_rd, statistic=stat, p_value=float(p), alpha=alpha, n={str(treatment): nt, str(control): nc},
        details=details,
    )


def logrank_test(
    data: pd.DataFrame, *, time: str, event: str, treatment: object, control: object, arm: str = "arm",
    alpha: float = 0.05,
) -> AnalysisResult:
    """Log-rank test of a time-to-event endpoint with the Cox hazard ratio (treatment vs control).

    ``time`` holds the follow-up time (> 0), ``event`` 1 for an event and 0 for censoring. The
    log-rank statistic is computed here (hypergeometric variance, ties allowed); the hazard ratio
    and its Wald interval come from statsmodels ``PHReg`` (Breslow ties); the log-rank-based
    (Peto) estimate exp((O - E)/V) is in ``details``.
    """
    check_alpha(alpha)
    check_columns(data, [arm, time, event])
    is_t, is_c = arm_values(data, arm, treatment, control)
    sub_mask = is_t | is_c
    t = check_numeric(data, time, what="a time to event")
    if np.any(t[sub_mask] <= 0):
        row = int(np.flatnonzero(sub_mask & (t <= 0))[0])
        raise TrialDesignError(f"times must be > 0; row {row + 1} holds {t[row]!r}", field=time, value=t[row])
    d = check_binary(data, event, what="an event indicator (1 = event, 0 = censored)")
    tt, dd, gg = t[sub_mask], d[sub_mask], is_t[sub_mask]
    if dd.sum() == 0:
        raise TrialDesignError("no events in either arm; the log-rank test is undefined", field=event)
    o_minus_e, var = 0.0, 0.0
    for u in np.unique(tt[dd == 1]):
        at_risk = tt >= u
        n_all, n_trt = at_risk.sum(), (at_risk & gg).sum()
        dead = (tt == u) & (dd == 1)
        d_all, d_trt = dead.sum(), (dead & gg).sum()
        frac = n_trt / n_all
        o_minus_e += d_trt - d_all * frac
        if n_all > 1:
            var += d_all * frac * (1 - frac) * (n_all - d_all) / (n_all - 1)
    chi2 = o_minus_e**2 / var
    st = _stats()
    p = float(st.chi2.sf(chi2, 1))
    phreg = require("statsmodels.duration.hazard_regression", extra="trial")
    fit = phreg.PHReg(tt, gg.astype(float)[:, None], status=dd.astype(float), ties="breslow").fit(disp=0)
    beta, se = float(fit.params[0]), float(fit.bse[0])
    z = float(st.norm.ppf(1 - alpha / 2))
    return AnalysisResult(
        test="logrank", estimand="hazard ratio", estimate=math.exp(beta), ci_low=math.exp(beta - z * se),
        ci_high=math.exp(beta + z * se), se=se, statistic=float(chi2), p_value=p, alpha=alpha,
        n={str(treatment): int(is_t.sum()), str(control): int(is_c.sum())},
        details={"observed_minus_expected": float(o_minus_e), "logrank_variance": float(var),
                 "peto_hazard_ratio": math.exp(o_minus_e / var),
                 "events_treatment": float(dd[gg].sum()), "events_control": float(dd[~gg].sum())},
    )
