"""Posterior sampling with adaptive parallel tempering (``pypesto.sample``).

The sampled density is the posterior of the PEtab problem: the likelihood
times the parameter table's priors (``ObjectiveOptions(priors=True)``),
restricted to the bounds (pyPESTO rejects proposals outside them; without a
prior this is a uniform prior on the parameter's scale).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml._optional import require
from qsp_sbml.errors import CalibrationError
from qsp_sbml.petab import PetabObjective

__all__ = ["SamplingResult", "sample"]


@dataclass
class SamplingResult:
    """Outcome of :func:`sample`."""

    #: Posterior draws after burn-in (chain at temperature 1), LINEAR scale, one
    #: column per estimated parameter id plus ``neglogpost``.
    draws: pd.DataFrame
    #: Burn-in (iterations dropped, from pyPESTO's Geweke test, or as given).
    burn_in: int
    #: The pyPESTO result holding the full traces of every chain.
    pypesto_result: Any
    #: Seed of the run.
    seed: int | None


def sample(
    objective: PetabObjective,
    *,
    n_samples: int,
    seed: int | None = 0,
    x0: np.ndarray | None = None,
    n_chains: int = 3,
    burn_in: int | None = None,
) -> SamplingResult:
    """Sample the posterior with pyPESTO's adaptive parallel tempering (adaptive Metropolis inside).

    Parameters
    ----------
    objective
        Our PEtab objective; a copy with priors switched on is sampled.
    n_samples
        Iterations of each chain.
    seed
        Seed of the sampler's random numbers (numpy's global generator is
        seeded for the run and restored afterwards: pyPESTO draws from it).
    x0
        Start on the parameters' scales (default: nominal values), e.g. the
        best multistart point.
    n_chains
        Number of tempered chains.
    burn_in
        Iterations to drop; ``None``: pyPESTO's Geweke test decides.
    """
    pypesto_sample = require("pypesto.sample", extra="calibrate")
    from qsp_sbml.calibrate._adapter import pypesto_problem

    if n_samples < 2:
        raise CalibrationError(f"n_samples must be at least 2, got {n_samples}")
    problem = objective.problem
    posterior = objective if objective.options.priors else PetabObjective(
        problem, options=replace(objective.options, priors=True))
    x0 = objective.x_nominal if x0 is None else np.asarray(x0, dtype=float)
    if not math.isfinite(posterior(x0)):
        raise CalibrationError(f"{problem.source}: the posterior is not finite at the start point {list(x0)}")
    pproblem = pypesto_problem(posterior)
    sampler = pypesto_sample.AdaptiveParallelTemperingSampler(
        internal_sampler=pypesto_sample.AdaptiveMetropolisSampler(), n_chains=n_chains,
        options={"show_progress": False})
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        result = pypesto_sample.sample(pproblem, n_samples=n_samples, sampler=sampler, x0=x0)
        if burn_in is None:
            pypesto_sample.geweke_test(result)
            burn_in = int(result.sample_result.burn_in or 0)
    finally:
        np.random.set_state(state)
    trace = np.asarray(result.sample_result.trace_x[0], dtype=float)[burn_in:]
    free = [p for p in problem.spec.parameters if p.estimate]
    draws = pd.DataFrame({p.id: [p.unscale(float(v)) for v in trace[:, j]] for j, p in enumerate(free)})
    draws["neglogpost"] = np.asarray(result.sample_result.trace_neglogpost[0], dtype=float)[burn_in:]
    return SamplingResult(draws=draws, burn_in=burn_in, pypesto_result=result, seed=seed)
