"""Group-sequential designs with Lan-DeMets alpha spending and non-binding beta-spending futility.

Boundaries on the standardised Z scale are found by the recursive numerical integration of
Armitage, McPherson & Rowe (1969) in the form of Jennison & Turnbull (2000, *Group Sequential
Methods with Applications to Clinical Trials*, ch. 19): grid of 6r-1 points per look (r = 18 by
default), Simpson's rule on the grid plus midpoints, and the canonical joint distribution
Z_k sqrt(t_k) = Z_{k-1} sqrt(t_{k-1}) + N(delta (t_k - t_{k-1}), t_k - t_{k-1}) with
corr(Z_i, Z_j) = sqrt(t_i / t_j); ``delta`` is the drift, the expected Z at information 1.

Spending functions (``alpha`` is the one-sided level of one boundary; a symmetric two-sided design
spends ``alpha / 2`` per side):

- ``"obrien_fleming"``: Lan & DeMets (1983) O'Brien-Fleming type, 2 - 2 Phi(z_{1-alpha/2} / sqrt(t));
- ``"pocock"``: Lan & DeMets (1983) Pocock type, alpha ln(1 + (e - 1) t);
- ``"hsd"``: Hwang, Shih & DeCani (1990), alpha (1 - exp(-gamma t)) / (1 - exp(-gamma)), ``param`` = gamma;
- ``"power"``: Kim & DeMets (1987), alpha t^rho, ``param`` = rho;
- a sequence of cumulative amounts, one per look (the last one spends the whole level at t = 1).

These are the definitions of R gsDesign ``sfLDOF``/``sfLDPocock``/``sfHSD``/``sfPower`` and rpact
``asOF``/``asP``/``asHSD``/``asKD``.

Examples
--------
>>> d = group_sequential_design([0.5, 1.0], alpha=0.025, spending="obrien_fleming")
>>> [round(b, 3) for b in d.efficacy]
[2.963, 1.969]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qsp_sbml._optional import require
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial._checks import check_alpha, normalise_rng

__all__ = [
    "GroupSequentialDesign",
    "OperatingCharacteristics",
    "crossing_probabilities",
    "group_sequential_design",
    "simulate_group_sequential",
    "spending",
]

SPENDING_NAMES = ("obrien_fleming", "pocock", "hsd", "power")
_INF = 40.0  # |z| beyond which a boundary is treated as infinite


def spending(kind: str, t: Sequence[float] | np.ndarray, alpha: float, param: float | None = None) -> np.ndarray:
    """Cumulative error spent at information fractions ``t`` by a named spending function.

    Examples
    --------
    >>> round(float(spending("pocock", [1.0], 0.025)[0]), 6)
    0.025
    """
    tt = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    st = require("scipy.stats", extra="trial")
    if kind == "obrien_fleming":
        with np.errstate(divide="ignore"):
            out = 2 - 2 * st.norm.cdf(st.norm.ppf(1 - alpha / 2) / np.sqrt(tt))
        return np.where(tt > 0, out, 0.0)
    if kind == "pocock":
        return np.asarray(alpha * np.log(1 + (math.e - 1) * tt))
    if kind == "hsd":
        gamma = -4.0 if param is None else float(param)
        if gamma == 0:
            return np.asarray(alpha * tt)
        return np.asarray(alpha * (1 - np.exp(-gamma * tt)) / (1 - math.exp(-gamma)))
    if kind == "power":
        rho = 1.0 if param is None else float(param)
        if rho <= 0:
            raise TrialDesignError(f"rho must be > 0, got {rho}", field="param", value=param)
        return np.asarray(alpha * tt**rho)
    raise TrialDesignError(f"unknown spending function {kind!r}; use one of {', '.join(SPENDING_NAMES)} "
                           "or a sequence of cumulative amounts", field="spending", value=kind)


def _cumulative(spec: str | Sequence[float], t: np.ndarray, total: float, param: float | None,
                field: str) -> np.ndarray:
    if isinstance(spec, str):
        return spending(spec, t, total, param)
    cum = np.asarray(spec, dtype=float)
    if cum.shape != t.shape:
        raise TrialDesignError(f"needs one cumulative amount per look ({t.size}), got {cum.size}", field=field)
    if np.any(np.diff(cum) < 0) or cum[0] < 0:
        raise TrialDesignError(f"cumulative amounts must be >= 0 and non-decreasing, got {list(cum)}", field=field)
    if abs(cum[-1] - total) > 1e-12 and t[-1] == 1.0:
        raise TrialDesignError(f"cumulative amounts must end at {total} at t = 1, got {cum[-1]}", field=field)
    return cum


# --- Jennison & Turnbull (2000) ch. 19 numerical integration -------------------------------------------


def _grid(mean: float, a: float, b: float, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid points and Simpson weights on (a, b) around ``mean`` (J&T 2000, section 19.2.1)."""
    i = np.arange(1, 6 * r)
    x = np.where(i < r, mean - 3 - 4 * np.log(r / i),
                 np.where(i <= 5 * r, mean - 3 + 3 * (i - r) / (2 * r), mean + 3 + 4 * np.log(r / (6 * r - i))))
    inside = x[(x > a) & (x < b)]
    lo = [a] if a > x[0] else []
    hi = [b] if b < x[-1] else []
    pts = np.concatenate([lo, inside, hi])
    if pts.size < 2:
        pts = np.array([max(a, x[0]), min(b, x[-1])])
    mids = (pts[:-1] + pts[1:]) / 2
    z = np.empty(2 * pts.size - 1)
    z[0::2], z[1::2] = pts, mids
    w = np.zeros_like(z)
    h = np.diff(pts)
    w[0:-1:2] += h / 6
    w[2::2] += h / 6
    w[1::2] = 4 * h / 6
    return z, w


