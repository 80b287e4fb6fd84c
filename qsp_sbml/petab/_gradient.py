"""Gradient of the PEtab objective (internal): exact chain rule through observables, noise and scales.

``d llh / d x_j = sum over measurements of (dllh/dy * dy/dx_j + dllh/dsigma * dsigma/dx_j)``
with ``dy/dx_j = df/dm . dm/dx_j + (df/dp_j + df/dph . dph/dp_j) * dp_j/dx_j``: ``f`` is
the observable (or noise) formula, ``m`` the model values it reads, ``ph`` its
placeholders (measurement-table overrides, themselves expressions of parameters)
and ``p_j = unscale(x_j)``.  The derivatives of the formulas are sympy's; the
state sensitivities ``dm/dx_j`` come from :class:`~qsp_sbml.petab.objective.PetabObjective`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "ObservableDerivatives",
    "integral_floats",
    "prior_derivative",
    "prior_second_derivative",
    "scale_derivative",
]


def integral_floats(expr: Any) -> Any:
    """``expr`` with integral floats as integers.

    PEtab's parser writes ``x^2`` as ``x**2.0``; sympy then differentiates
    ``sqrt(a**2 + (b*x)**2.0)`` by ``x`` to ``(b*x)**2.0 / (x * sqrt(...))``,
    which is 0/0 at ``x = 0`` (NaN gradients of a combined error model at a
    zero concentration).

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> sp.diff(integral_floats(sp.sqrt(1 + x**2.0)), x)
    x/sqrt(x**2 + 1)
    """
    import sympy as sp

    subs = {f: sp.Integer(int(f)) for f in expr.atoms(sp.Float) if float(f).is_integer() and abs(float(f)) < 2**53}
    return expr.xreplace(subs) if subs else expr


def scale_derivative(scale: str, value: float) -> float:
    """``d p / d x`` for ``p = unscale(x)`` at the linear value ``p``."""
    if scale == "log":
        return value
    if scale == "log10":
        return value * math.log(10.0)
    return 1.0


def prior_derivative(log_density: Callable[[float], float], value: float) -> float:
    """Derivative of a (closed-form, smooth) log-prior density at a linear value.

    A fourth-order central difference of the closed-form density (error about
    ``h**4``, ``h = 1e-4 * max(1, |value|)``; no simulation is involved).
    """
    h = 1e-4 * max(1.0, abs(value))
    f = [log_density(value + k * h) for k in (-2, -1, 1, 2)]
    if not all(math.isfinite(v) for v in f):  # at a bound of a uniform prior: one-sided
        return 0.0 if log_density(value + h) == log_density(value) else math.nan
    return (f[0] - 8.0 * f[1] + 8.0 * f[2] - f[3]) / (12.0 * h)


def prior_second_derivative(log_density: Callable[[float], float], scale: str, value: float) -> float:
    """Second derivative of a log-prior with respect to ``x``, ``p = unscale(x)``, at the linear value ``p``.

    ``d2/dx2 log pi(p(x)) = log pi''(p) p'(x)**2 + log pi'(p) p''(x)`` with
    ``p'' = p`` (``log``), ``p ln(10)**2`` (``log10``), 0 (``lin``); ``log pi''`` by a
    fourth-order central difference of the closed-form density (0 where it is not
    finite around ``p``, e.g. at the bound of a uniform prior).

    Examples
    --------
    >>> round(prior_second_derivative(lambda p: -0.5 * p**2, "lin", 3.0), 6)
    -1.0
    """
    h = 1e-3 * max(1.0, abs(value))
    f = [log_density(value + k * h) for k in (-2, -1, 0, 1, 2)]
    if not all(math.isfinite(v) for v in f):
        return 0.0
    d2 = (-f[0] + 16.0 * f[1] - 30.0 * f[2] + 16.0 * f[3] - f[4]) / (12.0 * h * h)
    d1 = prior_derivative(log_density, value)
    dp = scale_derivative(scale, value)
    d2p = {"log": value, "log10": value * math.log(10.0) ** 2}.get(scale, 0.0)
    return d2 * dp * dp + (d1 * d2p if math.isfinite(d1) else 0.0)


class ObservableDerivatives:
    """Partial derivatives of one observable's formula and noise formula on its rows."""

    def __init__(self, ev: Any) -> None:
        import sympy as sp

        self.ev = ev
        obs = ev.obs
        by_name = {str(s): s for s in obs.formula.free_symbols | obs.noise_formula.free_symbols}
        symbols = [by_name[n] for n in ev.names]
        formula, noise = integral_floats(obs.formula), integral_floats(obs.noise_formula)

        def lam(expr: Any) -> Callable[..., Any] | None:
            return None if expr == 0 else sp.lambdify(symbols, expr, modules="numpy")

        self.df = {n: lam(sp.diff(formula, by_name[n])) for n in ev.names}
        self.dg = {n: lam(sp.diff(noise, by_name[n])) for n in ev.names}
        # placeholder values: expressions of parameter ids; their partial derivatives
        self.duniq: list[dict[str, Callable[..., float]]] = []
        for expr in ev.uniq_exprs:
            syms = sorted(expr.free_symbols, key=str)
            self.duniq.append({str(s): sp.lambdify(syms, sp.diff(expr, s), modules="math") for s in syms})

    def __call__(self, model_values: np.ndarray, times: np.ndarray, params: Mapping[str, float],
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``dy/dm``, ``dsigma/dm`` (rows x model columns) and ``dy/dp``, ``dsigma/dp`` by parameter id."""
        ev = self.ev
        n = len(ev.rows)
        args = ev.arguments(model_values, times, params)
        ncol = model_values.shape[1]
        dy_dm, ds_dm = np.zeros((n, ncol)), np.zeros((n, ncol))
        dy_dp: dict[str, np.ndarray] = {}
        ds_dp: dict[str, np.ndarray] = {}
        for name in ev.names:
            with np.errstate(all="ignore"):
                fy = self.df[name]
                fs = self.dg[name]
                dy = np.zeros(n) if fy is None else np.broadcast_to(np.asarray(fy(*args), dtype=float), (n,))
                ds = np.zeros(n) if fs is None else np.broadcast_to(np.asarray(fs(*args), dtype=float), (n,))
            if name in ev.placeholders:
                idx = ev.index[:, ev.placeholders.index(name)]
                for u, d in enumerate(self.duniq):
                    mask = idx == u
                    if not np.any(mask):
                        continue
                    vals = {k: params[k] for k in d}
                    for pid, fn in d.items():
                        dph = _call(fn, d, vals)
                        dy_dp.setdefault(pid, np.zeros(n))[mask] += dy[mask] * dph
                        ds_dp.setdefault(pid, np.zeros(n))[mask] += ds[mask] * dph
            elif name in ev.columns:
                dy_dm[:, ev.columns[name]] = dy
                ds_dm[:, ev.columns[name]] = ds
            elif name in params:
                dy_dp[name] = dy_dp.get(name, np.zeros(n)) + dy
                ds_dp[name] = ds_dp.get(name, np.zeros(n)) + ds
            # time: no parameter dependence
        return dy_dm, ds_dm, dy_dp, ds_dp


def _call(fn: Callable[..., float], d: Mapping[str, Any], vals: Mapping[str, float]) -> float:
    # every derivative of one expression is lambdified over the same sorted symbols
    return float(fn(*(vals[k] for k in sorted(d))))
