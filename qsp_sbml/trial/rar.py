"""Bayesian response-adaptive randomisation for binary endpoints (Thompson-type allocation).

Each arm has a Beta(a, b) prior on its response rate, updated by the responses seen so far
(Beta-Binomial). After a burn-in allocated by fixed ratios, each block of patients is allocated with
probabilities proportional to P(arm is best | data)^c (Thompson 1933; the tempering exponent
c = n / (2 N) of Thall & Wathen 2007, Eur J Cancer 43:859-866, when ``power="thall_wathen"``),
clipped to [min_allocation, max_allocation] ("capping") and renormalised. At the end each
experimental arm succeeds when P(p_arm > p_control | data) > ``threshold``.

Examples
--------
>>> oc = simulate_rar([0.2, 0.2], n_max=60, n_sim=50, seed=1)
>>> oc.n_per_arm.shape
(2,)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qsp_sbml._optional import require
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial._checks import check_allocation, normalise_rng

__all__ = ["RarOperatingCharacteristics", "prob_better", "rar_allocation", "simulate_rar"]


def prob_better(a1: float, b1: float, a0: float, b0: float) -> float:
    """P(p1 > p0) for independent p1 ~ Beta(a1, b1), p0 ~ Beta(a0, b0).

    Closed form for integer ``a1``: sum over i < a1 of B(a0 + i, b0 + b1) / ((b1 + i) B(1 + i, b1) B(a0, b0))
    (Cook 2003, "Exact calculation of beta inequalities", UT MD Anderson Cancer Center Dept. of
    Biostatistics Working Paper), numerical integration otherwise.
    """
    sp = require("scipy.special", extra="trial")
    if float(a1).is_integer() and a1 >= 1:
        i = np.arange(int(a1))
        terms = (sp.betaln(a0 + i, b0 + b1) - np.log(b1 + i) - sp.betaln(1 + i, b1) - sp.betaln(a0, b0))
        return float(np.exp(terms).sum())
    integ = require("scipy.integrate", extra="trial")
    log_norm = sp.betaln(a0, b0)

    def integrand(x: float) -> float:
        if x <= 0.0 or x >= 1.0:
            return 0.0
        dens = math.exp((a0 - 1) * math.log(x) + (b0 - 1) * math.log1p(-x) - log_norm)
        return float(dens * sp.betaincc(a1, b1, x))

    val, _ = integ.quad(integrand, 0.0, 1.0, limit=200)
    return float(val)


def rar_allocation(
    successes: Sequence[float] | np.ndarray, failures: Sequence[float] | np.ndarray, *,
    prior: tuple[float, float] = (1.0, 1.0),
    exponent: float = 1.0, min_allocation: float = 0.0, max_allocation: float = 1.0, n_draws: int = 4000,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Allocation probabilities ∝ P(arm best)^exponent, clipped to [min, max] and renormalised."""
    s = np.asarray(successes, dtype=float)
    f = np.asarray(failures, dtype=float)
    k = s.size
    if not 0 <= min_allocation <= 1 / k <= max_allocation <= 1:
        raise TrialDesignError(f"need 0 <= min_allocation <= 1/{k} <= max_allocation <= 1, got "
                               f"{min_allocation}, {max_allocation}", field="max_allocation")
    rng = rng or np.random.default_rng()
    draws = rng.beta(prior[0] + s[:, None], prior[1] + f[:, None], (k, n_draws))
    best = np.bincount(draws.argmax(axis=0), minlength=k) / n_draws
    w = best**exponent
    w = w / w.sum() if w.sum() > 0 else np.full(k, 1 / k)
    for _ in range(50):  # clip and renormalise the free arms until the caps hold
        clipped = np.clip(w, min_allocation, max_allocation)
        fixed = clipped != w
        if not fixed.any():
            break
        free = ~fixed
        rest = 1 - clipped[fixed].sum()
        w = clipped.copy()
        if free.any() and w[free].sum() > 0:
            w[free] = w[free] / w[free].sum() * rest
        else:
            w = clipped / clipped.sum()
    return w


