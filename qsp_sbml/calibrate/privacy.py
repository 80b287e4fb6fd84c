"""Differential privacy for federated calibration: clipped, noised site gradients and their (epsilon, delta) cost.

A site that runs with differential privacy answers gradient requests only, and each answer is the
**Gaussian mechanism** on per-subject contributions:

    release = sum_i clip(g_i, C) + N(0, (z C)^2 I)

where ``g_i`` is subject i's gradient of the negative log-likelihood (the site evaluates one objective per
subject, a PEtab condition), ``clip(g, C) = g min(1, C / ||g||_2)`` bounds what one subject can change
(L2 sensitivity C when a subject is added or removed) and ``z`` is the noise multiplier.  Function values
and Fisher information are not released.

Accounting in zero-concentrated DP (Bun & Steinke 2016, "Concentrated differential privacy:
simplifications, extensions, and lower bounds", TCC, LNCS 9985:635-658): one Gaussian release with
sensitivity C and standard deviation z C is rho = 1 / (2 z^2)-zCDP (their Proposition 1.6); T releases
compose to T rho (Lemma 2.3); rho-zCDP implies (rho + 2 sqrt(rho ln(1/delta)), delta)-DP for every
delta > 0 (Proposition 1.3).  A site fixes its budget (epsilon, delta) and refuses any release that would
exceed it.  The coordinator's optimiser (:func:`dp_adam`) only post-processes released values, which
costs no privacy (Dwork & Roth 2014, "The algorithmic foundations of differential privacy", Prop. 2.1).

Examples
--------
>>> round(zcdp_epsilon(releases=100, noise_multiplier=10.0, delta=1e-5), 3)
5.299
>>> releases_allowed(epsilon=5.299, delta=1e-5, noise_multiplier=10.0)
100
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qsp_sbml.errors import CalibrationError

__all__ = ["DpSettings", "clip", "dp_adam", "releases_allowed", "zcdp_epsilon"]


def zcdp_epsilon(*, releases: int, noise_multiplier: float, delta: float) -> float:
    """Epsilon of ``releases`` Gaussian releases with noise multiplier ``z`` at ``delta`` (zCDP conversion)."""
    if noise_multiplier <= 0 or not 0 < delta < 1:
        raise CalibrationError("noise_multiplier must be > 0 and delta in (0, 1)")
    rho = releases / (2.0 * noise_multiplier**2)
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


def releases_allowed(*, epsilon: float, delta: float, noise_multiplier: float) -> int:
    """The largest number of releases whose epsilon (:func:`zcdp_epsilon`) is within ``epsilon``."""
    if epsilon <= 0:
        raise CalibrationError("epsilon must be > 0")
    # rho + 2 sqrt(rho L) = eps  <=>  sqrt(rho) = -sqrt(L) + sqrt(L + eps)
    big_l = math.log(1.0 / delta)
    rho = (math.sqrt(big_l + epsilon) - math.sqrt(big_l)) ** 2
    n = int(math.floor(rho * 2.0 * noise_multiplier**2 + 1e-9))
    while n > 0 and zcdp_epsilon(releases=n, noise_multiplier=noise_multiplier, delta=delta) > epsilon * (1 + 1e-12):
        n -= 1
    return n


def clip(vectors: Sequence[np.ndarray], bound: float) -> np.ndarray:
    """Sum of the vectors, each scaled down to L2 norm ``bound`` when longer.

    >>> clip([np.array([3.0, 4.0]), np.array([0.3, 0.4])], 1.0).round(3).tolist()
    [0.9, 1.2]
    """
    total = np.zeros_like(np.asarray(vectors[0], dtype=float))
    for v in vectors:
        v = np.asarray(v, dtype=float)
        norm = float(np.linalg.norm(v))
        total += v * (min(1.0, bound / norm) if norm > 0 else 1.0)
    return total


@dataclass(frozen=True, kw_only=True)
class DpSettings:
    """A site's differential-privacy settings."""

    #: L2 bound C of one subject's gradient.
    clip: float
    #: Noise standard deviation over C (z).
    noise_multiplier: float
    #: The site's budget.
    epsilon: float
    #: The site's delta.
    delta: float = 1e-5

    def __post_init__(self) -> None:
        if not (self.clip > 0 and self.noise_multiplier > 0 and self.epsilon > 0 and 0 < self.delta < 1):
            raise CalibrationError("DP settings need clip > 0, noise_multiplier > 0, epsilon > 0, 0 < delta < 1")

    @property
    def releases(self) -> int:
        """Gradient releases the budget allows."""
        return releases_allowed(epsilon=self.epsilon, delta=self.delta, noise_multiplier=self.noise_multiplier)


def dp_adam(
    gradient: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    *,
    lb: np.ndarray,
    ub: np.ndarray,
    steps: int,
    learning_rate: float = 0.02,
    beta1: float = 0.9,
    beta2: float = 0.999,
    average_last: int | None = None,
) -> np.ndarray:
    """Projected Adam (Kingma & Ba 2015, ICLR) on noisy gradients; returns the mean of the last iterates.

    Averaging the last ``average_last`` iterates (default: half of them) reduces the noise of the final
    point; the box ``[lb, ub]`` is kept by projection.
    """
    x = np.clip(np.asarray(x0, dtype=float), lb, ub)
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    keep = average_last or max(1, steps // 2)
    tail = []
    for t in range(1, steps + 1):
        g = np.asarray(gradient(x), dtype=float)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        x = np.clip(x - learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8), lb, ub)
        if t > steps - keep:
            tail.append(x.copy())
    return np.mean(tail, axis=0)
