"""Dose-response across arms: linear trend test, Emax fit and selection of the dose meeting a target.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(3)
>>> doses = np.repeat([0.0, 10, 30, 100], 50)
>>> y = 1 + 4 * doses / (20 + doses) + rng.normal(0, 1, doses.size)
>>> df = pd.DataFrame({"dose": doses, "y": y})
>>> trend_test(df, dose="dose", outcome="y").p_value < 0.001
True
>>> select_dose(df, dose="dose", outcome="y", target=1.0).dose  # true effect at 10: 4*10/30 = 1.33
10.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qsp_sbml._optional import require
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial._checks import check_alpha, check_columns, check_numeric
from qsp_sbml.trial.analysis import AnalysisResult

__all__ = ["DoseSelection", "EmaxFit", "fit_emax", "select_dose", "trend_test"]


def trend_test(data: pd.DataFrame, *, dose: str, outcome: str, alpha: float = 0.05) -> AnalysisResult:
    """Linear trend test across dose arms: OLS slope of ``outcome`` on ``dose`` (t-test, two-sided)."""
    check_alpha(alpha)
    check_columns(data, [dose, outcome])
    d = check_numeric(data, dose, what="a dose")
    y = check_numeric(data, outcome, what="a continuous outcome")
    if np.unique(d).size < 2:
        raise TrialDesignError("needs at least two distinct dose levels", field=dose)
    sm = require("statsmodels.api", extra="trial")
    fit = sm.OLS(y, np.column_stack([np.ones_like(d), d])).fit()
    est, se = float(fit.params[1]), float(fit.bse[1])
    q = float(require("scipy.stats", extra="trial").t.ppf(1 - alpha / 2, fit.df_resid))
    counts = pd.Series(d).value_counts().sort_index()
    return AnalysisResult(
        test="linear_trend", estimand="slope per unit dose", estimate=est, ci_low=est - q * se, ci_high=est + q * se,
        se=se, statistic=float(fit.tvalues[1]), p_value=float(fit.pvalues[1]), alpha=alpha,
        n={str(k): int(v) for k, v in counts.items()},
    )


@dataclass(frozen=True, kw_only=True)
class EmaxFit:
    """Least-squares fit of ``E0 + Emax * dose / (ED50 + dose)``."""

    e0: float
    emax: float
    ed50: float
    #: Standard errors of (e0, emax, ed50) from the asymptotic covariance.
    se: tuple[float, float, float]
    residual_sd: float

    def predict(self, dose: np.ndarray | float) -> np.ndarray:
        """Model response at ``dose``."""
        d = np.asarray(dose, dtype=float)
        return self.e0 + self.emax * d / (self.ed50 + d)

    def target_dose(self, target: float) -> float:
        """Dose whose modelled effect over placebo equals ``target`` (inf if Emax does not reach it)."""
        if self.emax == 0 or target / self.emax >= 1 or target / self.emax <= 0:
            return math.inf
        return self.ed50 * target / (self.emax - target)


def fit_emax(data: pd.DataFrame, *, dose: str, outcome: str) -> EmaxFit:
    """Fit the hyperbolic Emax model across dose arms (scipy ``curve_fit``, ED50 > 0)."""
    check_columns(data, [dose, outcome])
    d = check_numeric(data, dose, what="a dose")
    y = check_numeric(data, outcome, what="a continuous outcome")
    levels = np.unique(d)
    if levels.size < 3:
        raise TrialDesignError(f"an Emax fit needs >= 3 dose levels, got {levels.size}", field=dose)
    if np.any(d < 0):
        raise TrialDesignError("doses must be >= 0", field=dose)
    means = np.array([y[d == v].mean() for v in levels])
    p0 = [means[0], means[-1] - means[0], float(np.median(levels[levels > 0]))]
    opt = require("scipy.optimize", extra="trial")

    def model(x: np.ndarray, e0: float, emax: float, ed50: float) -> np.ndarray:
        return e0 + emax * x / (ed50 + x)

    try:
        popt, pcov = opt.curve_fit(model, d, y, p0=p0, bounds=([-np.inf, -np.inf, 1e-9 * levels.max()],
                                                                  [np.inf, np.inf, 1e3 * levels.max()]))
    except RuntimeError as err:
        raise TrialDesignError(f"Emax fit did not converge: {err}", field=outcome) from err
    resid = y - model(d, *popt)
    se = np.sqrt(np.clip(np.diag(pcov), 0, np.inf))
    return EmaxFit(e0=float(popt[0]), emax=float(popt[1]), ed50=float(popt[2]),
                   se=(float(se[0]), float(se[1]), float(se[2])),
                   residual_sd=float(math.sqrt(resid @ resid / max(len(y) - 3, 1))))


@dataclass(frozen=True, kw_only=True)
class DoseSelection:
    """Per-dose comparison with control and the smallest dose meeting the target."""

    #: Selected dose, or ``None`` when no dose meets the rule.
    dose: float | None
    #: One row per active dose: ``dose, n, estimate, lower, upper, meets``.
    table: pd.DataFrame
    rule: str
    target: float
    alpha: float


def select_dose(
    data: pd.DataFrame, *, dose: str, outcome: str, target: float, control_dose: float = 0.0, alpha: float = 0.05,
    rule: str = "estimate",
) -> DoseSelection:
    """Smallest dose whose effect over control meets ``target`` under a stated rule.

    For each active dose the Welch difference from the control arm and its one-sided ``1 - alpha``
    lower confidence bound are computed. Rules:

    - ``"estimate"``: estimated effect >= target and the effect is significant (lower bound > 0),
      the usual minimum-effective-dose criterion;
    - ``"lower_bound"``: the lower bound itself >= target (effect >= target with confidence 1 - alpha).
    """
    check_alpha(alpha)
    if rule not in ("estimate", "lower_bound"):
        raise TrialDesignError(f"unknown rule {rule!r}; use 'estimate' or 'lower_bound'", field="rule")
    check_columns(data, [dose, outcome])
    d = check_numeric(data, dose, what="a dose")
    y = check_numeric(data, outcome, what="a continuous outcome")
    if not np.any(d == control_dose):
        raise TrialDesignError(f"no subjects at control dose {control_dose!r}", field="control_dose",
                               value=control_dose)
    st = require("scipy.stats", extra="trial")
    yc = y[d == control_dose]
    rows = []
    for level in np.unique(d[d != control_dose]):
        yt = y[d == level]
        if yt.size < 2 or yc.size < 2:
            raise TrialDesignError(f"dose {level} needs at least 2 subjects per arm", field=dose, value=level)
        vt, vc = yt.var(ddof=1) / yt.size, yc.var(ddof=1) / yc.size
        se = math.sqrt(vt + vc)
        df = (vt + vc) ** 2 / (vt**2 / (yt.size - 1) + vc**2 / (yc.size - 1))
        est = float(yt.mean() - yc.mean())
        q = float(st.t.ppf(1 - alpha, df))
        lower, upper = est - q * se, est + q * se
        meets = lower >= target if rule == "lower_bound" else (est >= target and lower > 0)
        rows.append({"dose": float(level), "n": int(yt.size), "estimate": est, "lower": lower, "upper": upper,
                     "meets": bool(meets)})
    table = pd.DataFrame(rows)
    chosen = table.loc[table["meets"], "dose"]
    return DoseSelection(dose=float(chosen.iloc[0]) if len(chosen) else None, table=table, rule=rule,
                         target=target, alpha=alpha)
