"""Sensitivity indices from a design's outputs (SALib analyzers), with bootstrap intervals.

- Morris (``SALib.analyze.morris``): mean of the absolute elementary effects mu* (Campolongo, Cariboni &
  Saltelli 2007), their mean mu and standard deviation sigma (Morris 1991), on the unit-quantile scale of
  each factor; bootstrap interval of mu*.
- Sobol (``SALib.analyze.sobol``): first-order indices with the Saltelli et al. (2010) estimator
  (Comput Phys Commun 181:259, Table 2 (b)) and total-order indices with Jansen's estimator (Jansen 1999;
  Saltelli et al. 2010 Table 2 (f)); bootstrap confidence intervals (``num_resamples`` resamples of the N base
  rows).  The convergence check by doubling N compares the indices of the first N/2 base rows (a valid
  Saltelli design of size N/2: the Sobol' sequence's first N/2 points) with those of all N.

Every index row is ``output, time, factor, index, value, ci_low, ci_high`` (``time`` is NaN unless the output
is a trajectory).  The bootstrap uses its own seed, derived from the design seed, so the same seed gives the
same intervals.

Examples
--------
>>> import numpy as np
>>> from qsp_sbml.sensitivity.design import sample
>>> from qsp_sbml.sensitivity.spec import ParameterSpec
>>> d = sample([ParameterSpec(id=k, lower=0, upper=1) for k in "ab"], method="sobol", n=256, seed=3)
>>> y = d.values[:, 0] + 0.1 * d.values[:, 1]
>>> t = indices(d, y)
>>> round(float(t.query("factor == 'a' and index == 'ST'").value.iloc[0]), 2)
0.99
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from qsp_sbml.sensitivity.design import Design
from qsp_sbml.sensitivity.spec import SensitivityError

__all__ = ["COLUMNS", "convergence", "indices"]

#: Columns of an index table.
COLUMNS = ["output", "time", "factor", "index", "value", "ci_low", "ci_high"]


def _bootstrap_seed(seed: int) -> int:
    # SALib's sobol analyzer treats seed 0 as "no seed" (unseeded intervals): derive a positive one
    return int(np.random.SeedSequence([seed, 0x5A1]).generate_state(1)[0]) or 1


def _problem(design: Design) -> dict[str, object]:
    return {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in design.problem.items()}


def indices(
    design: Design,
    y: np.ndarray | Sequence[float],
    *,
    output: str = "y",
    time: float = float("nan"),
    num_resamples: int = 1000,
    conf_level: float = 0.95,
    base_rows: int | None = None,
) -> pd.DataFrame:
    """Morris or Sobol indices of one output ``y`` (one value per design row).

    ``base_rows`` restricts a Sobol analysis to the first base rows (the convergence check).
    """
    y = np.asarray(y, dtype=float)
    if y.shape != (design.n_runs,):
        raise SensitivityError(f"output {output!r}: {y.shape} values for {design.n_runs} design rows")
    bad = ~np.isfinite(y)
    if bad.any():
        first = int(np.argmax(bad))
        detail = ", ".join(f"{p}={v:.4g}" for p, v in zip(design.parameters, design.values[first], strict=True))
        raise SensitivityError(
            f"output {output!r}: {int(bad.sum())} of {len(y)} runs gave no finite value "
            f"(first: run {first}, {detail}); narrow the ranges or fix the failing runs"
        )
    rows: list[dict[str, object]] = []

    def add(factor: str, index: str, value: float, half: float | None) -> None:
        lo, hi = (value - half, value + half) if half is not None and np.isfinite(half) else (np.nan, np.nan)
        rows.append(
            {
                "output": output,
                "time": time,
                "factor": factor,
                "index": index,
                "value": float(value),
                "ci_low": float(lo),
                "ci_high": float(hi),
            }
        )

    seed = _bootstrap_seed(design.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SALib warns on constant outputs; they give zero indices
        if design.method == "morris":
            from SALib.analyze import morris

            res = morris.analyze(
                _problem(design),
                design.unit,
                y,
                num_resamples=num_resamples,
                conf_level=conf_level,
                num_levels=design.num_levels,
                seed=seed,
            )
            for k, name in enumerate(res["names"]):
                add(str(name), "mu_star", res["mu_star"][k], res["mu_star_conf"][k])
                add(str(name), "mu", res["mu"][k], None)
                add(str(name), "sigma", res["sigma"][k], None)
        else:
            from SALib.analyze import sobol

            k = len(design.factors) + 2
            if base_rows is not None:
                y = y[: base_rows * k]
            res = sobol.analyze(
                _problem(design),
                y,
                calc_second_order=False,
                num_resamples=num_resamples,
                conf_level=conf_level,
                seed=seed,
            )
            for j, name in enumerate(design.factors):
                add(name, "S1", res["S1"][j], res["S1_conf"][j])
                add(name, "ST", res["ST"][j], res["ST_conf"][j])
    return pd.DataFrame(rows, columns=COLUMNS)


def convergence(design: Design, y: np.ndarray, *, output: str = "y", time: float = float("nan")) -> pd.DataFrame:
    """Sobol indices at N/2 and N side by side: ``factor, index, value_half, value, change``.

    A change much larger than the bootstrap interval says N is too small.
    """
    if design.method != "sobol":
        raise SensitivityError("the convergence check by doubling N applies to Sobol designs")
    full = indices(design, y, output=output, time=time, num_resamples=100)
    half = indices(design, y, output=output, time=time, num_resamples=100, base_rows=design.n // 2)
    out = full[["output", "time", "factor", "index", "value"]].copy()
    out.insert(4, "value_half", half["value"].to_numpy())
    out["change"] = out["value"] - out["value_half"]
    return out
