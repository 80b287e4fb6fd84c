"""Digital twins: PROCOVA prognostic-score adjustment (part a) and the N-of-1 twin (part b).

Part (a), covariate adjustment in the PROCOVA manner (prognostic score ANCOVA):

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from qsp_sbml._optional import require
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial._checks import arm_values, check_columns, check_numeric, normalise_rng
from qsp_sbml.trial.analysis import AnalysisResult, ancova, t_test

__all__ = [
    "ProcovaResult",
    "RegimenRank",
    "ResidualError",
    "TwinPosterior",
    "TwinPrior",
    "fit_twin",
    "neg_log_posterior",
    "procova",
    "procova_sample_size",
    "rank_regimens",
]


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


# ---------------------------------------------------------------------------------------------------
# Part (b): the N-of-1 twin — individual parameters from sparse observations, regimens ranked.
# ---------------------------------------------------------------------------------------------------
#
# Model: theta = theta_pop * exp(eta), eta ~ N(0, Omega) (log-normal inter-individual variability as a
# Gaussian prior on the log parameters, as in NONMEM's POSTHOC/MAP Bayesian estimation: Sheiner & Beal
# 1982, "Bayesian individualization of pharmacokinetics", J Pharm Sci 71:1344); observations
# y_j = f_j(theta) + e_j with e_j ~ N(0, a_j^2 + (b_j f_j)^2) (combined additive/proportional error).
# The MAP estimate minimises the negative log posterior (the objective below) with a quasi-Newton
# optimiser (scipy L-BFGS-B from several starts); the Laplace approximation is the Gaussian at the MAP
# with the inverse Hessian (central differences) as covariance (Tierney & Kadane 1986, JASA 81:82);
# sampling-importance-resampling (Rubin 1988, Bayesian Statistics 3:395) corrects it towards the exact
# posterior and its effective sample size tells how good the Gaussian was.


@dataclass(frozen=True, kw_only=True)
class TwinPrior:
    """Population prior of an individual's parameters: typical values and the covariance of their logs."""

    names: tuple[str, ...]
    typical: np.ndarray
    omega: np.ndarray

    def __post_init__(self) -> None:
        p = len(self.names)
        typ = np.asarray(self.typical, dtype=float)
        om = np.asarray(self.omega, dtype=float)
        if p == 0:
            raise TrialDesignError("needs at least one parameter", field="parameters")
        if typ.shape != (p,) or not np.all(np.isfinite(typ)) or np.any(typ <= 0):
            raise TrialDesignError(f"typical values must be {p} finite numbers > 0, got {typ.tolist()}",
                                   field="parameters")
        if om.shape != (p, p) or not np.allclose(om, om.T) or np.any(np.linalg.eigvalsh(om) <= 0):
            raise TrialDesignError("omega must be a symmetric positive-definite matrix of log-parameter "
                                   "variances", field="parameters")
        object.__setattr__(self, "typical", typ)
        object.__setattr__(self, "omega", om)

    @classmethod
    def from_cv(cls, typical: Mapping[str, float], cv: Mapping[str, float]) -> TwinPrior:
        """Independent log-normal IIV: omega_k² = ln(1 + CV_k²) (CV of the log-normal distribution)."""
        names = tuple(typical)
        missing = [n for n in names if n not in cv]
        if missing:
            raise TrialDesignError(f"no CV given for {missing[0]!r}", field=f"parameters.{missing[0]}.cv")
        for n in names:
            if not cv[n] > 0:
                raise TrialDesignError(f"must be > 0, got {cv[n]!r}", field=f"parameters.{n}.cv", value=cv[n])
        return cls(names=names, typical=np.array([typical[n] for n in names], dtype=float),
                   omega=np.diag([math.log1p(cv[n] ** 2) for n in names]))

    def values(self, eta: np.ndarray) -> np.ndarray:
        """Parameter values for random effects ``eta`` (one row per draw or a single vector)."""
        return self.typical * np.exp(eta)


