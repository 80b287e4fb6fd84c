"""Average bioequivalence: crossover simulation, TOST with the 90% CI of the GMR, power and sample size.

Designs (PowerTOST ``known.designs()``, Labes, Schütz & Lang, CRAN package PowerTOST; ``bk`` is the
design constant in se(log GMR) = sigma_w sqrt(bk / n), ``df`` the residual degrees of freedom of the
fixed-effects ANOVA for n subjects in total):

=========  ========================  ====  =========
design     sequences                 bk    df
=========  ========================  ====  =========
2x2        TR, RT                    2     n - 2
2x2x3      TRT, RTR                  1.5   2n - 3
2x2x4      TRTR, RTRT                1     3n - 4
2x3x3      TRR, RTR, RRT (partial)   1.5   2n - 3
=========  ========================  ====  =========

The analysis is the fixed-effects ANOVA of log(metric) with subject (nested in sequence), period
and treatment (EMA 2010 Guideline on the investigation of bioequivalence, CPMP/EWP/QWP/1401/98
Rev. 1, section 4.1.8; the same model for replicate designs is the EMA "method A"). Bioequivalence:
the 100(1 - 2 alpha)% CI of the geometric mean ratio T/R lies within 0.80-1.25 (same guideline).
Analytic power integrates the exact TOST rejection region over the chi distribution of the
residual SD (equivalent to PowerTOST's Owen's Q method; Phillips 1990, J Pharmacokinet Biopharm
18:137-144); ``method="nct"`` is the noncentral-t approximation.

Examples
--------
>>> round(tost_power(20, gmr=0.95, cv=0.2), 4)
0.8347
>>> tost_sample_size(gmr=0.95, cv=0.3).n
40
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qsp_sbml._optional import require
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial._checks import check_alpha, check_columns, check_numeric, normalise_rng
from qsp_sbml.trial.power import PowerResult

__all__ = [
    "DESIGNS",
    "CrossoverDesign",
    "MetricSpec",
    "SampleSizeBE",
    "cv_from_sd",
    "sd_from_cv",
    "simulate_crossover",
    "simulated_tost_power",
    "tost",
    "tost_power",
    "tost_sample_size",
]


@dataclass(frozen=True)
class CrossoverDesign:
    """Sequences of a crossover design and its PowerTOST design constants."""

    name: str
    sequences: tuple[str, ...]
    bk: float
    df_slope: int
    df_offset: int

    def df(self, n: int) -> int:
        """Residual degrees of freedom for ``n`` subjects in total."""
        return self.df_slope * n - self.df_offset


DESIGNS: dict[str, CrossoverDesign] = {
    "2x2": CrossoverDesign("2x2", ("TR", "RT"), 2.0, 1, 2),
    "2x2x3": CrossoverDesign("2x2x3", ("TRT", "RTR"), 1.5, 2, 3),
    "2x2x4": CrossoverDesign("2x2x4", ("TRTR", "RTRT"), 1.0, 3, 4),
    "2x3x3": CrossoverDesign("2x3x3", ("TRR", "RTR", "RRT"), 1.5, 2, 3),
}


def _design(name: str) -> CrossoverDesign:
    if name not in DESIGNS:
        raise TrialDesignError(f"unknown design {name!r}; use one of {', '.join(DESIGNS)}", field="design",
                               value=name)
    return DESIGNS[name]


def sd_from_cv(cv: float) -> float:
    """Log-scale SD from a coefficient of variation: sqrt(ln(1 + CV²))."""
    return math.sqrt(math.log1p(cv * cv))


def cv_from_sd(sd: float) -> float:
    """Coefficient of variation from a log-scale SD: sqrt(exp(sd²) - 1)."""
    return math.sqrt(math.expm1(sd * sd))


@dataclass(frozen=True, kw_only=True)
class MetricSpec:
    """True T/R geometric mean ratio and variability of one PK metric (log-normal)."""

    gmr: float
    #: Within-subject CV (same for T and R).
    cv_within: float
    #: Between-subject CV.
    cv_between: float = 0.3
    #: Geometric mean of the reference.
    reference_gm: float = 100.0

    def __post_init__(self) -> None:
        for name in ("gmr", "cv_within", "reference_gm"):
            if not getattr(self, name) > 0:
                raise TrialDesignError(f"must be > 0, got {getattr(self, name)!r}", field=name)
        if self.cv_between < 0:
            raise TrialDesignError(f"must be >= 0, got {self.cv_between!r}", field="cv_between")


def simulate_crossover(
    n: int, metrics: Mapping[str, MetricSpec], *, design: str = "2x2", seed: int | np.random.Generator | None = None,
    subject_offset: int = 0,
) -> pd.DataFrame:
    """Simulate a balanced crossover: one row per subject and period, one column per metric.

    log y = log(reference_gm) + log(gmr)·[T] + s_i + e_ij with s_i ~ N(0, sd_b²) (between-subject)
    and e_ij ~ N(0, sd_w²) (within-subject); metrics are drawn independently. No period effect.
    """
    des = _design(design)
    if n < 2 * len(des.sequences) or n % len(des.sequences):
        raise TrialDesignError(f"must be a multiple of {len(des.sequences)} sequences and >= "
                               f"{2 * len(des.sequences)}, got {n}", field="n", value=n)
    if not metrics:
        raise TrialDesignError("needs at least one metric", field="metrics")
    rng = normalise_rng(seed)
    per_seq = n // len(des.sequences)
    seqs = np.repeat(np.arange(len(des.sequences)), per_seq)
    periods = len(des.sequences[0])
    rows_subject = np.repeat(np.arange(n), periods)
    rows_period = np.tile(np.arange(1, periods + 1), n)
    rows_seq = np.repeat(seqs, periods)
    rows_trt = np.array([des.sequences[s][p - 1] for s, p in zip(rows_seq, rows_period, strict=True)])
    out = pd.DataFrame({
        "subject": [f"S{subject_offset + i + 1:04d}" for i in rows_subject],
        "sequence": [des.sequences[s] for s in rows_seq],
        "period": rows_period,
        "treatment": rows_trt,
    })
    for name, spec in metrics.items():
        sb, sw = sd_from_cv(spec.cv_between), sd_from_cv(spec.cv_within)
        subj = rng.normal(0.0, sb, n)[rows_subject]
        log_y = math.log(spec.reference_gm) + math.log(spec.gmr) * (rows_trt == "T") + subj \
            + rng.normal(0.0, sw, rows_subject.size)
        out[name] = np.exp(log_y)
    return out


def _anova_matrices(subject: np.ndarray, period: np.ndarray, is_test: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Design of log y ~ subject + period + treatment: (X, pinv(X), [(X'X)^-1]_trt, residual df)."""
    subj_codes, subj_idx = np.unique(subject, return_inverse=True)
    per_codes, per_idx = np.unique(period, return_inverse=True)
    x = np.zeros((subject.size, subj_codes.size + per_codes.size))
    x[np.arange(subject.size), subj_idx] = 1.0
    for j in range(1, per_codes.size):
        x[:, subj_codes.size + j - 1] = per_idx == j
    x[:, -1] = is_test
    df = subject.size - int(np.linalg.matrix_rank(x))
    if df <= 0:
        raise TrialDesignError("no residual degrees of freedom; more subjects or periods are needed", field="subject")
    return x, np.linalg.pinv(x), float(np.linalg.pinv(x.T @ x)[-1, -1]), df


