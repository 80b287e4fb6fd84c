"""Digital-twin covariate adjustment in the PROCOVA manner (part a: prognostic score ANCOVA).

PROCOVA (Schuler et al. 2022, "Increasing the efficiency of randomized trial estimates via linear
adjustment for a prognostic score", Int J Biostat 18(2):329-356, doi:10.1515/ijb-2021-0072;
EMA CHMP, Qualification opinion for Prognostic Covariate Adjustment (PROCOVA), 2022): each
subject's prognostic score (the outcome predicted for them under control by a model trained on
historical data; here, for instance, the subject's simulated untreated twin) is added as a
covariate of the pre-specified ANCOVA. With correlation rho between score and outcome, the
variance of the treatment estimate shrinks by about (1 - rho²), so the same power needs about
n (1 - rho²) subjects (Schuler et al. 2022; exact up to small-sample degrees-of-freedom terms).

Examples
--------
>>> procova_sample_size(300, 0.36)
192
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial._checks import arm_values, check_columns, check_numeric
from qsp_sbml.trial.analysis import AnalysisResult, ancova, t_test

__all__ = ["ProcovaResult", "procova", "procova_sample_size"]


@dataclass(frozen=True, kw_only=True)
class ProcovaResult:
    """Prognostic-score-adjusted and unadjusted analyses side by side."""

    #: ANCOVA with the prognostic score (and any other covariates).
    adjusted: AnalysisResult
    #: The same comparison without the prognostic score (``covariates`` only, or a pooled t-test).
    unadjusted: AnalysisResult
    #: Squared pooled within-arm correlation of the prognostic score with the outcome.
    r_squared: float
    #: se(adjusted)² / se(unadjusted)², the observed variance reduction factor (≈ 1 - r_squared).
    variance_ratio: float

    def sample_size(self, n: int) -> int:
        """Subjects the adjusted analysis needs for the power ``n`` give unadjusted (n (1 - R²))."""
        return procova_sample_size(n, self.r_squared)


def procova_sample_size(n: int, r_squared: float) -> int:
    """Approximate sample size with prognostic adjustment: ceil(n (1 - R²)) (Schuler et al. 2022)."""
    if n < 1:
        raise TrialDesignError(f"must be >= 1, got {n!r}", field="n", value=n)
    if not 0 <= r_squared < 1:
        raise TrialDesignError(f"must be in [0, 1), got {r_squared!r}", field="r_squared", value=r_squared)
    return math.ceil(round(n * (1 - r_squared), 9))


def procova(
    data: pd.DataFrame, *, outcome: str, prognostic_score: str, treatment: object, control: object,
    arm: str = "arm", covariates: Sequence[str] = (), alpha: float = 0.05,
) -> ProcovaResult:
    """ANCOVA with a prognostic score column, compared with the analysis without it."""
    check_columns(data, [arm, outcome, prognostic_score, *covariates])
    is_t, is_c = arm_values(data, arm, treatment, control)
    sub = data[is_t | is_c]
    y = check_numeric(sub, outcome, what="a continuous outcome")
    m = check_numeric(sub, prognostic_score, what="a prognostic score")
    grp = (sub[arm] == treatment).to_numpy()
    ry = y - np.where(grp, y[grp].mean(), y[~grp].mean())
    rm = m - np.where(grp, m[grp].mean(), m[~grp].mean())
    if not np.any(rm):
        raise TrialDesignError("the prognostic score is constant within arms", field=prognostic_score)
    r2 = float((ry @ rm) ** 2 / ((ry @ ry) * (rm @ rm)))
    adjusted = ancova(data, outcome=outcome, baseline=prognostic_score, treatment=treatment, control=control,
                      arm=arm, covariates=covariates, alpha=alpha)
    if covariates:
        unadjusted = ancova(data, outcome=outcome, baseline=None, covariates=covariates, treatment=treatment,
                            control=control, arm=arm, alpha=alpha)
    else:
        unadjusted = t_test(data, outcome=outcome, treatment=treatment, control=control, arm=arm,
                            equal_var=True, alpha=alpha)
    return ProcovaResult(adjusted=adjusted, unadjusted=unadjusted, r_squared=r2,
                         variance_ratio=(adjusted.se / unadjusted.se) ** 2)