@dataclass(frozen=True, kw_only=True)
class ResidualError:
    """Combined error model: variance a² + (b f)² per observation (``additive`` a, ``proportional`` b).

    Each of ``additive`` and ``proportional`` is one number or one per observation.
    """

    additive: float | np.ndarray = 0.0
    proportional: float | np.ndarray = 0.0

    def __post_init__(self) -> None:
        for name in ("additive", "proportional"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if np.any(~np.isfinite(arr)) or np.any(arr < 0):
                raise TrialDesignError(f"must be finite and >= 0, got {arr.tolist()}", field=f"error.{name}")
            object.__setattr__(self, name, arr)

    def variance(self, pred: np.ndarray) -> np.ndarray:
        """Residual variance at predictions ``pred`` (any leading shape, last axis the observations)."""
        return np.asarray(self.additive) ** 2 + (np.asarray(self.proportional) * pred) ** 2


@dataclass(frozen=True)
class TwinPosterior:
    """MAP estimate, Laplace approximation and importance-resampled posterior of one individual."""

    prior: TwinPrior
    #: MAP random effects (log deviations from the typical values).
    eta_map: np.ndarray
    #: Laplace covariance of eta (inverse Hessian of the objective at the MAP).
    cov: np.ndarray
    #: Posterior sample of eta (rows), resampled by importance weights from the Laplace proposal.
    sample: np.ndarray
    #: Effective sample size of the importance weights (Kish) and the number of proposals.
    ess: float
    n_proposals: int
    #: Objective (negative log posterior up to a constant) at the MAP, and its evaluations by the optimiser.
    objective: float
    n_evaluations: int
    #: False when the Hessian at the MAP was not positive definite and the prior covariance was used instead
    #: (``cov`` is then the prior's; the importance weights still target the exact posterior).
    laplace_ok: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names."""
        return self.prior.names

    @property
    def theta_map(self) -> np.ndarray:
        """MAP parameter values."""
        return self.prior.values(self.eta_map)

    @property
    def theta_sample(self) -> np.ndarray:
        """Posterior sample of the parameter values (rows)."""
        return self.prior.values(self.sample)

    def interval(self, level: float = 0.9) -> dict[str, tuple[float, float]]:
        """Equal-tailed credible interval of each parameter value from the posterior sample."""
        q = (1 - level) / 2
        lo, hi = np.quantile(self.theta_sample, [q, 1 - q], axis=0)
        return {n: (float(a), float(b)) for n, a, b in zip(self.names, lo, hi, strict=True)}

    def summary(self, level: float = 0.9) -> dict[str, dict[str, float]]:
        """Per parameter: typical, MAP, posterior median and credible interval, and the Laplace interval (JSON-able).

        The Laplace interval (MAP x exp(+/- z sd_log)) next to the importance-resampled one shows how far the
        Gaussian approximation is from the posterior.
        """
        med = np.median(self.theta_sample, axis=0)
        ci = self.interval(level)
        z = float(require("scipy.stats", extra="trial").norm.ppf(0.5 + level / 2))
        sd = np.sqrt(np.diag(self.cov))
        return {n: {"typical": float(t), "map": float(m), "median": float(md), "ci_low": ci[n][0],
                    "ci_high": ci[n][1], "laplace_sd_log": float(sd[k]),
                    "laplace_ci_low": float(m * math.exp(-z * sd[k])),
                    "laplace_ci_high": float(m * math.exp(z * sd[k]))}
                for k, (n, t, m, md) in enumerate(zip(self.names, self.prior.typical, self.theta_map, med,
                                                      strict=True))}


#: Predictions at the observations for parameter values: one vector -> one vector, or rows -> rows.
type Predictor = Callable[[np.ndarray], np.ndarray]


def _check_observations(y: np.ndarray, error: ResidualError) -> None:
    if y.ndim != 1 or y.size == 0 or not np.all(np.isfinite(y)):
        raise TrialDesignError("observations must be a non-empty vector of finite numbers", field="observations")
    try:
        a = np.broadcast_to(error.additive, y.shape)
        b = np.broadcast_to(error.proportional, y.shape)
    except ValueError:
        raise TrialDesignError(f"error terms must be one number or one per observation ({y.size})",
                               field="error") from None
    both = (a == 0) & (b == 0)
    if np.any(both):
        raise TrialDesignError(f"observation {int(np.flatnonzero(both)[0]) + 1} has neither additive nor "
                               "proportional error", field="error")


def neg_log_posterior(eta: np.ndarray, y: np.ndarray, pred: np.ndarray, prior: TwinPrior,
                      error: ResidualError) -> np.ndarray:
    """Negative log posterior density of ``eta`` (rows allowed) up to a constant.

    0.5 eta' Omega^-1 eta + sum_j [0.5 (y_j - f_j)² / v_j + 0.5 ln v_j], v_j = a_j² + (b_j f_j)².
    """
    eta2 = np.atleast_2d(eta)
    pred2 = np.atleast_2d(pred)
    prec = np.linalg.inv(prior.omega)
    v = error.variance(pred2)
    out = 0.5 * np.einsum("ni,ij,nj->n", eta2, prec, eta2) + 0.5 * np.sum((y - pred2) ** 2 / v + np.log(v), axis=1)
    out = np.where(np.all(np.isfinite(pred2), axis=1), out, np.inf)
    return out if np.ndim(eta) == 2 else out[0]


def _hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, step: float = 1e-3) -> np.ndarray:
    """Central-difference Hessian (steps ``step`` on the log-parameter scale)."""
    p = x.size
    h = np.zeros((p, p))
    f0 = fun(x)
    e = np.eye(p) * step
    for i in range(p):
        fp, fm = fun(x + e[i]), fun(x - e[i])
        h[i, i] = (fp - 2 * f0 + fm) / step ** 2
        for j in range(i):
            fpp = fun(x + e[i] + e[j])
            fpm = fun(x + e[i] - e[j])
            fmp = fun(x - e[i] + e[j])
            fmm = fun(x - e[i] - e[j])
            h[i, j] = h[j, i] = (fpp - fpm - fmp + fmm) / (4 * step ** 2)
    return h


def fit_twin(
    predict: Predictor, y: Sequence[float] | np.ndarray, prior: TwinPrior, error: ResidualError, *,
    predict_many: Predictor | None = None, n_proposals: int = 1000, n_sample: int | None = None,
    seed: int | np.random.Generator | None = None, starts: int = 3, proposal_scale: float = 1.2,
) -> TwinPosterior:
    """MAP estimate, Laplace approximation and importance-resampled posterior sample of one individual.

    Parameters
    ----------
    predict
        Parameter values (vector in ``prior.names`` order) -> predictions at the observations.
    y
        The observations.
    prior, error
        Population prior and residual error model.
    predict_many
        Rows of parameter values -> rows of predictions (vectorised or parallel); default loops ``predict``.
    n_proposals
        Draws from the Laplace proposal (a multivariate t with 5 degrees of freedom scaled by
        ``proposal_scale``, heavier-tailed than the target so that the weights stay bounded).
    n_sample
        Size of the resampled posterior sample (default ``n_proposals // 2``).
    seed
        Seed of the proposals, the resampling and the optimiser's extra starts.
    starts
        Optimiser starts: the typical individual (eta = 0) plus ``starts - 1`` draws from the prior.
    """
    opt = require("scipy.optimize", extra="trial")
    st = require("scipy.stats", extra="trial")
    yv = np.asarray(y, dtype=float)
    _check_observations(yv, error)
    if n_proposals < 10:
        raise TrialDesignError(f"must be >= 10, got {n_proposals}", field="n_proposals", value=n_proposals)
    rng = normalise_rng(seed)
    p = len(prior.names)
    evals = 0

    def obj(eta: np.ndarray) -> float:
        nonlocal evals
        evals += 1
        pred = np.asarray(predict(prior.values(eta)), dtype=float)
        if pred.shape != yv.shape:
            raise TrialDesignError(f"the predictor returned {pred.shape} values for {yv.size} observations",
                                   field="observations")
        return float(neg_log_posterior(eta, yv, pred, prior, error))

    chol = np.linalg.cholesky(prior.omega)
    x0s = [np.zeros(p)] + [chol @ rng.standard_normal(p) for _ in range(max(starts, 1) - 1)]
    fits = [opt.minimize(obj, x0, method="L-BFGS-B", options={"maxiter": 500, "gtol": 1e-7}) for x0 in x0s]
    best = min(fits, key=lambda r: float(r.fun))
    eta_map = np.asarray(best.x, dtype=float)
    hess = _hessian(obj, eta_map)
    laplace_ok = True
    try:
        cov = np.linalg.inv(hess)
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        # not positive definite at the optimum found: the prior covariance becomes the proposal (flagged)
        cov, laplace_ok = prior.omega.copy(), False
    # importance sampling from a multivariate t proposal centred at the MAP
    df = 5.0
    scale = cov * proposal_scale ** 2
    lc = np.linalg.cholesky(scale)
    z = rng.standard_normal((n_proposals, p))
    w_chi = rng.chisquare(df, n_proposals) / df
    draws = eta_map + (z @ lc.T) / np.sqrt(w_chi)[:, None]
    preds = np.asarray((predict_many or (lambda th: np.array([predict(r) for r in th])))(prior.values(draws)),
                       dtype=float)
    log_target = -neg_log_posterior(draws, yv, preds, prior, error)
    log_q = st.multivariate_t.logpdf(draws, loc=eta_map, shape=scale, df=df)
    log_w = log_target - np.atleast_1d(log_q)
    log_w = np.where(np.isfinite(log_w), log_w, -np.inf)
    w = np.exp(log_w - np.max(log_w))
    w /= w.sum()
    ess = float(1.0 / np.sum(w ** 2))
    m = int(n_sample or n_proposals // 2)
    idx = rng.choice(n_proposals, size=m, replace=True, p=w)
    return TwinPosterior(prior=prior, eta_map=eta_map, cov=cov, sample=draws[idx], ess=ess, n_proposals=n_proposals,
                         objective=float(best.fun), n_evaluations=evals, laplace_ok=laplace_ok)


@dataclass(frozen=True, kw_only=True)
class RegimenRank:
    """Predicted target attainment of one candidate regimen over the posterior sample."""

    regimen: str
    #: Posterior probability that the target is met, and its 95% Monte Carlo interval (Jeffreys, with
    #: the number of draws as n).
    probability: float
    prob_low: float
    prob_high: float
    #: Posterior median and equal-tailed credible interval of the target metric.
    metric_median: float
    metric_low: float
    metric_high: float
    rank: int = 0


def rank_regimens(
    metrics: Mapping[str, np.ndarray], *, threshold: float, direction: str = "above", level: float = 0.9,
) -> list[RegimenRank]:
    """Rank regimens by the posterior probability that the metric meets the target.

    ``metrics`` maps a regimen label to the metric predicted for each posterior draw; the target is met
    when the metric is ``>= threshold`` (``direction="above"``) or ``<= threshold`` (``"below"``). Ties
    keep the order of ``metrics``.
    """
    if direction not in ("above", "below"):
        raise TrialDesignError(f"must be 'above' or 'below', got {direction!r}", field="target.direction",
                               value=direction)
    if not metrics:
        raise TrialDesignError("needs at least one regimen", field="regimens")
    st = require("scipy.stats", extra="trial")
    q = (1 - level) / 2
    out = []
    for label, values in metrics.items():
        v = np.asarray(values, dtype=float)
        if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
            raise TrialDesignError("metric values must be finite (a failed simulation?)", field=f"regimens.{label}")
        met = int(np.sum(v >= threshold)) if direction == "above" else int(np.sum(v <= threshold))
        n = v.size
        lo = 0.0 if met == 0 else float(st.beta.ppf(0.025, met + 0.5, n - met + 0.5))
        hi = 1.0 if met == n else float(st.beta.ppf(0.975, met + 0.5, n - met + 0.5))
        a, b = np.quantile(v, [q, 1 - q])
        out.append(RegimenRank(regimen=label, probability=met / n, prob_low=lo, prob_high=hi,
                               metric_median=float(np.median(v)), metric_low=float(a), metric_high=float(b)))
    order = sorted(range(len(out)), key=lambda k: -out[k].probability)
    return [replace(out[k], rank=r + 1) for r, k in enumerate(order)]
