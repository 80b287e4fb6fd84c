"""The PEtab objective on RoadRunner: simulate, then log-likelihood, chi2 and residuals.

``PetabObjective(problem)(x)`` is the negative log-likelihood (plus the
negative log-prior with ``ObjectiveOptions(priors=True)``) at ``x``, the
estimated parameters on their scales.  ``evaluate(x)`` also returns chi2,
residuals and the simulation table.

``objective(x, sensi=1)`` (or :meth:`PetabObjective.value_and_gradient`)
also returns the gradient with respect to ``x`` (on the parameters' scales):
exact chain rule through observable and noise formulas, placeholders, priors
and scales (``_gradient``), and forward sensitivities of the simulated
model values to the parameters that enter the simulation, generated
symbolically into an augmented SBML model (``_sensitivity``,
:meth:`PetabObjective.state_sensitivities`).  The value returned with the
gradient is the one ``objective(x)`` gives (the original model is simulated
too).  Not yet: events whose trigger depends on states or on parameters with
a sensitivity (``UnsupportedFeatureError``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from qsp_sbml.errors import PetabError, SbmlError, SimulationError
from qsp_sbml.petab._common import TIME_SYMBOLS
from qsp_sbml.petab._gradient import (
    ObservableDerivatives,
    prior_derivative,
    prior_second_derivative,
    scale_derivative,
)
from qsp_sbml.petab._runner import ExperimentRunner
from qsp_sbml.petab.llh import chi2, fisher_factors, log_likelihood, log_likelihood_derivatives, residuals
from qsp_sbml.petab.options import ObjectiveOptions
from qsp_sbml.petab.problem import PetabProblem

__all__ = ["EvaluationResult", "PetabObjective"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationResult:
    """Result of :meth:`PetabObjective.evaluate`."""

    #: Log-likelihood (without priors).
    llh: float
    #: Sum of squared weighted residuals.
    chi2: float
    #: Number of measurements.
    n_measurements: int
    #: Simulated observable values, in measurement-table order.
    simulated: np.ndarray
    #: Weighted residuals ``(h(m) - h(y)) / sigma``, in measurement-table order.
    residuals: np.ndarray
    #: Log-prior of the estimated parameters (0 when the problem has none).
    log_prior: float = 0.0
    #: Log-prior per parameter with a prior.
    log_priors: dict[str, float] | None = None
    #: The measurement table the rows follow.
    measurement_df: pd.DataFrame | None = None

    @property
    def simulations(self) -> pd.DataFrame:
        """The measurement table with ``simulation`` instead of ``measurement``.

        Built on access, so that an objective value does not pay for the table.
        """
        if self.measurement_df is None:
            raise ValueError("this result has no measurement table")
        sims = self.measurement_df.copy().rename(columns={"measurement": "simulation"})
        sims["simulation"] = self.simulated
        return sims


class _ObservableEval:
    """Vectorised evaluation of one observable's formula and noise formula on its rows."""

    def __init__(self, obs: Any, rows: np.ndarray, problem: PetabProblem, columns: dict[str, int],
                 ) -> None:
        import sympy as sp

        spec = problem.spec
        self.obs = obs
        self.rows = rows
        self.columns = columns
        self.entities = problem.entities
        placeholders = list(obs.observable_placeholders) + list(obs.noise_placeholders)
        self.placeholders = placeholders
        values = [list(spec.measurements.observable_parameters[i]) + list(spec.measurements.noise_parameters[i])
                  for i in rows]
        uniq: dict[Any, int] = {}
        self.index = np.zeros((len(rows), len(placeholders)), dtype=int)
        for r, vals in enumerate(values):
            for k, expr in enumerate(vals):
                self.index[r, k] = uniq.setdefault(expr, len(uniq))
        self.uniq_exprs = list(uniq)
        self.uniq = [(_lambdify(e), sorted(str(s) for s in e.free_symbols)) for e in uniq]
        names = sorted({str(s) for s in obs.formula.free_symbols | obs.noise_formula.free_symbols})
        self.names = names
        symbols = [sp.Symbol(n, real=True) for n in names]
        by_name = {str(s): s for s in obs.formula.free_symbols | obs.noise_formula.free_symbols}
        symbols = [by_name[n] for n in names]
        self.f = sp.lambdify(symbols, obs.formula, modules="numpy")
        self.g = sp.lambdify(symbols, obs.noise_formula, modules="numpy")

    def __call__(self, model_values: np.ndarray, times: np.ndarray, params: dict[str, float],
                 ) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.rows)
        args = self.arguments(model_values, times, params)
        with np.errstate(all="ignore"):
            y = np.broadcast_to(np.asarray(self.f(*args), dtype=float), (n,))
            sigma = np.broadcast_to(np.asarray(self.g(*args), dtype=float), (n,))
        return y, sigma

    def arguments(self, model_values: np.ndarray, times: np.ndarray, params: dict[str, float]) -> list[Any]:
        """Values of ``self.names`` on the rows (arrays or scalars)."""
        n = len(self.rows)
        uvals = np.array([fn(*(params[a] for a in args)) for fn, args in self.uniq], dtype=float)
        args = []
        for name in self.names:
            if name in self.placeholders:
                args.append(uvals[self.index[:, self.placeholders.index(name)]])
            elif name in self.columns:
                args.append(model_values[self.rows, self.columns[name]])
            elif name in params:
                args.append(np.full(n, params[name]))
            elif name in TIME_SYMBOLS:
                args.append(times[self.rows])
            else:  # pragma: no cover - excluded by check_symbols
                raise PetabError(f"no value for {name!r}", table="observable", row=self.obs.row)
        return args