def _anova(log_y: np.ndarray, subject: np.ndarray, period: np.ndarray, is_test: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, int]:
    """Treatment effects, their SEs and the residual df; ``log_y`` may hold replicates in columns."""
    x, x_pinv, c_trt, df = _anova_matrices(subject, period, is_test)
    y = log_y.reshape(log_y.shape[0], -1)
    beta = x_pinv @ y
    resid = y - x @ beta
    mse = (resid * resid).sum(axis=0) / df
    return beta[-1], np.sqrt(mse * c_trt), df


def tost(
    data: pd.DataFrame, *, metrics: Sequence[str] = ("AUC", "Cmax"), subject: str = "subject",
    period: str = "period", treatment: str = "treatment", test: object = "T", reference: object = "R",
    alpha: float = 0.05, limits: tuple[float, float] = (0.80, 1.25), by: str | None = None,
) -> pd.DataFrame:
    """Two one-sided tests for each metric: GMR T/R with its 100(1 - 2 alpha)% CI against ``limits``.

    Returns one row per metric (and per level of ``by``, plus the whole population as ``group="all"``)
    with ``n, gmr, ci_low, ci_high, cv_within, df, p_tost, bioequivalent``.
    """
    check_alpha(alpha)
    lo, hi = limits
    if not 0 < lo < 1 < hi:
        raise TrialDesignError(f"must satisfy 0 < lower < 1 < upper, got {limits!r}", field="limits", value=limits)
    check_columns(data, [subject, period, treatment, *metrics, *([by] if by else [])])
    labels = set(pd.unique(data[treatment]))
    for field, value in (("test", test), ("reference", reference)):
        if value not in labels:
            raise TrialDesignError(f"treatment {value!r} not found in column {treatment!r} (present: "
                                   f"{', '.join(map(repr, sorted(labels, key=str)))})", field=field, value=value)
    groups: list[tuple[object, pd.DataFrame]] = [("all", data)]
    if by:
        groups += list(data.groupby(by, sort=True))
    st = require("scipy.stats", extra="trial")
    rows = []
    for group, sub in groups:
        sub = sub[sub[treatment].isin([test, reference])]
        for metric in metrics:
            y = check_numeric(sub, metric, what="a PK metric")
            if np.any(y <= 0):
                row = int(np.flatnonzero(y <= 0)[0])
                raise TrialDesignError(f"values must be > 0 for the log scale; row {row + 1} holds {y[row]!r}",
                                       field=metric, value=y[row])
            ests, ses, df = _anova(np.log(y), sub[subject].to_numpy(), sub[period].to_numpy(),
                                   (sub[treatment] == test).to_numpy(dtype=float))
            est, se = float(ests[0]), float(ses[0])
            q = float(st.t.ppf(1 - alpha, df))
            p_lo = float(st.t.sf((est - math.log(lo)) / se, df))
            p_hi = float(st.t.cdf((est - math.log(hi)) / se, df))
            ci_low, ci_high = math.exp(est - q * se), math.exp(est + q * se)
            rows.append({"metric": metric, "group": group, "n": int(sub[subject].nunique()), "gmr": math.exp(est),
                         "ci_low": ci_low, "ci_high": ci_high, "se_log": se, "df": df,
                         "p_tost": max(p_lo, p_hi), "bioequivalent": bool(lo <= ci_low and ci_high <= hi)})
    return pd.DataFrame(rows)