class _Recursion:
    """Density of Z_k on the continuation region, look by look."""

    def __init__(self, t: np.ndarray, drift: float, r: int) -> None:
        self.t, self.drift, self.r = t, drift, r
        self.st = require("scipy.stats", extra="trial")
        self.k = 0
        self.z: np.ndarray | None = None
        self.wh: np.ndarray | None = None  # weight * density at the previous look

    def _state(self) -> tuple[np.ndarray, np.ndarray]:
        if self.z is None or self.wh is None:
            raise RuntimeError("no density before the first look")
        return self.z, self.wh

    def _moments(self) -> tuple[float, float, float]:
        tk = self.t[self.k]
        tp = self.t[self.k - 1] if self.k else 0.0
        return tk, tp, tk - tp

    def upper(self, b: float) -> float:
        """P(Z_k >= b and the trial continued to look k)."""
        tk, tp, dt = self._moments()
        if self.k == 0:
            return float(self.st.norm.sf(b - self.drift * math.sqrt(tk)))
        z, wh = self._state()
        x = (b * math.sqrt(tk) - z * math.sqrt(tp) - self.drift * dt) / math.sqrt(dt)
        return float(wh @ self.st.norm.sf(x))

    def lower(self, a: float) -> float:
        """P(Z_k <= a and the trial continued to look k)."""
        tk, tp, dt = self._moments()
        if self.k == 0:
            return float(self.st.norm.cdf(a - self.drift * math.sqrt(tk)))
        z, wh = self._state()
        x = (a * math.sqrt(tk) - z * math.sqrt(tp) - self.drift * dt) / math.sqrt(dt)
        return float(wh @ self.st.norm.cdf(x))

    def advance(self, a: float, b: float) -> None:
        """Move to the next look, continuing on (a, b) at the current one."""
        tk, tp, dt = self._moments()
        mean = self.drift * math.sqrt(tk)
        z, w = _grid(mean, a, b, self.r)
        if self.k == 0:
            dens = self.st.norm.pdf(z - mean)
        else:
            zp, wh = self._state()
            arg = (z[:, None] * math.sqrt(tk) - zp[None, :] * math.sqrt(tp) - self.drift * dt) / math.sqrt(dt)
            dens = (self.st.norm.pdf(arg) @ wh) * math.sqrt(tk / dt)
        self.z, self.wh = z, w * dens
        self.k += 1


