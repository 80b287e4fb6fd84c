"""Our PEtab objective as a pyPESTO objective and problem (internal; imports pyPESTO).

Imported only by the functions of :mod:`qsp_sbml.calibrate` that need pyPESTO,
so that ``import qsp_sbml.calibrate`` stays light.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np

from qsp_sbml._optional import require
from qsp_sbml.errors import CalibrationError
from qsp_sbml.petab import PetabObjective

pypesto = require("pypesto", extra="calibrate")
from pypesto.C import FVAL, GRAD, HESS, MODE_FUN  # noqa: E402

_ObjectiveBase: Any = pypesto.objective.ObjectiveBase

__all__ = ["PetabPypestoObjective", "pypesto_problem"]

logger = logging.getLogger(__name__)

#: Objectives rebuilt in this process after unpickling, by (YAML path, options).
_WORKER_OBJECTIVES: dict[tuple[str, str], PetabObjective] = {}

#: Relative step of the central differences that stand in for NaN gradient entries.
FD_STEP = 1e-5


def _central_points(x: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray, float]:
    """``x`` moved by +h and -h along coordinate ``j`` (relative step ``FD_STEP``), and h."""
    h = FD_STEP * max(1.0, abs(float(x[j])))
    xp, xm = x.copy(), x.copy()
    xp[j] += h
    xm[j] -= h
    return xp, xm, h


class PetabPypestoObjective(_ObjectiveBase):
    """:class:`~qsp_sbml.petab.PetabObjective` behind pyPESTO's objective interface.

    Function values only call ``objective(x)``; gradients call
    ``objective(x, sensi=1)``; second order (``hess=True``) calls
    ``objective(x, sensi=2)`` and returns the Fisher information matrix as
    ``HESS`` (pyPESTO's convention for fides' hybrid schemes).  Where the value
    is finite but gradient entries are NaN (an undefined symbolic derivative,
    e.g. ``0/0`` at a zero state), those entries are replaced by central
    differences of the objective (relative step ``FD_STEP``), FIM rows and
    columns by central differences of the gradient, and a warning is logged once.
    """

    def __init__(self, objective: PetabObjective, *, hess: bool = False) -> None:
        super().__init__(x_names=objective.problem.x_free_ids)
        self.objective = objective
        self._nan_warned = False
        #: Tell pyPESTO's scipy wrapper that one call gives value and gradient (it would
        #: otherwise call the value and the gradient separately at each point).
        self.grad = True
        #: Whether second order (the FIM) is offered to pyPESTO.
        self.hess = hess
        #: Objective calls by kind (value only / value and gradient / with FIM), for benchmarks.
        self.n_calls = {"fval": 0, "grad": 0, "fim": 0, "fd_fallback": 0}

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the compiled model: workers re-read the problem from its YAML (once per process)."""
        state = dict(self.__dict__)
        objective = state.pop("objective")
        state["_reload"] = (objective.problem.source, objective.options)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore; the objective comes from the per-process cache or is rebuilt from the YAML."""
        source, options = state.pop("_reload")
        self.__dict__.update(state)
        key = (source, repr(options))
        if key not in _WORKER_OBJECTIVES:
            from qsp_sbml.petab import PetabProblem

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # already reported when the parent process loaded it
                problem = PetabProblem.from_yaml(source, guard=False)  # validated by the parent process
            _WORKER_OBJECTIVES[key] = PetabObjective(problem, options=options)
        self.objective = _WORKER_OBJECTIVES[key]

    def check_sensi_orders(self, sensi_orders: tuple[int, ...], mode: Any) -> bool:
        """Values and gradients in function mode; FIMs too when built with ``hess=True``."""
        orders = (0, 1, 2) if self.hess else (0, 1)
        return mode == MODE_FUN and all(o in orders for o in sensi_orders)

    def check_mode(self, mode: Any) -> bool:
        """Function mode only (no residuals)."""
        return bool(mode == MODE_FUN)

    def get_config(self) -> dict[str, Any]:
        """Configuration written to pyPESTO's HDF5 store."""
        return {"type": type(self).__name__, "problem": self.objective.problem.source,
                "priors": self.objective.options.priors}

    def call_unprocessed(self, x: np.ndarray, sensi_orders: tuple[int, ...], mode: Any, return_dict: bool,
                         **kwargs: Any) -> dict[str, Any]:
        """Evaluate the objective (and its gradient when order 1 is asked for)."""
        x = np.asarray(x, dtype=float)
        if 1 not in sensi_orders:
            self.n_calls["fval"] += 1
            return {FVAL: float(self.objective(x))}
        fim: np.ndarray | None = None
        if 2 in sensi_orders:
            self.n_calls["fim"] += 1
            fval, grad, fim = self.objective(x, sensi=2)
            fim = np.array(fim, dtype=float)
        else:
            self.n_calls["grad"] += 1
            fval, grad = self.objective(x, sensi=1)
        grad = self._fill_gradient(x, float(fval), np.array(grad, dtype=float))
        out: dict[str, Any] = {FVAL: float(fval), GRAD: grad}
        if fim is not None:
            out[HESS] = self._fill_fim(x, float(fval), fim)
        return out

    def _warn_once(self, what: str, bad: np.ndarray) -> None:
        if not self._nan_warned:
            logger.warning("%s: %s entries %s are not finite at a finite value; using central differences for "
                           "them", self.objective.problem.source, what, [self._x_names[j] for j in bad])
            self._nan_warned = True

    def _fill_gradient(self, x: np.ndarray, fval: float, grad: np.ndarray) -> np.ndarray:
        """Replace non-finite gradient entries (finite value) by central differences of the objective."""
        bad = np.flatnonzero(~np.isfinite(grad))
        if math.isfinite(fval) and bad.size:
            self._warn_once("gradient", bad)
            self.n_calls["fd_fallback"] += 1
            for j in bad:
                xp, xm, h = _central_points(x, int(j))
                grad[j] = (float(self.objective(xp)) - float(self.objective(xm))) / (2.0 * h)
        return grad

    def _fill_fim(self, x: np.ndarray, fval: float, fim: np.ndarray) -> np.ndarray:
        """Replace FIM rows/columns with non-finite entries (finite value) by central differences of the gradient."""
        # a NaN sensitivity of x_j spoils row and column j: the non-finite diagonal entries first,
        # then rows with non-finite entries outside those columns
        diag_bad = ~np.isfinite(np.diag(fim))
        row_bad = ~diag_bad & ~np.all(np.isfinite(fim) | diag_bad[None, :], axis=1)
        bad = np.flatnonzero(diag_bad | row_bad)
        if math.isfinite(fval) and bad.size:
            self._warn_once("FIM", bad)
            self.n_calls["fd_fallback"] += 1
            for j in bad:
                xp, xm, h = _central_points(x, int(j))
                gp = self._fill_gradient(xp, fval, np.array(self.objective(xp, sensi=1)[1], dtype=float))
                gm = self._fill_gradient(xm, fval, np.array(self.objective(xm, sensi=1)[1], dtype=float))
                col = (gp - gm) / (2.0 * h)
                fim[:, j] = col
                fim[j, :] = col
        return fim