def tost_power(
    n: int, *, gmr: float, cv: float, design: str = "2x2", alpha: float = 0.05,
    limits: tuple[float, float] = (0.80, 1.25), method: str = "exact",
) -> float:
    """Analytic power of TOST for ``n`` subjects in total (balanced sequences).

    ``method="exact"`` integrates the rejection region over the distribution of the residual SD
    (as PowerTOST's default Owen's Q method); ``"nct"`` uses the noncentral-t approximation.
    """
    check_alpha(alpha)
    des = _design(design)
    df = des.df(n)
    if df < 1:
        raise TrialDesignError(f"too few subjects ({n}) for design {design}", field="n", value=n)
    st = require("scipy.stats", extra="trial")
    sigma = sd_from_cv(cv)
    se = sigma * math.sqrt(des.bk / n)
    delta = math.log(gmr)
    lo, hi = math.log(limits[0]), math.log(limits[1])
    tq = float(st.t.ppf(1 - alpha, df))
    if method == "nct":
        p = st.nct.cdf(-tq, df, (delta - hi) / se) - st.nct.cdf(tq, df, (delta - lo) / se)
        return float(max(p, 0.0))
    if method != "exact":
        raise TrialDesignError(f"unknown method {method!r}; use 'exact' or 'nct'", field="method", value=method)
    integ = require("scipy.integrate", extra="trial")
    v_max = (hi - lo) / (2 * tq * se)

    def integrand(v: float) -> float:
        inner = st.norm.cdf((hi - delta) / se - tq * v) - st.norm.cdf((lo - delta) / se + tq * v)
        return float(inner * 2 * v * df * st.chi2.pdf(df * v * v, df))

    value, _ = integ.quad(integrand, 0.0, v_max, limit=200, epsabs=1e-12, epsrel=1e-10)
    return float(min(max(value, 0.0), 1.0))


