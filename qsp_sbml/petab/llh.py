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

import math
from enum import StrEnum

import numpy as np

__all__ = ["NoiseDistribution", "Transformation", "chi2", "fisher_factors", "log_likelihood",
           "log_likelihood_derivatives", "residuals"]


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


def _transform_derivative(y: np.ndarray, tr: Transformation) -> np.ndarray:
    """``h'(y)`` of the observable transformation (``inf``/``nan`` where ``y <= 0`` under a log)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if tr is Transformation.LIN:
            return np.ones_like(y)
        if tr is Transformation.LOG:
            return np.asarray(1.0 / y)
        return np.asarray(1.0 / (y * np.log(10.0)))


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
    dh = _transform_derivative(y, tr)
    if dist is NoiseDistribution.NORMAL:
        return np.asarray(r * dh / s), np.asarray((r**2 - 1.0) / s)
    return np.asarray(np.sign(r) * dh / s), np.asarray((np.abs(r) - 1.0) / s)


def fisher_factors(
    measurement: np.ndarray | float,
    simulation: np.ndarray | float,
    sigma: np.ndarray | float,
    *,
    distribution: NoiseDistribution | str = NoiseDistribution.NORMAL,
    transformation: Transformation | str = Transformation.LIN,
    kind: str = "gauss-newton",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Factors ``(u, v)`` of the Fisher information matrix of each measurement (elementwise).

    With ``s_y = dy/dx`` and ``s_sigma = dsigma/dx`` the sensitivities of one
    measurement's simulation and noise parameter, its contribution to the
    Fisher information matrix (the Hessian approximation of ``-llh``) is
    ``sum over factors of J J^T`` with ``J = u * s_y + v * s_sigma``.

    ``kind="gauss-newton"`` (normal noise): one factor, ``J`` the derivative of
    the weighted residual ``(h(y) - h(m)) / sigma``, i.e. ``u = h'(y) / sigma``,
    ``v = r / sigma`` with ``r = (h(m) - h(y)) / sigma``: the Gauss-Newton matrix of
    the residuals as AMICI computes ``FIM`` (``ReturnData::fFIM``, without sigma
    residuals; AMICI's source reports it works best with fides on
    Boehm_JProteomeRes2014).  It equals the Hessian where the residuals vanish.

    ``kind="expected"``: the expected Fisher information of the noise
    distribution, normal ``u = h'(y)/sigma`` plus a second factor
    ``v = sqrt(2)/sigma`` (``I_mu,mu = 1/sigma^2``, ``I_sigma,sigma = 2/sigma^2``);
    it equals the Hessian at a maximum-likelihood estimate of a model linear in
    its parameters.  Laplace noise (not a sum of squares) always uses the expected
    information: ``I_mu,mu = I_sigma,sigma = 1/sigma^2``.

    Examples
    --------
    >>> [(float(u[()]), float(v[()])) for u, v in fisher_factors(2.0, 1.0, 0.5)]
    [(2.0, 4.0)]
    >>> [(float(u[()]), float(v[()])) for u, v in fisher_factors(2.0, 1.0, 0.5, kind="expected",
    ...                                                             distribution="laplace")]
    [(2.0, 0.0), (0.0, 2.0)]
    """
    if kind not in ("gauss-newton", "expected"):
        raise ValueError(f"kind must be 'gauss-newton' or 'expected', got {kind!r}")
    dist = NoiseDistribution(distribution)
    tr = Transformation(transformation)
    y = np.asarray(simulation, dtype=float)
    s = np.asarray(sigma, dtype=float)
    dh = _transform_derivative(y, tr)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.asarray(dh / s)
        zero = np.zeros_like(u)
        if dist is NoiseDistribution.NORMAL and kind == "gauss-newton":
            r = residuals(measurement, y, s, transformation=tr)
            return [(u, np.asarray(r / s))]
        weight = math.sqrt(2.0) if dist is NoiseDistribution.NORMAL else 1.0
        return [(u, zero), (zero, np.asarray(weight / s * np.ones_like(u)))]


def chi2(residual: np.ndarray) -> float:
    """Sum of squared weighted residuals.

    Examples
    --------
    >>> chi2(np.array([1.0, 2.0]))
    5.0
    """
    return float(np.sum(np.asarray(residual, dtype=float) ** 2))
