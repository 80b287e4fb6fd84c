"""Inter-individual variability, covariate effects and posterior draws.

- :func:`lognormal_iiv`: ``theta_i = theta_typ * exp(eta_i)``, ``eta_i ~ N(0, Omega)``; Omega from CVs
  (``omega^2 = ln(1 + CV^2)``, the exact variance of ln theta for a log-normal with that CV) and an optional
  correlation matrix, or given directly as a covariance matrix of the etas.
- :class:`PowerCovariate`: ``theta_i *= (covariate_i / reference) ^ exponent`` (e.g. allometric exponents
  0.75 for clearances and 1 for volumes).
- :func:`read_draws` / :func:`sample_draws`: parameter sets drawn from a posterior sample (``theta_i ~
  p(theta | D)``), given as a table of draws (columns = parameter ids, linear scale).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qsp_sbml.errors import PopulationError

__all__ = ["PowerCovariate", "apply_covariates", "iiv_covariance", "lognormal_iiv", "read_draws", "sample_draws"]

SeedLike = int | np.random.Generator | None


def _rng(seed: SeedLike) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def iiv_covariance(names: Sequence[str], *, cv: Mapping[str, float] | None = None,
                   correlation: Sequence[Sequence[float]] | np.ndarray | None = None,
                   omega: Sequence[Sequence[float]] | np.ndarray | None = None) -> np.ndarray:
    """Covariance matrix Omega of the log-scale random effects of ``names``.

    Give either ``cv`` (coefficient of variation per parameter, as a fraction) with an optional
    ``correlation`` matrix, or ``omega`` itself.

    >>> np.round(iiv_covariance(["CL"], cv={"CL": 0.3}), 6)
    array([[0.086178]])
    """
    k = len(names)
    if omega is not None:
        if cv is not None or correlation is not None:
            raise PopulationError("give either omega or cv (+ correlation), not both")
        om = np.asarray(omega, dtype=float)
        if om.shape != (k, k):
            raise PopulationError(f"omega must be {k}x{k} for parameters {list(names)}, got shape {om.shape}")
    else:
        if cv is None:
            raise PopulationError("give cv (per parameter) or omega")
        missing = [n for n in names if n not in cv]
        if missing or set(cv) - set(names):
            raise PopulationError(f"cv must have exactly the parameters {list(names)}, got {sorted(cv)}")
        sd = np.empty(k)
        for i, n in enumerate(names):
            c = float(cv[n])
            if not (math.isfinite(c) and c >= 0):
                raise PopulationError(f"cv of {n!r} must be a fraction >= 0, got {cv[n]!r}")
            sd[i] = math.sqrt(math.log1p(c * c))
        corr = np.eye(k) if correlation is None else np.asarray(correlation, dtype=float)
        if corr.shape != (k, k):
            raise PopulationError(f"correlation must be {k}x{k} for parameters {list(names)}, got shape {corr.shape}")
        if not np.allclose(np.diag(corr), 1.0) or np.any(np.abs(corr) > 1 + 1e-12):
            raise PopulationError("correlation must have ones on the diagonal and entries in [-1, 1]")
        om = corr * np.outer(sd, sd)
    if not np.allclose(om, om.T, atol=1e-12):
        raise PopulationError("the covariance matrix must be symmetric")
    if np.min(np.linalg.eigvalsh(om)) < -1e-10:
        raise PopulationError("the covariance matrix must be positive semi-definite")
    return om


def lognormal_iiv(typical: Mapping[str, float] | pd.DataFrame, n: int | None = None, *, seed: SeedLike = None,
                  cv: Mapping[str, float] | None = None,
                  correlation: Sequence[Sequence[float]] | np.ndarray | None = None,
                  omega: Sequence[Sequence[float]] | np.ndarray | None = None,
                  names: Sequence[str] | None = None) -> pd.DataFrame:
    """Individual parameters ``theta_i = theta_typ,i * exp(eta_i)``, ``eta_i ~ N(0, Omega)``.

    Parameters
    ----------
    typical
        Typical values (one per parameter), or a table with one row per subject (e.g. posterior draws
        or covariate-adjusted values) whose columns ``names`` get the random effects.
    n
        Number of subjects (only with a mapping ``typical``).
    seed
        Seed or generator.
    cv, correlation, omega
        See :func:`iiv_covariance`.
    names
        The parameters with variability (default: the keys of ``cv``, else all of ``typical``).

    Examples
    --------
    >>> df = lognormal_iiv({"CL": 2.0, "V": 30.0}, 4, seed=1, cv={"CL": 0.3, "V": 0.2})
    >>> df.shape
    (4, 2)
    """
    if isinstance(typical, pd.DataFrame):
        if n is not None and n != len(typical):
            raise PopulationError(f"n={n} differs from the {len(typical)} rows of the typical-value table")
        base = typical.reset_index(drop=True).copy()
    else:
        if not (isinstance(n, int) and n > 0):
            raise PopulationError(f"n must be a positive integer, got {n!r}")
        base = pd.DataFrame({k: np.full(n, float(v)) for k, v in typical.items()})
    names = list(names) if names is not None else (list(cv) if cv is not None else list(base.columns))
    missing = [p for p in names if p not in base.columns]
    if missing:
        raise PopulationError(f"no typical value for parameter(s) {missing}")
    om = iiv_covariance(names, cv=cv, correlation=correlation, omega=omega)
    eta = _rng(seed).multivariate_normal(np.zeros(len(names)), om, size=len(base), method="eigh")
    for j, p in enumerate(names):
        base[p] = base[p].to_numpy(dtype=float) * np.exp(eta[:, j])
    return base


@dataclass(frozen=True, kw_only=True)
class PowerCovariate:
    """``parameter *= (covariate / reference) ** exponent`` for each subject.

    >>> PowerCovariate(parameter="CL", covariate="weight_kg", reference=70.0, exponent=0.75).factor(140.0)
    1.681792830507429
    """

    parameter: str
    covariate: str
    reference: float
    exponent: float

    def __post_init__(self) -> None:
        """Check the reference value."""
        if not (math.isfinite(self.reference) and self.reference > 0):
            raise PopulationError(f"covariate effect on {self.parameter!r}: reference must be > 0, "
                                  f"got {self.reference!r}")

    def factor(self, value: float | np.ndarray) -> float | np.ndarray:
        """The multiplier for covariate ``value``."""
        return (np.asarray(value, dtype=float) / self.reference) ** self.exponent if isinstance(value, np.ndarray) \
            else float((value / self.reference) ** self.exponent)


def apply_covariates(parameters: pd.DataFrame, covariates: pd.DataFrame,
                     effects: Sequence[PowerCovariate]) -> pd.DataFrame:
    """Multiply parameter columns by their covariate effects (row i of both tables is subject i)."""
    if len(parameters) != len(covariates):
        raise PopulationError(f"{len(parameters)} parameter rows but {len(covariates)} covariate rows")
    out = parameters.reset_index(drop=True).copy()
    for e in effects:
        if e.parameter not in out.columns:
            raise PopulationError(f"covariate effect on unknown parameter {e.parameter!r}", column=e.parameter)
        if e.covariate not in covariates.columns:
            raise PopulationError(f"covariate effect on {e.parameter!r} needs column {e.covariate!r}",
                                  column=e.covariate)
        x = pd.to_numeric(covariates[e.covariate], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~(np.isfinite(x) & (x > 0)))
        if bad.size:
            raise PopulationError(f"{covariates[e.covariate].iloc[bad[0]]!r} is not a positive number",
                                  row=int(bad[0]) + 1, column=e.covariate)
        out[e.parameter] = out[e.parameter].to_numpy(dtype=float) * e.factor(x)
    return out


def read_draws(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Posterior draws (one row per draw, one column per parameter id, linear scale) from a table or file.

    Files: ``.parquet``, ``.tsv`` or ``.csv``.  Non-parameter bookkeeping columns ``draw``, ``chain``,
    ``lp``, ``log_posterior`` and ``neglogpost`` (as in ``qsp_sbml.calibrate.sample``'s draws) are dropped.
    Every value must be finite and positive (linear scale);
    errors name the 1-based row and the column.
    """
    name = "posterior draws"
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise PopulationError(f"no such file: {path}", source=name)
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix in (".tsv", ".csv", ".txt"):
            frame = pd.read_csv(path, sep="," if suffix == ".csv" else "\t")
        else:
            raise PopulationError(f"unknown format {suffix!r}: use .parquet, .tsv or .csv", source=name)
    frame = frame.drop(columns=[c for c in ("draw", "chain", "lp", "log_posterior", "neglogpost")
                                if c in frame.columns])
    if frame.empty or not len(frame.columns):
        raise PopulationError("no draws (an empty table)", source=name)
    for col in frame.columns:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if bad.size:
            raise PopulationError(f"{frame[col].iloc[bad[0]]!r} is not a positive finite number (draws are on the "
                                  "linear scale)", source=name, row=int(bad[0]) + 1, column=str(col))
        frame[col] = values
    return frame.reset_index(drop=True)


def sample_draws(draws: str | Path | pd.DataFrame, n: int, *, seed: SeedLike = None) -> pd.DataFrame:
    """``n`` parameter sets resampled uniformly with replacement from posterior draws.

    The result has a column ``draw`` (0-based row of the draw table) followed by the parameters.
    """
    if not (isinstance(n, int) and n > 0):
        raise PopulationError(f"n must be a positive integer, got {n!r}")
    table = read_draws(draws)
    idx = _rng(seed).integers(0, len(table), size=n)
    out = table.iloc[idx].reset_index(drop=True)
    out.insert(0, "draw", idx)
    return out