@dataclass(frozen=True, kw_only=True)
class SampleSizeBE:
    """Smallest total sample size reaching the target power and the power it achieves."""

    n: int
    power: float
    target: float
    design: str


def tost_sample_size(
    *, gmr: float, cv: float, design: str = "2x2", target: float = 0.8, alpha: float = 0.05,
    limits: tuple[float, float] = (0.80, 1.25), method: str = "exact", n_max: int = 10_000,
) -> SampleSizeBE:
    """Smallest balanced total ``n`` (a multiple of the number of sequences) with power >= target."""
    if not 0 < target < 1:
        raise TrialDesignError(f"must be in (0, 1), got {target!r}", field="target", value=target)
    des = _design(design)
    step = len(des.sequences)
    n = 2 * step
    while n <= n_max:
        if des.df(n) >= 1:
            p = tost_power(n, gmr=gmr, cv=cv, design=design, alpha=alpha, limits=limits, method=method)
            if p >= target:
                return SampleSizeBE(n=n, power=p, target=target, design=design)
        n += step
    raise TrialDesignError(f"target power {target} not reached with n <= {n_max}", field="target", value=target)


def simulated_tost_power(
    n: int, *, gmr: float, cv_within: float, cv_between: float = 0.3, design: str = "2x2", n_sim: int = 1000,
    alpha: float = 0.05, limits: tuple[float, float] = (0.80, 1.25), seed: int | np.random.Generator | None = None,
) -> PowerResult:
    """Power of TOST by simulating whole crossover studies and analysing each with the ANOVA of :func:`tost`.

    The design matrix is the same for every replicate, so all ``n_sim`` studies are analysed at once.
    """
    check_alpha(alpha)
    if n_sim < 1:
        raise TrialDesignError(f"must be >= 1, got {n_sim!r}", field="n_sim", value=n_sim)
    rng = normalise_rng(seed)
    spec = MetricSpec(gmr=gmr, cv_within=cv_within, cv_between=cv_between)
    layout = simulate_crossover(n, {"AUC": spec}, design=design, seed=0)
    subj = pd.factorize(layout["subject"])[0]
    is_test = (layout["treatment"] == "T").to_numpy(dtype=float)
    sb, sw = sd_from_cv(cv_between), sd_from_cv(cv_within)
    log_y = (math.log(spec.reference_gm) + math.log(gmr) * is_test[:, None]
             + rng.normal(0.0, sb, (n, int(n_sim)))[subj] + rng.normal(0.0, sw, (subj.size, int(n_sim))))
    est, se, df = _anova(log_y, subj, layout["period"].to_numpy(), is_test)
    q = float(require("scipy.stats", extra="trial").t.ppf(1 - alpha, df))
    wins = int(np.sum((est - q * se >= math.log(limits[0])) & (est + q * se <= math.log(limits[1]))))
    p = wins / n_sim
    return PowerResult(power=p, se=math.sqrt(p * (1 - p) / n_sim), n_sim=int(n_sim), n=int(n),
                       seed=seed if isinstance(seed, int) else None)