def _solve(fun: object, lo: float, hi: float) -> float:
    opt = require("scipy.optimize", extra="trial")
    return float(opt.brentq(fun, lo, hi, xtol=1e-10))


def _efficacy_bounds(t: np.ndarray, increments: np.ndarray, sides: int, r: int) -> np.ndarray:
    rec = _Recursion(t, 0.0, r)
    bounds = np.empty(t.size)
    for k, inc in enumerate(increments):
        if inc <= 1e-15:
            b = _INF
        else:
            def excess(b: float, inc: float = inc) -> float:
                out = rec.upper(b) + (rec.lower(-b) if sides == 2 else 0.0)
                return out - inc

            b = _solve(excess, -_INF if sides == 1 else 0.0, _INF)
        bounds[k] = b
        if k < t.size - 1:
            rec.advance(-b if sides == 2 else -_INF, b)
    return bounds


def _futility_bounds(t: np.ndarray, eff: np.ndarray, beta_inc: np.ndarray, drift: float, r: int) -> np.ndarray:
    """Lower bounds spending ``beta_inc`` under ``drift`` (efficacy bounds fixed); last one = last efficacy."""
    rec = _Recursion(t, drift, r)
    fut = np.empty(t.size)
    for k in range(t.size):
        if k == t.size - 1:
            fut[k] = eff[k]
            break
        inc = beta_inc[k]
        if inc <= 1e-15:
            a = -_INF
        elif rec.lower(eff[k]) <= inc:
            a = eff[k]
        else:
            a = _solve(lambda a, inc=inc: rec.lower(a) - inc, -_INF, eff[k])
        fut[k] = a
        rec.advance(a, eff[k])
    return fut


@dataclass(frozen=True, kw_only=True)
class GroupSequentialDesign:
    """Boundaries of a group-sequential design on the Z scale (one entry per look)."""

    #: Information fractions of the looks.
    information: tuple[float, ...]
    #: One-sided level per boundary (``alpha`` for one-sided, ``alpha / 2`` per side for two-sided).
    alpha: float
    sides: int
    #: Efficacy (upper) boundaries; a two-sided design also rejects for Z <= -efficacy.
    efficacy: tuple[float, ...]
    #: Cumulative type I error spent (both sides together for a two-sided design).
    alpha_spent: tuple[float, ...]
    #: Non-binding futility (lower) boundaries, when a beta spending was given.
    futility: tuple[float, ...] | None = None
    beta: float | None = None
    beta_spent: tuple[float, ...] | None = None
    #: Drift (expected Z at information 1) giving power 1 - beta with the futility bounds applied.
    drift: float | None = None

    def to_frame(self) -> pd.DataFrame:
        """Boundaries as a table, one row per look."""
        out = pd.DataFrame({"look": range(1, len(self.information) + 1), "information": self.information,
                            "efficacy": self.efficacy, "alpha_spent": self.alpha_spent})
        if self.futility is not None:
            out["futility"] = self.futility
            out["beta_spent"] = self.beta_spent
        return out

    def inflation_factor(self) -> float:
        """Maximum information relative to the fixed design with the same alpha and power."""
        if self.drift is None or self.beta is None:
            raise TrialDesignError("the design has no beta spending; inflation factor undefined", field="beta")
        st = require("scipy.stats", extra="trial")
        fixed = st.norm.ppf(1 - self.alpha) + st.norm.ppf(1 - self.beta)
        return float((self.drift / fixed) ** 2)


