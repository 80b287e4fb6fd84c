"""Multistart local optimisation of a PEtab objective with pyPESTO (fides or scipy L-BFGS-B).

Start points are drawn uniformly within the parameter table's bounds on the
parameters' scales from ``numpy.random.default_rng(seed)``, so a seed fixes
them whatever the engine.  A start that fails (the simulation fails, the value
is not finite, the optimiser raises) is a row with ``status == "failed"`` and
its message; the run goes on.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from qsp_sbml._optional import require
from qsp_sbml.errors import CalibrationError
from qsp_sbml.petab import PetabObjective, PetabProblem

__all__ = ["MultistartResult", "make_engine", "make_optimizer", "multistart", "start_points"]

logger = logging.getLogger(__name__)

Optimizer = Literal["fides", "L-BFGS-B"]
#: Optimisers :func:`multistart` accepts.
OPTIMIZERS: tuple[str, ...] = ("fides", "fides-sr1", "fides-fim", "fides-hybrid", "L-BFGS-B")
#: Optimisers that use the objective's Fisher information matrix (``objective(x, sensi=2)``).
FIM_OPTIMIZERS: tuple[str, ...] = ("fides-fim", "fides-hybrid")


def start_points(problem: PetabProblem, n_starts: int, seed: int | np.random.Generator | None) -> np.ndarray:
    """``n_starts`` points uniform within the bounds on the parameters' scales (rows: starts).

    Examples
    --------
    >>> import qsp_sbml.petab as qp
    >>> from qsp_sbml import resources
    >>> problem = qp.PetabProblem.from_yaml(resources.PETAB_PK_IV, guard=False)
    >>> x = start_points(problem, 3, seed=1)
    >>> x.shape == (3, len(problem.x_free_ids)), bool(np.all((x >= problem.lb) & (x <= problem.ub)))
    (True, True)
    """
    if n_starts < 1:
        raise CalibrationError(f"the number of starts must be at least 1, got {n_starts}")
    lb, ub = problem.lb, problem.ub
    bad = [pid for pid, lo, hi in zip(problem.x_free_ids, lb, ub, strict=True)
           if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi)]
    if bad:
        raise CalibrationError(f"{problem.source}: parameters {bad} need finite bounds with lowerBound < "
                               "upperBound on their scale (a log-scaled parameter needs lowerBound > 0)")
    rng = np.random.default_rng(seed)
    return np.asarray(lb + rng.random((n_starts, len(lb))) * (ub - lb), dtype=float)


def make_optimizer(optimizer: str, *, max_iter: int = 1000) -> Any:
    """The pyPESTO optimiser for ``optimizer``.

    ``"fides"``: trust region with a BFGS Hessian approximation; ``"fides-sr1"``: the same with SR1 (on
    Boehm_JProteomeRes2014 8 of 50 seeded starts reach the optimum vs 2-3 with BFGS, README "Calibrate");
    ``"fides-fim"``: the objective's Fisher information matrix as Hessian at every iteration
    (Gauss-Newton); ``"fides-hybrid"``: the FIM first, BFGS after 20 iterations without a change of the
    trust-region radius (``fides.HybridFixed``, pyPESTO's default when a FIM is available); ``"L-BFGS-B"``:
    scipy.
    """
    po = require("pypesto.optimize", extra="calibrate")
    if optimizer.startswith("fides") and optimizer in OPTIMIZERS:
        fides = require("fides", extra="calibrate")
        update = {"fides": fides.BFGS, "fides-sr1": fides.SR1, "fides-fim": lambda: None,
                  "fides-hybrid": lambda: fides.HybridFixed(fides.BFGS())}[optimizer]()
        return po.FidesOptimizer(hessian_update=update, options={"maxiter": max_iter}, verbose=logging.WARNING)
    if optimizer == "L-BFGS-B":
        return po.ScipyOptimizer(method="L-BFGS-B", options={"maxiter": max_iter})
    raise CalibrationError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_engine(engine: str | int | Any | None) -> Any:
    """A pyPESTO engine from ``None``/``"serial"``, a number of processes, ``"dask[://HOST:PORT]"`` or an engine.

    An engine of :mod:`qsp_sbml.engine` maps to pyPESTO's single-core or multi-process engine, a
    :class:`~qsp_sbml.distributed.DaskEngine` to its adapter; a pyPESTO engine object is used as is.
    """
    pe = require("pypesto.engine", extra="calibrate")
    from qsp_sbml.engine import Engine, ProcessEngine, as_engine

    if isinstance(engine, str) and (engine == "dask" or engine.startswith("dask://")):
        engine = as_engine(engine)
    if isinstance(engine, Engine):
        from qsp_sbml.distributed import DaskEngine, pypesto_engine

        if isinstance(engine, DaskEngine):
            return pypesto_engine(engine)
        if isinstance(engine, ProcessEngine) and engine.n_workers > 1:
            return pe.MultiProcessEngine(n_procs=engine.n_workers, method=engine.start_method)
        return pe.SingleCoreEngine()
    if engine is None or engine == "serial":
        return pe.SingleCoreEngine()
    if isinstance(engine, int) and not isinstance(engine, bool):
        if engine < 1:
            raise CalibrationError(f"number of processes must be at least 1, got {engine}")
        return pe.SingleCoreEngine() if engine == 1 else pe.MultiProcessEngine(n_procs=engine)
    if isinstance(engine, str):
        raise CalibrationError(f"unknown engine {engine!r}: use 'serial', a number of processes or a pyPESTO engine")
    return engine


@dataclass
class MultistartResult:
    """Outcome of :func:`multistart`."""

    #: The pyPESTO result (problem and optimize result), e.g. for :func:`qsp_sbml.calibrate.save`.
    pypesto_result: Any
    #: One row per start in start order: ``start``, ``status``, ``message``, ``fval``,
    #: ``n_fval``, ``n_grad``, ``time``, then the final point on the LINEAR scale
    #: (one column per estimated parameter id).
    starts: pd.DataFrame
    #: Estimated parameter ids.
    x_ids: list[str]
    #: Optimiser name.
    optimizer: str
    #: Seed of the start points.
    seed: int | None
    #: Wall time of the optimisation, seconds.
    wall_time_s: float
    #: Extra figures (e.g. objective call counts in serial runs).
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> pd.DataFrame:
        """Starts with a finite final value."""
        return self.starts[np.isfinite(self.starts["fval"].to_numpy(float))]

    @property
    def best_fval(self) -> float:
        """Lowest final objective value (``inf`` when every start failed)."""
        ok = self.ok
        return float(ok["fval"].min()) if len(ok) else math.inf

    @property
    def best_x(self) -> dict[str, float]:
        """Best point, linear scale, by parameter id (empty when every start failed)."""
        ok = self.ok
        if not len(ok):
            return {}
        k = int(np.argmin(ok["fval"].to_numpy(float)))
        return {pid: float(ok[pid].iloc[k]) for pid in self.x_ids}

    @property
    def best_x_scaled(self) -> np.ndarray:
        """Best point on the parameters' scales."""
        best = self.pypesto_result.optimize_result.list[0]
        return np.asarray(best.x, dtype=float)

    def n_converged(self, tol: float = 0.1) -> int:
        """Starts whose final value is within ``tol`` of the best."""
        fval = self.starts["fval"].to_numpy(float)
        return int(np.sum(np.isfinite(fval) & (fval <= self.best_fval + tol)))

    def summary(self, tol: float = 0.1) -> dict[str, Any]:
        """JSON-ready summary: best value and point (linear scale), counts, wall time."""
        return {"best_fval": self.best_fval if math.isfinite(self.best_fval) else None,
                "best_x": self.best_x, "n_starts": len(self.starts), "n_converged": self.n_converged(tol),
                "n_failed": int((self.starts["status"] == "failed").sum()), "converged_tol": tol,
                "optimizer": self.optimizer, "seed": self.seed, "wall_time_s": self.wall_time_s, **self.info}


def _status(res: Any, optimizer: str) -> tuple[str, str]:
    """``converged`` (the optimiser's own criterion), ``stopped`` (a limit, finite value) or ``failed``."""
    message = str(res.message or "")
    if res.fval is None or not math.isfinite(float(res.fval)):
        return "failed", message or "objective value not finite"
    flag = None if res.exitflag is None else int(res.exitflag)
    if optimizer.startswith("fides"):  # fides.ExitFlag: > 0 convergence criteria, < 0 limits and errors
        if flag == -3:
            return "failed", message
        return ("converged" if flag is not None and flag > 0 else "stopped"), message
    if optimizer == "L-BFGS-B" and flag == -1:  # pyPESTO's flag for an exception (scipy's are >= 0)
        return "failed", message
    return ("converged" if flag == 0 else "stopped"), message


def starts_table(pypesto_result: Any, problem: PetabProblem, optimizer: str) -> pd.DataFrame:
    """One row per start (start order) from a pyPESTO optimize result; ``x`` on the linear scale."""
    ids = problem.x_free_ids
    rows = []
    for res in pypesto_result.optimize_result.list:
        status, message = _status(res, optimizer)
        x = res.x if res.x is not None else res.x0
        lin = problem.parameter_values(np.asarray(x, dtype=float)) if x is not None else {}
        fval = float(res.fval) if res.fval is not None and math.isfinite(float(res.fval)) else math.inf
        rows.append({"start": int(res.id), "status": status, "message": message.replace("\n", " ")[:500],
                     "fval": fval, "n_fval": int(res.n_fval or 0), "n_grad": int(res.n_grad or 0),
                     "time": float(res.time or 0.0), **{pid: float(lin.get(pid, math.nan)) for pid in ids}})
    return pd.DataFrame(rows).sort_values("start").reset_index(drop=True)


def _show_progress(progress: bool | None) -> bool:
    import sys

    return sys.stderr.isatty() if progress is None else bool(progress)


def multistart(
    objective: PetabObjective,
    *,
    n_starts: int,
    seed: int | None = 0,
    optimizer: str = "fides",
    engine: str | int | Any | None = "serial",
    x_starts: np.ndarray | None = None,
    max_iter: int = 1000,
    progress: bool | None = None,
) -> MultistartResult:
    """Minimise ``objective`` from ``n_starts`` start points.

    Parameters
    ----------
    objective
        Our PEtab objective (its ``options.priors`` decides whether priors count).
    n_starts
        Number of starts.
    seed
        Seed of the uniform start points (ignored for starts given in ``x_starts``).
    optimizer
        One of ``OPTIMIZERS`` (see :func:`make_optimizer`): ``"fides"`` (trust region, BFGS
        Hessian approximation), ``"fides-sr1"``, ``"fides-fim"``, ``"fides-hybrid"`` or ``"L-BFGS-B"``.
    engine
        ``"serial"`` (default), a number of processes, or a pyPESTO engine.
    x_starts
        Start points on the parameters' scales (rows); they come first, random
        points fill up to ``n_starts``.
    max_iter
        Iteration limit of each local optimisation.
    progress
        pyPESTO's progress bar over the starts (tqdm); ``None``: on a terminal only.

    Returns
    -------
    MultistartResult

    Examples
    --------
    >>> import qsp_sbml.petab as qp
    >>> from qsp_sbml import resources
    >>> objective = qp.PetabObjective(qp.PetabProblem.from_yaml(resources.PETAB_PK_IV, guard=False))
    >>> result = multistart(objective, n_starts=2, seed=1, optimizer="L-BFGS-B")
    >>> list(result.starts["status"])
    ['converged', 'converged']
    """
    from qsp_sbml.calibrate._adapter import pypesto_problem

    po = require("pypesto.optimize", extra="calibrate")
    problem = objective.problem
    if optimizer not in OPTIMIZERS:
        raise CalibrationError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    starts = start_points(problem, n_starts, seed)
    if x_starts is not None:
        given = np.atleast_2d(np.asarray(x_starts, dtype=float))
        if given.shape[1] != len(problem.x_free_ids) or len(given) > n_starts:
            raise CalibrationError(f"x_starts must have at most {n_starts} rows of {len(problem.x_free_ids)} values "
                                   f"({problem.x_free_ids}), got shape {given.shape}")
        starts[: len(given)] = given
    pproblem = pypesto_problem(objective, x_guesses=starts, hess=optimizer in FIM_OPTIMIZERS)
    t0 = time.perf_counter()
    result = po.minimize(pproblem, optimizer=make_optimizer(optimizer, max_iter=max_iter), n_starts=n_starts,
                         ids=[str(i) for i in range(n_starts)], engine=make_engine(engine),
                         progress_bar=_show_progress(progress),
                         options=po.OptimizeOptions(allow_failed_starts=True))
    wall = time.perf_counter() - t0
    table = starts_table(result, problem, optimizer)
    n_failed = int((table["status"] == "failed").sum())
    if n_failed:
        logger.warning("%s: %d of %d starts failed", problem.source, n_failed, n_starts)
    info = {"objective_calls": dict(pproblem.objective.n_calls)} if engine in (None, "serial", 1) else {}
    return MultistartResult(result, table, problem.x_free_ids, optimizer, seed, wall, info)
