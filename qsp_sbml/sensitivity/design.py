"""Sampling designs for Morris screening and Sobol indices (SALib), mapped to the parameters' distributions.

SALib draws the design on the unit hypercube, one column per parameter, with the parameters of a ``group``
moved together: Morris trajectories (Morris 1991; Campolongo, Cariboni & Saltelli 2007) with
``SALib.sample.morris``, Saltelli's cross-sampled matrices from a scrambled Sobol' sequence (Saltelli 2002;
Saltelli et al. 2010) with ``SALib.sample.sobol``.  Each unit column is then mapped to its parameter through
the inverse of its marginal distribution; correlated parameters of one group go through a Gaussian copula
(quantiles -> standard normal -> Cholesky factor of the correlation -> quantiles) before their marginals.
Morris levels include the quantiles 0 and 1; for unbounded marginals (normal, lognormal, copula groups) the
quantiles are clipped to [0.001, 0.999] (about 3.1 standard deviations).

Examples
--------
>>> from qsp_sbml.sensitivity.spec import ParameterSpec
>>> d = sample([ParameterSpec(id="a", lower=0, upper=1), ParameterSpec(id="b", factor=10)],
...            method="sobol", n=16, seed=1, nominal={"b": 1.0})
>>> d.values.shape, bool(d.values[:, 1].min() >= 0.1 and d.values[:, 1].max() <= 10)
((64, 2), True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qsp_sbml._optional import require
from qsp_sbml.sensitivity.spec import Correlation, Distribution, ParameterSpec, SensitivityError

__all__ = ["MIN_N", "Design", "check_n", "resolve_bounds", "sample"]

#: Smallest N per method: Morris needs several trajectories for sigma and a bootstrap; Sobol needs N/2 >= 8 for
#: the convergence check by halving.
MIN_N = {"morris": 4, "sobol": 16}
_CLIP = 1e-3


@dataclass(frozen=True)
class Design:
    """A sampled design: the unit-cube sample SALib analyses and the parameter values to simulate."""

    method: str
    #: Parameter ids (columns of ``unit`` and ``values``).
    parameters: tuple[str, ...]
    #: Factor (group or parameter id) of each parameter.
    groups: tuple[str, ...]
    #: The SALib problem on the unit cube.
    problem: Mapping[str, Any]
    unit: np.ndarray
    values: np.ndarray
    #: Base sample size (Morris: trajectories; Sobol: N of the Saltelli design).
    n: int
    seed: int
    num_levels: int = 4

    @property
    def factors(self) -> list[str]:
        """The distinct factors, in order."""
        return list(dict.fromkeys(self.groups))

    @property
    def n_runs(self) -> int:
        """Rows of the design (model evaluations)."""
        return len(self.values)


def check_n(method: str, n: int) -> None:
    """Refuse a base sample size too small for ``method`` (or not a power of two for Sobol)."""
    if method not in MIN_N:
        raise SensitivityError(f"unknown method {method!r}: use morris or sobol")
    if isinstance(n, bool) or not isinstance(n, int) or n < MIN_N[method]:
        raise SensitivityError(
            f"n = {n!r} is too small for {method}: use at least {MIN_N[method]}"
            + (" (a power of two)" if method == "sobol" else " trajectories")
        )
    if method == "sobol" and n & (n - 1):
        up = 1 << n.bit_length()
        raise SensitivityError(
            f"n = {n} for sobol must be a power of two (Sobol' sequence balance): use {up >> 1} or {up}"
        )


def resolve_bounds(p: ParameterSpec, nominal: Mapping[str, float] | None) -> tuple[float, float]:
    """Uniform bounds of ``p`` (``factor`` ranges use the nominal value)."""
    if p.factor is not None:
        if nominal is None or p.id not in nominal:
            raise SensitivityError(f"parameter {p.id!r}: a factor range needs the model's nominal value")
        v = float(nominal[p.id])
        if not (math.isfinite(v) and v > 0):
            raise SensitivityError(
                f"parameter {p.id!r}: nominal value {v} is not > 0; a factor range needs a "
                "positive nominal value (give lower/upper)"
            )
        return v / p.factor, v * p.factor
    assert p.lower is not None and p.upper is not None  # noqa: S101  (checked by ParameterSpec)
    return float(p.lower), float(p.upper)


def _marginal(p: ParameterSpec, u: np.ndarray, nominal: Mapping[str, float] | None) -> np.ndarray:
    from scipy import stats

    if p.distribution is Distribution.NORMAL:
        return float(p.mean) + float(p.sd) * stats.norm.ppf(np.clip(u, _CLIP, 1 - _CLIP))  # type: ignore[arg-type]
    if p.distribution is Distribution.LOGNORMAL:
        sdlog = math.sqrt(math.log1p(float(p.cv) ** 2))  # type: ignore[arg-type]
        return float(p.median) * np.exp(sdlog * stats.norm.ppf(np.clip(u, _CLIP, 1 - _CLIP)))  # type: ignore[arg-type]
    lo, hi = resolve_bounds(p, nominal)
    if p.log_scale:
        return np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    return lo + u * (hi - lo)


def _copula(unit: np.ndarray, ids: list[str], correlations: Sequence[Correlation]) -> np.ndarray:
    """Impose the correlations (Gaussian copula) on the quantile columns; returns new quantiles."""
    if not correlations:
        return unit
    from scipy import stats

    out = unit.copy()
    index = {pid: k for k, pid in enumerate(ids)}
    pairs: dict[frozenset[str], float] = {frozenset(c.between): c.rho for c in correlations}
    linked = sorted({index[pid] for c in correlations for pid in c.between})
    # one correlation matrix over the correlated columns (pairs not given are uncorrelated)
    corr = np.eye(len(linked))
    for a, ka in enumerate(linked):
        for b, kb in enumerate(linked):
            if a != b:
                corr[a, b] = pairs.get(frozenset((ids[ka], ids[kb])), 0.0)
    try:
        chol = np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        raise SensitivityError("correlations: the correlation matrix is not positive definite") from None
    z = stats.norm.ppf(np.clip(unit[:, linked], _CLIP, 1 - _CLIP))
    out[:, linked] = stats.norm.cdf(z @ chol.T)
    return out


def sample(
    parameters: Sequence[ParameterSpec],
    *,
    method: str,
    n: int,
    seed: int,
    nominal: Mapping[str, float] | None = None,
    correlations: Sequence[Correlation] = (),
    num_levels: int = 4,
) -> Design:
    """Draw a Morris or Sobol (Saltelli) design with SALib and map it to the parameters' distributions.

    Parameters
    ----------
    parameters
        The uncertain parameters.
    method
        ``"morris"`` (``n`` trajectories of ``factors + 1`` runs) or ``"sobol"`` (``n`` a power of two,
        ``n x (factors + 2)`` runs, first- and total-order indices).
    n
        Base sample size.
    seed
        Seed of the design (SALib's generator); the same seed gives the same design.
    nominal
        Nominal values of the model (for ``factor`` ranges).
    correlations
        Gaussian-copula correlations (between parameters of one group).
    num_levels
        Morris grid levels.
    """
    check_n(method, n)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SensitivityError(f"seed must be a non-negative integer, got {seed!r}")
    require("SALib", extra="gsa")
    ids = [p.id for p in parameters]
    groups = [p.group or p.id for p in parameters]
    problem: dict[str, Any] = {"num_vars": len(ids), "names": ids, "bounds": [[0.0, 1.0]] * len(ids)}
    if len(set(groups)) < 2:
        raise SensitivityError("a sensitivity analysis needs at least two factors (parameters or groups)")
    if len(set(groups)) < len(groups):
        problem["groups"] = groups
    if method == "morris":
        from SALib.sample import morris

        unit = morris.sample(problem, n, num_levels=num_levels, seed=seed)
    else:
        from SALib.sample import sobol

        unit = sobol.sample(problem, n, calc_second_order=False, scramble=True, seed=seed)
    quantiles = _copula(np.asarray(unit, dtype=float), ids, correlations)
    values = np.column_stack([_marginal(p, quantiles[:, k], nominal) for k, p in enumerate(parameters)])
    return Design(
        method=method,
        parameters=tuple(ids),
        groups=tuple(groups),
        problem=problem,
        unit=np.asarray(unit, dtype=float),
        values=values,
        n=n,
        seed=seed,
        num_levels=num_levels,
    )