def _lambdify(expr: Any) -> Callable[..., float]:
    import sympy as sp

    symbols = sorted(expr.free_symbols, key=str)
    return sp.lambdify(symbols, expr, modules="math")


class PetabObjective:
    """Negative log-likelihood of a PEtab problem, simulated with RoadRunner.

    Parameters
    ----------
    problem
        The problem (see :meth:`PetabProblem.from_yaml`).
    options
        Integrator tolerances, steady-state settings, priors.

    Examples
    --------
    >>> import qsp_sbml.petab as qp
    >>> from qsp_sbml import resources
    >>> objective = qp.PetabObjective(qp.PetabProblem.from_yaml(resources.PETAB_PK_IV, guard=False))
    >>> result = objective.evaluate()
    >>> result.n_measurements, round(result.chi2, 6)
    (3, 0.0)
    >>> bool(abs(objective(objective.x_nominal) + result.llh) < 1e-12)
    True
    """

    def __init__(self, problem: PetabProblem, *, options: ObjectiveOptions | None = None) -> None:
        self.problem = problem
        self.options = options or ObjectiveOptions()
        spec = problem.spec
        meas = spec.measurements
        model_names = sorted({str(s) for o in spec.observables.values()
                              for s in o.formula.free_symbols | o.noise_formula.free_symbols
                              if str(s) in problem.entities.all})
        self._columns = {n: k for k, n in enumerate(model_names)}
        selections = [problem.entities.selection(n) for n in model_names]
        self._runner = ExperimentRunner(
            problem.model.simulator(), problem.model.sbml_model, problem.entities, spec.model_parameters,
            selections, integrator=self.options.integrator, steady_state=self.options.steady_state)
        # per experiment: sorted unique times and, per row, the index into them
        self._exp_rows: dict[str, np.ndarray] = {}
        self._exp_times: dict[str, np.ndarray] = {}
        self._time_index = np.zeros(len(meas), dtype=int)
        for eid in dict.fromkeys(meas.experiment_id):
            rows = np.flatnonzero(meas.experiment_id == eid)
            times = np.unique(meas.time[rows])
            self._exp_rows[eid] = rows
            self._exp_times[eid] = times
            self._time_index[rows] = np.searchsorted(times, meas.time[rows])
        sim_ids: set[str] = set()
        exprs = list(spec.model_parameters.values())
        for exp in spec.experiments.values():
            for period in exp.periods:
                exprs += [ch.value for ch in (*period.changes, *period.before_init)]
        for expr in exprs:
            sim_ids |= {str(s) for s in getattr(expr, "free_symbols", ())}
        #: Estimated parameters that enter the simulation (others only enter observables, noise, priors).
        self.simulation_parameters = [p for p in problem.x_free_ids if p in sim_ids]
        self._derivs: list[ObservableDerivatives] | None = None
        self._sens_runner: Any = None
        self._obs_evals = [
            _ObservableEval(obs, np.flatnonzero(meas.observable_id == oid), problem, self._columns)
            for oid, obs in spec.observables.items() if np.any(meas.observable_id == oid)
        ]

    @overload
    def __call__(self, x: np.ndarray | None = None, sensi: Literal[0] = 0) -> float: ...

    @overload
    def __call__(self, x: np.ndarray | None, sensi: Literal[1]) -> tuple[float, np.ndarray]: ...

    @overload
    def __call__(self, x: np.ndarray | None, sensi: Literal[2]) -> tuple[float, np.ndarray, np.ndarray]: ...

    def __call__(self, x: np.ndarray | None = None, sensi: int = 0,
                 ) -> float | tuple[float, np.ndarray] | tuple[float, np.ndarray, np.ndarray]:
        """Negative log-likelihood (or log-posterior with priors) at ``x``; ``inf`` if simulation fails.

        With ``sensi=1``: ``(value, gradient)``, the gradient with respect to ``x``
        (NaN where the value is ``inf``); ``sensi=2``: ``(value, gradient, FIM)``
        (:meth:`value_gradient_fim`).
        """
        if sensi == 1:
            return self.value_and_gradient(x)
        if sensi == 2:
            return self.value_gradient_fim(x)
        if sensi != 0:
            raise ValueError(f"sensi must be 0, 1 or 2, got {sensi!r}")
        try:
            result = self.evaluate(x)
        except SimulationError as err:
            logger.warning("simulation failed at x=%s: %s", None if x is None else list(x), err)
            return math.inf
        value = -(result.llh + (result.log_prior if self.options.priors else 0.0))
        return value if math.isfinite(value) else math.inf

    @property
    def x_nominal(self) -> np.ndarray:
        """Nominal values of the estimated parameters on their scales."""
        return self.problem.x_nominal

    def simulate(self, x: np.ndarray | None = None) -> np.ndarray:
        """Model values needed by the observables, one row per measurement."""
        params = self.problem.parameter_values(x)
        meas = self.problem.spec.measurements
        out = np.full((len(meas), len(self._columns)), np.nan)
        for eid, rows in self._exp_rows.items():
            values = self._runner.run(self.problem.spec.experiments[eid], params, self._exp_times[eid])
            out[rows] = values[self._time_index[rows]]
        return out

    def evaluate(self, x: np.ndarray | None = None) -> EvaluationResult:
        """Simulate and compute llh, chi2, residuals and the simulation table at ``x`` (default: nominal)."""
        params = self.problem.parameter_values(x)
        return self._evaluate_at(params, self.simulate(x))

    def _evaluate_at(self, params: dict[str, float], model_values: np.ndarray) -> EvaluationResult:
        spec = self.problem.spec
        meas = spec.measurements
        n = len(meas)
        y = np.full(n, np.nan)
        sigma = np.full(n, np.nan)
        llh_rows = np.full(n, np.nan)
        res = np.full(n, np.nan)
        for ev in self._obs_evals:
            yi, si = ev(model_values, meas.time, params)
            bad = ~(np.isfinite(si) & (si > 0))
            if np.any(bad):
                r = int(ev.rows[np.flatnonzero(bad)[0]])
                raise PetabError(f"noise formula of observable {ev.obs.id!r} evaluates to {si[bad][0]!r}; "
                                 "it must be positive and finite", table="measurement", row=r + 1,
                                 column="noiseParameters")
            obs = ev.obs
            y[ev.rows] = yi
            sigma[ev.rows] = si
            with np.errstate(all="ignore"):
                llh_rows[ev.rows] = log_likelihood(meas.measurement[ev.rows], yi, si, distribution=obs.distribution,
                                                   transformation=obs.transformation)
                res[ev.rows] = residuals(meas.measurement[ev.rows], yi, si, transformation=obs.transformation)
        llh = float(np.sum(llh_rows)) if np.all(np.isfinite(llh_rows)) else -math.inf
        priors = {p.id: p.prior.log_density(params[p.id]) for p in spec.parameters
                  if p.estimate and p.prior is not None}
        return EvaluationResult(llh=llh, chi2=chi2(res) if np.all(np.isfinite(res)) else math.inf,
                                n_measurements=n, simulated=y, residuals=res,
                                log_prior=float(sum(priors.values())), log_priors=priors,
                                measurement_df=spec.measurement_df)

    # -- gradient ------------------------------------------------------------------------
    def _sensitivity_runner(self) -> Any:
        """The runner on the augmented model (built and compiled on first use)."""
        if self._sens_runner is not None:
            return self._sens_runner
        from qsp_sbml.petab._sensitivity import SensitivityModel, SensitivityRunner
        from qsp_sbml.simulate.simulator import ModelStructure, Simulator

        problem = self.problem
        spec = problem.spec
        thetas = set(self.simulation_parameters)
        model_ids = problem.entities.all
        # which parameters each PEtab-set target may depend on (all of them through a model value)
        depends: dict[str, set[str]] = {}

        def note(target: str, value: Any) -> None:
            names = {str(s) for s in getattr(value, "free_symbols", ())}
            if (names - thetas) & model_ids:  # a parameter id that is also a model id means the parameter
                depends[target] = set(thetas)
            elif names & thetas:
                depends.setdefault(target, set()).update(names & thetas)

        for k, e in spec.model_parameters.items():
            note(k, e)
        for exp in spec.experiments.values():
            for period in exp.periods:
                for ch in (*period.changes, *period.before_init):
                    note(ch.target, ch.value)
        sm = SensitivityModel(problem.model.sbml_model, self.simulation_parameters, set(depends),
                              list(self._columns), depends=depends)
        try:
            sim = Simulator.compile(sm.sbml(), ModelStructure.from_model(sm.model), cache=False,
                                    source=f"the sensitivity model of {problem.source}")
        except SbmlError as err:
            raise SimulationError(str(err)) from err
        logger.info("%s: sensitivity model with %d states x %d parameters compiled, %d of the %d state "
                    "sensitivities structurally zero", problem.source, len(sm.states), len(sm.thetas),
                    int((~sm.s_live).sum()), sm.s_live.size)
        self._sens_runner = SensitivityRunner(
            sm, sim, problem.entities, spec.model_parameters, [problem.entities.selection(n) for n in self._columns],
            integrator=self.options.integrator, steady_state=self.options.steady_state)
        return self._sens_runner

    def state_sensitivities(self, x: np.ndarray | None = None) -> dict[int, np.ndarray]:
        """``d(model values)/d x_j`` (rows of :meth:`simulate`) for estimated parameters that enter the simulation.

        Keys are indices into ``x``.  Route (``ObjectiveOptions.gradient``):
        ``sensitivities`` integrates the forward sensitivity equations, generated
        symbolically into an augmented SBML model compiled once per objective
        (see ``_sensitivity``); ``finite_differences`` takes central
        differences of the simulation (step ``1e-4 * max(|x_j|, 1e-3)``).
        """
        x = self.x_nominal if x is None else np.asarray(x, dtype=float).ravel()
        ids = self.problem.x_free_ids
        idx = [ids.index(p) for p in self.simulation_parameters]
        if not idx:
            return {}
        if self.options.gradient == "finite_differences":
            out = {}
            for j in idx:
                h = 1e-4 * max(abs(float(x[j])), 1e-3)
                xp, xm = x.copy(), x.copy()
                xp[j] += h
                xm[j] -= h
                out[j] = (self.simulate(xp) - self.simulate(xm)) / (2.0 * h)
            return out
        runner = self._sensitivity_runner()
        params = self.problem.parameter_values(x)
        meas = self.problem.spec.measurements
        ncol, nth = len(self._columns), len(idx)
        sens = np.full((len(meas), ncol, nth), np.nan)
        for eid, rows in self._exp_rows.items():
            values = runner.run(self.problem.spec.experiments[eid], params, self._exp_times[eid])
            sens[rows] = values[self._time_index[rows], ncol:].reshape(len(rows), ncol, nth)
        free = {p.id: p for p in self.problem.spec.parameters if p.estimate}
        return {j: sens[:, :, k] * scale_derivative(free[ids[j]].scale, params[ids[j]]) for k, j in enumerate(idx)}

    def gradient(self, x: np.ndarray | None = None) -> np.ndarray:
        """Gradient of :meth:`__call__` with respect to ``x`` (estimated parameters on their scales)."""
        return self.value_and_gradient(x)[1]

    def value_and_gradient(self, x: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """``(objective(x), gradient(x))``; ``(inf, NaN...)`` where the simulation fails."""
        value, grad, _ = self._derivatives(x, fim=False)
        return value, grad

    def value_gradient_fim(self, x: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
        """``(objective(x), gradient(x), F)``: ``F`` the Fisher information matrix, a Hessian approximation.

        ``F`` (on the parameters' scales, the chain rule through ``log``/``log10``
        applied to the sensitivities) is built from the same forward sensitivities
        as the gradient, with :func:`~qsp_sbml.petab.llh.fisher_factors` of
        ``ObjectiveOptions.fim`` (``gauss-newton``, AMICI's convention, by default);
        with priors, the exact Hessian of the negative log-prior is added.  Where the
        simulation fails: ``(inf, NaN..., NaN...)``.
        """
        value, grad, fim = self._derivatives(x, fim=True)
        return value, grad, np.asarray(fim, dtype=float)

    def _derivatives(self, x: np.ndarray | None, *, fim: bool,
                     ) -> tuple[float, np.ndarray, np.ndarray | None]:
        x = self.x_nominal if x is None else np.asarray(x, dtype=float).ravel()
        spec = self.problem.spec
        meas = spec.measurements
        free = [p for p in spec.parameters if p.estimate]
        nfree = len(free)
        nan_grad = np.full(nfree, np.nan)
        nan_fim = np.full((nfree, nfree), np.nan) if fim else None
        try:
            params = self.problem.parameter_values(x)
            model_values = self.simulate(x)
            result = self._evaluate_at(params, model_values)
            value = -(result.llh + (result.log_prior if self.options.priors else 0.0))
            if not math.isfinite(value):
                return math.inf, nan_grad, nan_fim
            sens = self.state_sensitivities(x)
        except SimulationError as err:
            logger.warning("simulation failed at x=%s: %s", list(x), err)
            return math.inf, nan_grad, nan_fim
        if self._derivs is None:
            self._derivs = [ObservableDerivatives(ev) for ev in self._obs_evals]
        dscale = np.array([scale_derivative(p.scale, params[p.id]) for p in free])
        grad = np.zeros(nfree)
        info = np.zeros((nfree, nfree)) if fim else None
        y = result.simulated
        for ev, der in zip(self._obs_evals, self._derivs, strict=True):
            rows = ev.rows
            _, sigma = ev(model_values, meas.time, params)
            m = meas.measurement[rows]
            a, b = log_likelihood_derivatives(m, y[rows], sigma, distribution=ev.obs.distribution,
                                              transformation=ev.obs.transformation)
            dy_dm, ds_dm, dy_dp, ds_dp = der(model_values, meas.time, params)
            # sensitivities of the simulation (sy) and of sigma (ss) of each row to each x_j
            sy = np.zeros((len(rows), nfree))
            ss = np.zeros((len(rows), nfree))
            for j, dm in sens.items():
                sy[:, j] = np.sum(dy_dm * dm[rows], axis=1)
                ss[:, j] = np.sum(ds_dm * dm[rows], axis=1)
            for j, p in enumerate(free):
                if p.id in dy_dp:
                    sy[:, j] += dy_dp[p.id] * dscale[j]
                if p.id in ds_dp:
                    ss[:, j] += ds_dp[p.id] * dscale[j]
            grad += a @ sy + b @ ss
            if info is not None:
                for u, v in fisher_factors(m, y[rows], sigma, distribution=ev.obs.distribution,
                                           transformation=ev.obs.transformation, kind=self.options.fim):
                    jac = u[:, None] * sy + v[:, None] * ss
                    info += jac.T @ jac
        if self.options.priors:
            for j, p in enumerate(free):
                if p.prior is not None:
                    grad[j] += prior_derivative(p.prior.log_density, params[p.id]) * dscale[j]
                    if info is not None:
                        info[j, j] -= prior_second_derivative(p.prior.log_density, p.scale, params[p.id])
        return value, -grad, info
