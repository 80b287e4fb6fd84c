"""Input checks shared by the trial statistics (errors name the field)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from qsp_sbml.errors import TrialDesignError

__all__ = [
    "arm_values",
    "check_alpha",
    "check_allocation",
    "check_binary",
    "check_columns",
    "check_numeric",
    "normalise_rng",
]


def normalise_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a generator from a seed, a generator or ``None``."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def check_columns(data: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise naming the first column of ``columns`` missing from ``data``."""
    if not isinstance(data, pd.DataFrame):
        raise TrialDesignError(f"expected a pandas DataFrame, got {type(data).__name__}", field="data")
    for col in columns:
        if col not in data.columns:
            raise TrialDesignError(
                f"column {col!r} not in the data (columns: {', '.join(map(str, data.columns))})", field=col
            )


def check_alpha(alpha: float, field: str = "alpha") -> None:
    """Raise unless ``0 < alpha < 1``."""
    if not 0.0 < float(alpha) < 1.0:
        raise TrialDesignError(f"must be in (0, 1), got {alpha!r}", field=field, value=alpha)


def check_numeric(data: pd.DataFrame, column: str, *, what: str) -> np.ndarray:
    """Return ``data[column]`` as float, refusing non-numeric or missing values."""
    values = pd.to_numeric(data[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        raise TrialDesignError(
            f"{what} must be a finite number; row {row + 1} holds {data[column].iloc[row]!r}", field=column,
            value=data[column].iloc[row],
        )
    return values


def check_binary(data: pd.DataFrame, column: str, *, what: str) -> np.ndarray:
    """Return ``data[column]`` as 0/1 integers, refusing anything else."""
    raw = data[column]
    values = raw.astype(int).to_numpy() if raw.dtype == bool else check_numeric(data, column, what=what)
    bad = np.flatnonzero((values != 0) & (values != 1))
    if bad.size:
        row = int(bad[0])
        raise TrialDesignError(
            f"{what} must be binary (0/1 or True/False); row {row + 1} holds {raw.iloc[row]!r} "
            "(is this a continuous endpoint? use t_test or ancova for those)", field=column, value=raw.iloc[row],
        )
    return values.astype(int)


def arm_values(data: pd.DataFrame, arm: str, treatment: object, control: object) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the treatment and control rows; unknown arms are refused."""
    check_columns(data, [arm])
    present = list(pd.unique(data[arm]))
    for field, value in (("treatment", treatment), ("control", control)):
        if value not in present:
            raise TrialDesignError(
                f"arm {value!r} not found in column {arm!r} (arms present: {', '.join(map(repr, present))})",
                field=field, value=value,
            )
    if treatment == control:
        raise TrialDesignError("treatment and control are the same arm", field="treatment", value=treatment)
    col = data[arm].to_numpy()
    return col == treatment, col == control


def check_allocation(ratios: Sequence[float], n_arms: int, *, field: str = "allocation") -> np.ndarray:
    """Return allocation fractions that are positive and sum to 1 (within 1e-9), else raise."""
    arr = np.asarray(ratios, dtype=float)
    if arr.shape != (n_arms,):
        raise TrialDesignError(f"needs one fraction per arm ({n_arms}), got {len(arr)}", field=field, value=ratios)
    if np.any(~np.isfinite(arr)) or np.any(arr < 0):
        raise TrialDesignError(f"fractions must be finite and >= 0, got {list(arr)}", field=field, value=ratios)
    if abs(arr.sum() - 1.0) > 1e-9:
        raise TrialDesignError(
            f"fractions must sum to 1, they sum to {arr.sum():.6g} ({list(arr)})", field=field, value=ratios
        )
    return arr
