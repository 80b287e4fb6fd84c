"""Power by simulation, probability of success (assurance) and sample-size search.

A trial is described by two callables: ``generate(n, rng) -> DataFrame`` draws the per-subject
outcomes of one trial with ``n`` subjects per arm, and ``analyse(data) -> AnalysisResult | bool``
analyses it (``True``/significant = success). Power is the success fraction over ``n_sim``
replicate trials, reported with its Monte Carlo standard error sqrt(p(1-p)/n_sim).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from qsp_sbml.trial.analysis import t_test
>>> def generate(n, rng):
...     return pd.DataFrame({"arm": ["T"] * n + ["C"] * n,
...                          "y": np.r_[rng.normal(0.5, 1, n), rng.normal(0, 1, n)]})
>>> res = simulated_power(generate, lambda d: t_test(d, outcome="y", treatment="T", control="C"),
...                       n=64, n_sim=200, seed=1)
>>> 0.6 < res.power < 0.95
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial._checks import normalise_rng
from qsp_sbml.trial.analysis import AnalysisResult

__all__ = ["PowerResult", "SampleSizeResult", "assurance", "sample_size_search", "simulated_power"]

Generate = Callable[[int, np.random.Generator], pd.DataFrame]
Analyse = Callable[[pd.DataFrame], "AnalysisResult | bool"]


@dataclass(frozen=True, kw_only=True)
class PowerResult:
    """Success probability estimated from replicate simulated trials."""

    #: Fraction of replicate trials that succeeded.
    power: float
    #: Monte Carlo standard error sqrt(power (1 - power) / n_sim).
    se: float
    #: Replicates and subjects per arm.
    n_sim: int
    n: int
    seed: int | None

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """Normal-approximation Monte Carlo interval ``power ± z se``."""
        return self.power - z * self.se, self.power + z * self.se


@dataclass(frozen=True, kw_only=True)
class SampleSizeResult:
    """Power curve over sample sizes and the smallest size reaching the target."""

    #: Columns ``n``, ``power``, ``se``.
    curve: pd.DataFrame
    target: float
    #: Smallest ``n`` of the grid whose estimated power is >= target (``None`` if none).
    n: int | None


def _success(outcome: AnalysisResult | bool) -> bool:
    if isinstance(outcome, AnalysisResult):
        return outcome.significant()
    if isinstance(outcome, bool | np.bool_):
        return bool(outcome)
    raise TrialDesignError(
        f"analyse must return an AnalysisResult or a bool, got {type(outcome).__name__}", field="analyse"
    )


def _check_counts(n: int, n_sim: int) -> None:
    if int(n) < 1:
        raise TrialDesignError(f"must be a positive integer, got {n!r}", field="n", value=n)
    if int(n_sim) < 1:
        raise TrialDesignError(f"must be a positive integer, got {n_sim!r}", field="n_sim", value=n_sim)


def _seed_of(seed: int | np.random.Generator | None) -> int | None:
    return seed if isinstance(seed, int) else None


def simulated_power(
    generate: Generate, analyse: Analyse, *, n: int, n_sim: int = 1000,
    seed: int | np.random.Generator | None = None,
) -> PowerResult:
    """Power of a design by simulation: the fraction of ``n_sim`` simulated trials that succeed."""
    _check_counts(n, n_sim)
    rng = normalise_rng(seed)
    wins = sum(_success(analyse(generate(int(n), rng))) for _ in range(int(n_sim)))
    p = wins / n_sim
    return PowerResult(power=p, se=math.sqrt(p * (1 - p) / n_sim), n_sim=int(n_sim), n=int(n), seed=_seed_of(seed))


def assurance(
    generate: Callable[[int, np.random.Generator, object], pd.DataFrame], analyse: Analyse,
    prior: Callable[[np.random.Generator], object], *, n: int, n_sim: int = 1000,
    seed: int | np.random.Generator | None = None,
) -> PowerResult:
    """Probability of success (assurance): power averaged over draws from a design prior.

    Each replicate draws the true effect ``theta = prior(rng)`` (e.g. from the posterior of an
    earlier trial or a QSP-model prediction) and simulates one trial ``generate(n, rng, theta)``
    (O'Hagan, Stevens & Campbell 2005, Pharm Stat 4:187-201).
    """
    _check_counts(n, n_sim)
    rng = normalise_rng(seed)
    wins = 0
    for _ in range(int(n_sim)):
        theta = prior(rng)
        wins += _success(analyse(generate(int(n), rng, theta)))
    p = wins / n_sim
    return PowerResult(power=p, se=math.sqrt(p * (1 - p) / n_sim), n_sim=int(n_sim), n=int(n), seed=_seed_of(seed))


def sample_size_search(
    generate: Generate, analyse: Analyse, *, n_grid: Sequence[int], target: float = 0.8, n_sim: int = 1000,
    seed: int | np.random.Generator | None = None,
) -> SampleSizeResult:
    """Power curve over ``n_grid`` (subjects per arm) and the smallest ``n`` with power >= ``target``.

    Every grid point uses its own stream spawned from ``seed``, so adding a grid point does not
    change the others.
    """
    if not 0 < target < 1:
        raise TrialDesignError(f"must be in (0, 1), got {target!r}", field="target", value=target)
    grid = sorted({int(v) for v in n_grid})
    if not grid:
        raise TrialDesignError("needs at least one sample size", field="n_grid")
    base = np.random.SeedSequence(seed if isinstance(seed, int) else None) if not isinstance(
        seed, np.random.Generator) else np.random.SeedSequence(int(seed.integers(2**63)))
    rows = []
    for n, child in zip(grid, base.spawn(len(grid)), strict=True):
        res = simulated_power(generate, analyse, n=n, n_sim=n_sim, seed=np.random.default_rng(child))
        rows.append({"n": n, "power": res.power, "se": res.se})
    curve = pd.DataFrame(rows)
    hit = curve.loc[curve["power"] >= target, "n"]
    return SampleSizeResult(curve=curve, target=target, n=int(hit.iloc[0]) if len(hit) else None)