def group_sequential_design(
    information: Sequence[float], *, alpha: float = 0.025, sides: int = 1,
    spending: str | Sequence[float] = "obrien_fleming", spending_param: float | None = None,
    beta: float | None = None, beta_spending: str | Sequence[float] | None = None,
    beta_param: float | None = None, r: int = 18,
) -> GroupSequentialDesign:
    """Efficacy boundaries by Lan-DeMets alpha spending, optionally non-binding beta-spending futility.

    Parameters
    ----------
    information
        Information fractions of the looks, increasing in (0, 1]; the last is usually 1.
    alpha
        One-sided level (``sides=1``) or total two-sided level (``sides=2``, symmetric, alpha/2 per side).
    spending, spending_param
        Alpha-spending function (see the module docstring) or cumulative amounts per look.
    beta, beta_spending, beta_param
        Type II error and its spending function for futility bounds (one-sided designs only). The
        futility bounds are non-binding: the efficacy bounds ignore them; the drift is solved so that
        power is 1 - beta with futility stopping applied (as rpact and gsDesign do).
    r
        Grid density of the numerical integration (J&T 2000 recommend r = 16-32).
    """
    t = np.asarray(information, dtype=float)
    if t.ndim != 1 or t.size < 1 or np.any(t <= 0) or np.any(t > 1) or np.any(np.diff(t) <= 0):
        raise TrialDesignError(f"must be increasing fractions in (0, 1], got {list(information)}",
                               field="information", value=information)
    check_alpha(alpha)
    if sides not in (1, 2):
        raise TrialDesignError(f"must be 1 or 2, got {sides!r}", field="sides", value=sides)
    per_side = alpha if sides == 1 else alpha / 2
    cum = _cumulative(spending, t, per_side, spending_param, "spending") * sides
    increments = np.diff(np.r_[0.0, cum])
    eff = _efficacy_bounds(t, increments, sides, r)
    if beta is None and beta_spending is None:
        return GroupSequentialDesign(information=tuple(float(v) for v in t), alpha=per_side, sides=sides,
                                     efficacy=tuple(float(v) for v in eff), alpha_spent=tuple(float(v) for v in cum))
    if beta is None or beta_spending is None:
        raise TrialDesignError("futility bounds need both beta and beta_spending", field="beta_spending")
    check_alpha(beta, "beta")
    if sides != 1:
        raise TrialDesignError("futility bounds are implemented for one-sided designs only", field="sides")
    bcum = _cumulative(beta_spending, t, beta, beta_param, "beta_spending")
    binc = np.diff(np.r_[0.0, bcum])
    st = require("scipy.stats", extra="trial")

    def shortfall(drift: float) -> float:
        fut = _futility_bounds(t, eff, binc, drift, r)
        rec = _Recursion(t, drift, r)
        lower = 0.0
        for k in range(t.size):
            lower += rec.lower(fut[k])
            if k < t.size - 1:
                rec.advance(fut[k], eff[k])
        return lower - bcum[-1]

    start = float(st.norm.ppf(1 - per_side) + st.norm.ppf(1 - beta))
    drift = _solve(shortfall, 0.2 * start, 3.0 * start)
    fut = _futility_bounds(t, eff, binc, drift, r)
    return GroupSequentialDesign(information=tuple(float(v) for v in t), alpha=per_side, sides=sides,
                                 efficacy=tuple(float(v) for v in eff),
                                 alpha_spent=tuple(float(v) for v in cum), futility=tuple(float(v) for v in fut),
                                 beta=beta, beta_spent=tuple(float(v) for v in bcum),
                                 drift=drift)


def crossing_probabilities(design: GroupSequentialDesign, drift: float, *, futility: bool = True,
                           r: int = 18) -> pd.DataFrame:
    """Probability of stopping at each look for efficacy and for futility under ``drift``.

    ``futility=False`` ignores the (non-binding) futility bounds. A two-sided design's ``efficacy``
    column counts both sides.
    """
    t = np.asarray(design.information)
    eff = np.asarray(design.efficacy)
    use_fut = futility and design.futility is not None
    lower = np.asarray(design.futility) if use_fut else (-eff if design.sides == 2 else np.full(t.size, -_INF))
    rec = _Recursion(t, float(drift), r)
    rows = []
    for k in range(t.size):
        up = rec.upper(eff[k])
        lo = rec.lower(lower[k]) if (use_fut or design.sides == 2) else 0.0
        if design.sides == 2 and not use_fut:
            rows.append({"look": k + 1, "efficacy": up + lo, "futility": 0.0})
        else:
            rows.append({"look": k + 1, "efficacy": up, "futility": lo})
        if k < t.size - 1:
            rec.advance(lower[k], eff[k])
    return pd.DataFrame(rows)