@dataclass(frozen=True, kw_only=True)
class RarOperatingCharacteristics:
    """Operating characteristics of a response-adaptive design estimated by simulation."""

    #: P(at least one experimental arm declared better than control) and its Monte Carlo SE.
    success: float
    success_se: float
    #: Per arm: probability of being declared better than control (control entry is 0).
    declared: np.ndarray
    #: Mean subjects and mean responders per arm.
    n_per_arm: np.ndarray
    responders_per_arm: np.ndarray
    n_sim: int


def simulate_rar(
    response_rates: Sequence[float], *, n_max: int, control: int = 0, burn_in: int = 20,
    allocation: Sequence[float] | None = None, block: int = 10, prior: tuple[float, float] = (1.0, 1.0),
    power: float | str = 1.0, min_allocation: float = 0.0, max_allocation: float = 1.0, threshold: float = 0.975,
    n_sim: int = 500, seed: int | np.random.Generator | None = None,
) -> RarOperatingCharacteristics:
    """Simulate trials with Thompson-type response-adaptive randomisation.

    Parameters
    ----------
    response_rates
        True response probability of each arm (``control`` indexes the control arm).
    n_max, burn_in, block
        Total subjects; subjects allocated by ``allocation`` (equal by default) before adaptation; subjects
        allocated between posterior updates.
    allocation
        Burn-in allocation fractions, one per arm; they must sum to 1.
    power
        Tempering exponent c, or ``"thall_wathen"`` for c = n / (2 n_max).
    min_allocation, max_allocation
        Caps on each arm's allocation probability after burn-in.
    """
    p = np.asarray(response_rates, dtype=float)
    k = p.size
    if k < 2 or np.any((p < 0) | (p > 1)):
        raise TrialDesignError(f"need >= 2 rates in [0, 1], got {list(p)}", field="response_rates")
    if not 0 <= control < k:
        raise TrialDesignError(f"arm index {control} not among the {k} arms", field="control", value=control)
    if not 0 <= burn_in <= n_max or block < 1 or n_sim < 1:
        raise TrialDesignError(f"need 0 <= burn_in <= n_max, block >= 1, n_sim >= 1 (got {burn_in}, {n_max}, "
                               f"{block}, {n_sim})", field="burn_in")
    if not 0 < threshold < 1:
        raise TrialDesignError(f"must be in (0, 1), got {threshold!r}", field="threshold", value=threshold)
    if isinstance(power, str) and power != "thall_wathen":
        raise TrialDesignError(f"unknown power {power!r}; use a number or 'thall_wathen'", field="power")
    alloc = check_allocation(allocation if allocation is not None else [1 / k] * k, k)
    rng = normalise_rng(seed)
    declared = np.zeros(k)
    n_tot = np.zeros(k)
    r_tot = np.zeros(k)
    wins = 0
    for _ in range(int(n_sim)):
        succ = np.zeros(k)
        fail = np.zeros(k)
        arms = rng.choice(k, size=burn_in, p=alloc)
        for arm in range(k):
            y = rng.random(int((arms == arm).sum())) < p[arm]
            succ[arm] += y.sum()
            fail[arm] += y.size - y.sum()
        n = burn_in
        while n < n_max:
            size = min(block, n_max - n)
            c = n / (2 * n_max) if power == "thall_wathen" else float(power)
            w = rar_allocation(succ, fail, prior=prior, exponent=c, min_allocation=min_allocation,
                               max_allocation=max_allocation, rng=rng)
            arms = rng.choice(k, size=size, p=w)
            for arm in np.unique(arms):
                y = rng.random(int((arms == arm).sum())) < p[arm]
                succ[arm] += y.sum()
                fail[arm] += y.size - y.sum()
            n += size
        any_win = False
        for arm in range(k):
            if arm == control:
                continue
            pb = prob_better(prior[0] + succ[arm], prior[1] + fail[arm], prior[0] + succ[control],
                             prior[1] + fail[control])
            if pb > threshold:
                declared[arm] += 1
                any_win = True
        wins += any_win
        n_tot += succ + fail
        r_tot += succ
    rate = wins / n_sim
    return RarOperatingCharacteristics(
        success=rate, success_se=math.sqrt(rate * (1 - rate) / n_sim), declared=declared / n_sim,
        n_per_arm=n_tot / n_sim, responders_per_arm=r_tot / n_sim, n_sim=int(n_sim),
    )
