"""PEtab noise models: log-likelihood, residuals and chi2 of single measurements.

The definitions follow the PEtab specification (and ``petab.v1.calculate``):
for an observable transformed by ``h`` (``lin``, ``log``, ``log10``) with
measurement ``m``, simulation ``y`` and noise parameter ``sigma``,

* normal:  ``-log L = 0.5*log(2*pi*sigma**2) + 0.5*((h(y) - h(m))/sigma)**2 - log|h'(m)|``
* Laplace: ``-log L = log(2*sigma) + |h(y) - h(m)|/sigma - log|h'(m)|``

where ``log|h'(m)|`` is the Jacobian of the transformation (0 for ``lin``,
``-log(m)`` for ``log`` and ``-log(m*ln 10)`` for ``log10``), so that the
likelihood is a density of the untransformed measurement.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

__all__ = ["NoiseDistribution", "Transformation", "chi2", "log_likelihood", "log_likelihood_derivatives", "residuals"]


class Transformation(StrEnum):
    """Scale on which an observable's noise model acts."""

    LIN = "lin"
    LOG = "log"
    LOG10 = "log10"


class NoiseDistribution(StrEnum):
    """Noise distribution on the transformed scale."""

    NORMAL = "normal"
    LAPLACE = "laplace"


def _transform(x: np.ndarray, transformation: Transformation) -> np.ndarray:
    if transformation is Transformation.LIN:
        return x
    with np.errstate(divide="ignore", invalid="ignore"):
        if transformation is Transformation.LOG:
            return np.log(x)
        return np.log10(x)


def _log_jacobian(measurement: np.ndarray, transformation: Transformation) -> np.ndarray:
    """``log|h'(m)|`` of the transformation at the measurement."""
    if transformation is Transformation.LIN:
        return np.zeros_like(measurement)
    if transformation is Transformation.LOG:
        return -np.log(measurement)
    return -np.log(measurement * np.log(10.0))


def residuals(
    measurement: np.ndarray | float,
    simulation: np.ndarray | float,
    sigma: np.ndarray | float,
    *,
    transformation: Transformation | str = Transformation.LIN,
) -> np.ndarray:
    """Weighted residuals ``(h(m) - h(y)) / sigma`` (PEtab sign convention).

    Examples
    --------
    >>> float(residuals(2.0, 1.0, 0.5)[()])
    2.0
    """
    tr = Transformation(transformation)
    m = np.asarray(measurement, dtype=float)
    y = np.asarray(simulation, dtype=float)
    return (_transform(m, tr) - _transform(y, tr)) / np.asarray(sigma, dtype=float)


def log_likelihood(
    measurement: np.ndarray | float,
    simulation: np.ndarray | float,
    sigma: np.ndarray | float,
    *,
    distribution: NoiseDistribution | str = NoiseDistribution.NORMAL,
    transformation: Transformation | str = Transformation.LIN,
) -> np.ndarray:
    """Log-likelihood of each measurement (elementwise).

    Examples
    --------
    >>> round(float(log_likelihood(1.0, 1.0, 1.0)[()]), 6)  # -0.5*log(2*pi)
    -0.918939
    >>> round(float(log_likelihood(1.0, 2.0, 1.0, distribution="laplace")[()]), 6)  # -log(2) - 1
    -1.693147
    """
    dist = NoiseDistribution(distribution)
    tr = Transformation(transformation)
    m = np.asarray(measurement, dtype=float)
    s = np.asarray(sigma, dtype=float)
    r = residuals(m, simulation, s, transformation=tr)
    if dist is NoiseDistribution.NORMAL:
        nllh = 0.5 * np.log(2.0 * np.pi * s**2) + 0.5 * r**2
    else:
        nllh = np.log(2.0 * s) + np.abs(r)
    return np.asarray(-(nllh - _log_jacobian(m, tr)))


def log_likelihood_derivatives(
    measurement: np.ndarray | float,
    simulation: np.ndarray | float,
    sigma: np.ndarray | float,
    *,
    distribution: NoiseDistribution | str = NoiseDistribution.NORMAL,
    transformation: Transformation | str = Transformation.LIN,
) -> tuple[np.ndarray, np.ndarray]:
    """Derivatives of :func:`log_likelihood` with respect to the simulation and to sigma (elementwise).

    With ``r = (h(m) - h(y)) / sigma``: normal ``dllh/dy = r h'(y) / sigma``,
    ``dllh/dsigma = (r**2 - 1) / sigma``; Laplace ``dllh/dy = sign(r) h'(y) / sigma``,
    ``dllh/dsigma = (|r| - 1) / sigma``.

    Examples
    --------
    >>> dy, ds = log_likelihood_derivatives(2.0, 1.0, 0.5)
    >>> float(dy[()]), float(ds[()])
    (4.0, 6.0)
    """
    dist = NoiseDistribution(distribution)
    tr = Transformation(transformation)
    y = np.asarray(simulation, dtype=float)
    s = np.asarray(sigma, dtype=float)
    r = residuals(measurement, y, s, transformation=tr)
    with np.errstate(divide="ignore", invalid="ignore"):
        if tr is Transformation.LIN:
            dh = np.ones_like(y)
        elif tr is Transformation.LOG:
            dh = 1.0 / y
        else:
            dh = 1.0 / (y * np.log(10.0))
    if dist is NoiseDistribution.NORMAL:
        return np.asarray(r * dh / s), np.asarray((r**2 - 1.0) / s)
    return np.asarray(np.sign(r) * dh / s), np.asarray((np.abs(r) - 1.0) / s)


def chi2(residual: np.ndarray) -> float:
    """Sum of squared weighted residuals.

    Examples
    --------
    >>> chi2(np.array([1.0, 2.0]))
    5.0
    """
    return float(np.sum(np.asarray(residual, dtype=float) ** 2))