@dataclass(frozen=True, kw_only=True)
class OperatingCharacteristics:
    """Operating characteristics of a group-sequential trial estimated by simulation."""

    #: Probability of rejecting H0 (power, or type I error under the null) and its Monte Carlo SE.
    reject: float
    reject_se: float
    #: Probability of stopping for futility.
    futility_stop: float
    #: Expected subjects per arm and its Monte Carlo SE.
    expected_n: float
    expected_n_se: float
    #: Per look: probability of stopping for efficacy and for futility.
    by_look: pd.DataFrame
    n_sim: int


def simulate_group_sequential(
    design: GroupSequentialDesign, *, effect: float, sd: float, n_per_arm: int, n_sim: int = 2000,
    futility: bool = True, seed: int | np.random.Generator | None = None,
) -> OperatingCharacteristics:
    """Simulate two-arm trials with normal outcomes analysed at the design's looks.

    Each trial draws ``n_per_arm`` subjects per arm (mean difference ``effect``, standard deviation
    ``sd``), computes the known-variance Z statistic on the subjects accrued at each look
    (round(t_k n_per_arm) per arm), stops for efficacy when Z crosses the efficacy bound (``|Z|`` for a
    two-sided design) and, with ``futility=True``, for futility below the futility bound.
    """
    if n_per_arm < 2 or n_sim < 1:
        raise TrialDesignError(f"n_per_arm >= 2 and n_sim >= 1 needed, got {n_per_arm}, {n_sim}", field="n_per_arm")
    if sd <= 0:
        raise TrialDesignError(f"must be > 0, got {sd!r}", field="sd", value=sd)
    rng = normalise_rng(seed)
    t = np.asarray(design.information)
    looks = np.maximum(np.round(t * n_per_arm).astype(int), 1)
    eff = np.asarray(design.efficacy)
    fut = np.asarray(design.futility) if (futility and design.futility is not None) else None
    diffs = rng.normal(effect, sd, (n_sim, looks[-1])) - rng.normal(0.0, sd, (n_sim, looks[-1]))
    csum = np.cumsum(diffs, axis=1)[:, looks - 1]
    z = csum / looks / (sd * np.sqrt(2.0 / looks))
    stopped = np.zeros(n_sim, dtype=bool)
    reject = np.zeros(n_sim, dtype=bool)
    n_used = np.full(n_sim, looks[-1], dtype=float)
    rows = []
    for k in range(t.size):
        zk = z[:, k]
        win = (np.abs(zk) >= eff[k]) if design.sides == 2 else (zk >= eff[k])
        win &= ~stopped
        lose = np.zeros(n_sim, dtype=bool)
        if fut is not None and k < t.size - 1:
            lose = (zk <= fut[k]) & ~stopped & ~win
        reject |= win
        n_used[win | lose] = looks[k]
        stopped |= win | lose
        rows.append({"look": k + 1, "efficacy": win.mean(), "futility": lose.mean()})
    p = float(reject.mean())
    futility_stop = float(sum(r["futility"] for r in rows))
    return OperatingCharacteristics(
        reject=p, reject_se=math.sqrt(p * (1 - p) / n_sim), futility_stop=futility_stop,
        expected_n=float(n_used.mean()), expected_n_se=float(n_used.std(ddof=1) / math.sqrt(n_sim)) if n_sim > 1
        else 0.0, by_look=pd.DataFrame(rows), n_sim=n_sim,
    )
