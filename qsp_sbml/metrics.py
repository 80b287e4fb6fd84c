"""Non-compartmental analysis (NCA) of concentration-time profiles, and validation metrics (fold errors, GMFE).

Conventions follow Gabrielsson & Weiner, *Pharmacokinetic and
Pharmacodynamic Data Analysis* (5th ed., 2016), ch. 2, and the PKNCA / Phoenix
WinNonlin defaults: AUC by the linear-up/log-down trapezoidal rule; the
terminal rate constant ``lambda_z`` by log-linear regression on the last points
after Cmax, choosing the set of >= 3 points with the best adjusted R^2 (ties
within 1e-4 go to more points); ``AUCinf = AUClast + Clast / lambda_z``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["NcaResult", "auc", "below_solver_noise", "concordance_correlation", "fold_error", "fraction_within", "gmfe",
           "lambda_z", "nca"]

ArrayLike = Sequence[float] | np.ndarray


def _arrays(times: ArrayLike, conc: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=float)
    c = np.asarray(conc, dtype=float)
    if t.shape != c.shape or t.ndim != 1:
        raise ValueError(f"times and concentrations must be 1-d of equal length, got {t.shape} and {c.shape}")
    if t.size < 2:
        raise ValueError("NCA needs at least two samples")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(c))):
        raise ValueError("times and concentrations must be finite")
    if np.any(np.diff(t) <= 0):
        raise ValueError("times must be strictly increasing")
    if np.any(c < 0):
        raise ValueError("concentrations must be >= 0")
    return t, c


def below_solver_noise(conc: ArrayLike, *, relative: float = 1e-8) -> np.ndarray:
    """A simulated concentration profile with the values under ``relative`` x its maximum set to 0.

    Once a drug is eliminated, an ODE solver returns values of the order of its absolute tolerance, of
    either sign (about 1e-11 mg/L for the whole-body PBPK module); taken as data they would give NCA a
    negative concentration or a terminal slope fitted to noise.  Treating them as below a limit of
    quantification, as an assay would, keeps NCA on the profile itself.

    >>> below_solver_noise([0.0, 1.0, 1e-3, 3e-11, -2e-11]).tolist()
    [0.0, 1.0, 0.001, 0.0, 0.0]
    """
    c = np.asarray(conc, dtype=float).copy()
    c[c < relative * (c.max() if c.size else 0.0)] = 0.0
    return c


def auc(times: ArrayLike, conc: ArrayLike, *, method: str = "linear-up/log-down") -> float:
    """Area under the curve from the first to the last sample.

    ``method`` is ``"linear-up/log-down"`` (log trapezoid where the
    concentration falls and both ends are positive) or ``"linear"``.

    Examples
    --------
    >>> t = np.linspace(0, 50, 2001)
    >>> round(auc(t, 10 * np.exp(-0.2 * t)), 4)  # exact: 50 * (1 - e^-10)
    49.9977
    """
    t, c = _arrays(times, conc)
    if method not in ("linear-up/log-down", "linear"):
        raise ValueError(f"unknown AUC method {method!r}")
    dt = np.diff(t)
    c1, c2 = c[:-1], c[1:]
    linear = dt * (c1 + c2) / 2.0
    if method == "linear":
        return float(linear.sum())
    down = (c2 < c1) & (c2 > 0) & (c1 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log = dt * (c1 - c2) / np.log(c1 / c2)
    return float(np.where(down, log, linear).sum())


def lambda_z(
    times: ArrayLike, conc: ArrayLike, *, points: int | None = None
) -> tuple[float, float, int]:
    """Terminal rate constant, adjusted R^2 and number of points used.

    Uses points after Cmax with positive concentrations; ``points`` fixes how
    many of the last ones to use.  Returns NaNs when fewer than 3 points qualify.

    Examples
    --------
    >>> t = np.array([0.5, 1, 2, 4, 8, 12, 24.0])
    >>> lz, r2, n = lambda_z(t, 100 * np.exp(-0.1 * t))
    >>> round(lz, 6), n
    (0.1, 6)
    """
    t, c = _arrays(times, conc)
    imax = int(np.argmax(c))
    tt, cc = t[imax + 1 :], c[imax + 1 :]
    keep = cc > 0
    tt, cc = tt[keep], cc[keep]
    candidates = [points] if points is not None else list(range(3, tt.size + 1))
    best: tuple[float, float, int] = (math.nan, math.nan, 0)
    for n in candidates:
        if n < 3 or n > tt.size:
            continue
        x, y = tt[-n:], np.log(cc[-n:])
        slope, intercept = np.polyfit(x, y, 1)
        resid = y - (slope * x + intercept)
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else 1.0
        r2_adj = 1.0 - (1.0 - r2) * (n - 1) / (n - 2)
        if slope >= 0:
            continue
        if math.isnan(best[1]) or r2_adj > best[1] + 1e-4 or (abs(r2_adj - best[1]) <= 1e-4 and n > best[2]):
            best = (-float(slope), r2_adj, n)
    return best


@dataclass(frozen=True)
class NcaResult:
    """NCA parameters of one profile (units: those of the inputs)."""

    #: Highest observed concentration.
    cmax: float
    #: Time of ``cmax`` (first occurrence).
    tmax: float
    #: Last positive concentration and its time.
    clast: float
    tlast: float
    #: AUC from the first sample to ``tlast``.
    auc_last: float
    #: AUC extrapolated to infinity (NaN without a terminal phase).
    auc_inf: float
    #: Terminal rate constant, its adjusted R^2 and point count.
    lambda_z: float
    r2_adj: float
    n_lambda_z: int
    #: Terminal half-life ln 2 / lambda_z.
    t_half: float
    #: Minimum concentration.
    cmin: float
    #: Concentration at the last sample (the trough when the profile ends just before a dose).
    ctrough: float

    def to_dict(self) -> dict[str, float]:
        """Plain mapping (JSON-ready)."""
        return {k: float(v) for k, v in asdict(self).items()}


def nca(
    times: ArrayLike,
    conc: ArrayLike,
    *,
    interval: tuple[float, float] | None = None,
    lambda_z_points: int | None = None,
    method: str = "linear-up/log-down",
) -> NcaResult:
    """NCA of one profile; ``interval=(t0, t0 + tau)`` restricts it to a dosing interval.

    Within an interval ``auc_last`` is AUC_tau (the interval ends must be
    sampled) and ``ctrough`` is the concentration at its end.

    Examples
    --------
    >>> t = np.linspace(0, 48, 481)
    >>> r = nca(t, 10 * np.exp(-np.log(2) / 6 * t))
    >>> round(r.t_half, 6), round(r.auc_inf, 3)  # exact: 6 and 10 * 6 / ln 2
    (6.0, 86.562)
    """
    t, c = _arrays(times, conc)
    if interval is not None:
        a, b = interval
        if not (np.any(np.isclose(t, a)) and np.any(np.isclose(t, b))):
            raise ValueError(f"the interval ends {a} and {b} must be sample times")
        keep = (t >= a - 1e-12) & (t <= b + 1e-12)
        t, c = t[keep], c[keep]
    imax = int(np.argmax(c))
    positive = np.nonzero(c > 0)[0]
    ilast = int(positive[-1]) if positive.size else t.size - 1
    auc_last = auc(t[: ilast + 1], c[: ilast + 1], method=method) if ilast >= 1 else 0.0
    lz, r2, n = lambda_z(t, c, points=lambda_z_points)
    auc_inf = auc_last + c[ilast] / lz if n else math.nan
    return NcaResult(
        cmax=float(c[imax]),
        tmax=float(t[imax]),
        clast=float(c[ilast]),
        tlast=float(t[ilast]),
        auc_last=auc_last,
        auc_inf=float(auc_inf),
        lambda_z=lz,
        r2_adj=r2,
        n_lambda_z=n,
        t_half=math.log(2) / lz if n else math.nan,
        cmin=float(c.min()),
        ctrough=float(c[-1]),
    )


# -- validation metrics -------------------------------------------------
def _pairs(predicted: ArrayLike, observed: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(predicted, dtype=float).ravel()
    o = np.asarray(observed, dtype=float).ravel()
    if p.shape != o.shape or p.size == 0:
        raise ValueError(f"predicted and observed need the same, non-zero length (got {p.size} and {o.size})")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(o)) and np.all(p > 0) and np.all(o > 0)):
        raise ValueError("fold errors need finite, positive predicted and observed values")
    return p, o


def fold_error(predicted: ArrayLike, observed: ArrayLike) -> np.ndarray:
    """Fold error ``predicted / observed`` per pair.

    >>> fold_error([2.0, 1.0], [1.0, 4.0]).tolist()
    [2.0, 0.25]
    """
    p, o = _pairs(predicted, observed)
    return p / o


def gmfe(predicted: ArrayLike, observed: ArrayLike) -> float:
    """Geometric mean fold error, ``10 ** mean(|log10(pred / obs)|)`` (>= 1; 1 is perfect).

    >>> round(gmfe([2.0, 0.5], [1.0, 1.0]), 6)
    2.0
    """
    return float(10 ** np.mean(np.abs(np.log10(fold_error(predicted, observed)))))


def fraction_within(predicted: ArrayLike, observed: ArrayLike, *, fold: float = 2.0) -> float:
    """Fraction of pairs with ``1/fold <= pred/obs <= fold``.

    >>> fraction_within([1.0, 3.0], [1.0, 1.0])
    0.5
    """
    r = fold_error(predicted, observed)
    return float(np.mean((r >= 1 / fold) & (r <= fold)))


def concordance_correlation(observed: ArrayLike, simulated: ArrayLike) -> float:
    """Lin's concordance correlation coefficient (population moments); NaN for fewer than two pairs.

    ``2 cov(x, y) / (var x + var y + (mean x - mean y)^2)`` (Lin 1989, Biometrics 45:255): 1 when every pair
    lies on the identity line, lower for scatter and for a shift or scale difference; NaN when both sets are
    constant.

    >>> concordance_correlation([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
    >>> round(concordance_correlation([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]), 4)
    0.5714
    """
    x = np.asarray(observed, dtype=float).ravel()
    y = np.asarray(simulated, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"observed and simulated need the same length (got {x.size} and {y.size})")
    if len(x) < 2:
        return math.nan
    mx, my = x.mean(), y.mean()
    cov = float(np.mean((x - mx) * (y - my)))
    den = float(x.var() + y.var() + (mx - my) ** 2)
    return 2 * cov / den if den > 0 else math.nan