def pypesto_problem(objective: PetabObjective, *, x_guesses: np.ndarray | None = None, hess: bool = False) -> Any:
    """A ``pypesto.Problem`` on the estimated parameters' scales, bounded by the parameter table.

    ``hess=True``: the objective offers its Fisher information matrix as Hessian.

    Raises
    ------
    CalibrationError
        A bound is not finite on the parameter's scale (e.g. ``lowerBound = 0``
        of a log-scaled parameter).
    """
    problem = objective.problem
    lb, ub = problem.lb, problem.ub
    ids = problem.x_free_ids
    for j, pid in enumerate(ids):
        if not (math.isfinite(lb[j]) and math.isfinite(ub[j]) and lb[j] < ub[j]):
            raise CalibrationError(f"{problem.source}: parameter {pid!r} has bounds [{lb[j]}, {ub[j]}] on its "
                                   "scale; calibration needs finite bounds with lowerBound < upperBound "
                                   "(a log-scaled parameter needs lowerBound > 0)")
    scales = [p.scale for p in problem.spec.parameters if p.estimate]
    return pypesto.Problem(PetabPypestoObjective(objective, hess=hess), lb=lb, ub=ub, x_names=ids, x_scales=scales,
                           x_guesses=None if x_guesses is None else np.atleast_2d(x_guesses),
                           copy_objective=False)
