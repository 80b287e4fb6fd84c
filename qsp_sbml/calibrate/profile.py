"""Profile likelihoods (``pypesto.profile``) of chosen parameters around a multistart optimum."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml._optional import require
from qsp_sbml.calibrate.multistart import MultistartResult, make_engine, make_optimizer
from qsp_sbml.errors import CalibrationError

__all__ = ["CONFIDENCE_RATIO_95", "profile", "profile_intervals"]

#: Likelihood ratio at the boundary of a pointwise 95% confidence interval:
#: ``exp(-chi2_{1, 0.95} / 2)`` with ``chi2_{1, 0.95} = 3.841459`` (Wilks' theorem).
CONFIDENCE_RATIO_95 = math.exp(-3.841458820694124 / 2.0)


def profile(
    result: MultistartResult,
    parameters: Sequence[str],
    *,
    optimizer: str = "L-BFGS-B",
    engine: str | int | Any | None = "serial",
    ratio_min: float = 0.03,
) -> pd.DataFrame:
    """Profile likelihoods of ``parameters`` from the best start of ``result``.

    The profiles are added to ``result.pypesto_result`` (so :func:`save` stores
    them) and returned as a table: ``parameter``, ``value`` (on the parameter's
    scale), ``value_linear``, ``fval`` and ``ratio`` (likelihood ratio to the
    optimum, 1 at the optimum), sorted by parameter and value.

    Parameters
    ----------
    result
        A multistart result (the best start is the profiles' anchor).
    parameters
        Estimated parameter ids to profile.
    optimizer
        Optimiser of the profile's inner fits (``"L-BFGS-B"`` or ``"fides"``).
    engine
        ``"serial"``, a number of processes or a pyPESTO engine.
    ratio_min
        Each profile stops where the ratio falls below this (or at the bounds).
    """
    pp = require("pypesto.profile", extra="calibrate")
    ids = result.x_ids
    unknown = [p for p in parameters if p not in ids]
    if unknown or not parameters:
        raise CalibrationError(f"cannot profile {unknown or 'no parameters'}: choose among the estimated "
                               f"parameters {ids}")
    if not math.isfinite(result.best_fval):
        raise CalibrationError("every start failed; there is no optimum to profile from")
    index = [ids.index(p) for p in parameters]
    pres = result.pypesto_result
    pp.parameter_profile(problem=pres.problem, result=pres, optimizer=make_optimizer(optimizer),
                         engine=make_engine(engine), profile_index=index,
                         profile_options=pp.ProfileOptions(ratio_min=ratio_min), progress_bar=False)
    scales = list(pres.problem.x_scales)
    rows = []
    for j in index:
        prof = pres.profile_result.list[-1][j]
        values = np.asarray(prof.x_path, dtype=float)[j]
        for v, f, r in zip(values, prof.fval_path, prof.ratio_path, strict=True):
            lin = math.exp(v) if scales[j] == "log" else 10.0**v if scales[j] == "log10" else v
            rows.append({"parameter": ids[j], "value": float(v), "value_linear": float(lin), "fval": float(f),
                         "ratio": float(r)})
    return pd.DataFrame(rows).sort_values(["parameter", "value"]).reset_index(drop=True)


def profile_intervals(table: pd.DataFrame, *, ratio: float = CONFIDENCE_RATIO_95) -> pd.DataFrame:
    """Profile-likelihood confidence intervals (parameter scale) from a :func:`profile` table.

    Where the ratio crosses ``ratio`` (default: 95%) the bound is interpolated
    linearly between profile points; a side that never crosses is ``-inf`` or
    ``inf`` (not identifiable within the bounds on that side).

    Examples
    --------
    >>> t = pd.DataFrame({"parameter": "k", "value": [0.0, 1.0, 2.0], "ratio": [0.0, 1.0, 0.0]})
    >>> profile_intervals(t, ratio=0.5)[["lower", "upper"]].to_numpy().tolist()
    [[0.5, 1.5]]
    """
    rows = []
    for pid, grp in table.groupby("parameter", sort=False):
        v = grp["value"].to_numpy(float)
        r = grp["ratio"].to_numpy(float)
        k = int(np.argmax(r))
        lower, upper = -math.inf, math.inf
        for i in range(k, 0, -1):
            if r[i - 1] < ratio <= r[i]:
                lower = float(v[i - 1] + (ratio - r[i - 1]) * (v[i] - v[i - 1]) / (r[i] - r[i - 1]))
                break
        for i in range(k, len(v) - 1):
            if r[i + 1] < ratio <= r[i]:
                upper = float(v[i] + (r[i] - ratio) * (v[i + 1] - v[i]) / (r[i] - r[i + 1]))
                break
        rows.append({"parameter": pid, "optimum": float(v[k]), "lower": lower, "upper": upper})
    return pd.DataFrame(rows)
