"""The :class:`Cohort`: subjects x (covariates, genotypes, parameters), with its seed and provenance.

A cohort is one table, a row per subject: ``subject_id``, then covariate, genotype and parameter columns
(parameter columns are SBML ids, values in model units), and an optional ``weight`` (prevalence weight).
Which column is which, the seed and the provenance travel with the table in the Parquet file's key-value
metadata (key ``qsp_sbml.cohort``, JSON), so a cohort written and read back is the same cohort.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml._io import atomic_write_bytes
from qsp_sbml.errors import PopulationError

__all__ = ["METADATA_KEY", "Cohort"]

#: Parquet key-value metadata key holding the cohort's column kinds, seed and provenance (JSON).
METADATA_KEY = b"qsp_sbml.cohort"
_KINDS = ("covariates", "genotypes", "parameters")


@dataclass(frozen=True)
class Cohort:
    """A table of subjects with covariates, genotypes and model parameters.

    Examples
    --------
    >>> c = Cohort.from_parts(parameters=pd.DataFrame({"CL": [2.0, 3.0]}), seed=7)
    >>> c.n, c.parameter_columns, c.seed
    (2, ['CL'], 7)
    """

    #: One row per subject; first column ``subject_id``.
    table: pd.DataFrame
    #: Column names by kind: ``covariates``, ``genotypes``, ``parameters``.
    columns: Mapping[str, tuple[str, ...]]
    #: The seed the cohort was drawn with (None when not drawn or not recorded).
    seed: int | None = None
    #: Free-form provenance (how the cohort was made: spec, files, versions).
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check that the table and the column kinds agree."""
        if "subject_id" not in self.table.columns:
            raise PopulationError("a cohort table needs a subject_id column", column="subject_id")
        if self.table["subject_id"].duplicated().any():
            dup = self.table["subject_id"][self.table["subject_id"].duplicated()].iloc[0]
            raise PopulationError(f"duplicate subject_id {dup}", column="subject_id")
        unknown = set(self.columns) - set(_KINDS)
        if unknown:
            raise PopulationError(f"unknown column kind(s) {sorted(unknown)}; use {list(_KINDS)}")
        for kind, cols in self.columns.items():
            missing = [c for c in cols if c not in self.table.columns]
            if missing:
                raise PopulationError(f"{kind} column(s) {missing} are not in the table")

    # -- construction ----------------------------------------------------
    @classmethod
    def from_parts(cls, *, covariates: pd.DataFrame | None = None, genotypes: pd.DataFrame | None = None,
                   parameters: pd.DataFrame | None = None, weights: Sequence[float] | np.ndarray | None = None,
                   seed: int | None = None, provenance: Mapping[str, Any] | None = None) -> Cohort:
        """Join covariate, genotype and parameter tables row by row (row i = subject i).

        ``subject_id`` is taken from the covariates when they have one, else 1..n.
        """
        parts = [p for p in (covariates, genotypes, parameters) if p is not None]
        if not parts:
            raise PopulationError("a cohort needs at least one of covariates, genotypes, parameters")
        n = len(parts[0])
        if any(len(p) != n for p in parts):
            raise PopulationError(f"the parts have different numbers of rows: {[len(p) for p in parts]}")
        ids = (covariates["subject_id"].to_numpy() if covariates is not None and "subject_id" in covariates
               else np.arange(1, n + 1))
        frames = [pd.DataFrame({"subject_id": ids})]
        columns: dict[str, tuple[str, ...]] = {}
        seen = {"subject_id"}
        for kind, part in zip(_KINDS, (covariates, genotypes, parameters), strict=True):
            if part is None:
                continue
            part = part.reset_index(drop=True).drop(columns=[c for c in ("subject_id",) if c in part.columns])
            clash = seen & set(part.columns)
            if clash:
                raise PopulationError(f"column(s) {sorted(clash)} appear in more than one part of the cohort")
            seen |= set(part.columns)
            columns[kind] = tuple(str(c) for c in part.columns)
            frames.append(part)
        table = pd.concat(frames, axis=1)
        if weights is not None:
            table["weight"] = np.asarray(weights, dtype=float)
        return cls(table, columns, seed, dict(provenance or {}))

    # -- views -------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of subjects."""
        return len(self.table)

    @property
    def subject_ids(self) -> list[Any]:
        """The subject ids in row order."""
        return self.table["subject_id"].tolist()

    @property
    def parameter_columns(self) -> list[str]:
        """Names of the parameter columns (SBML ids)."""
        return list(self.columns.get("parameters", ()))

    def parameters(self) -> pd.DataFrame:
        """The parameter columns as floats, checked: errors name the 1-based row and the column."""
        out = {}
        for col in self.parameter_columns:
            values = pd.to_numeric(self.table[col], errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raw = self.table[col].iloc[bad[0]]
                raise PopulationError(f"parameter value {raw!r} is not a finite number", source="cohort",
                                      row=int(bad[0]) + 1, column=col, value=raw)
            out[col] = values
        return pd.DataFrame(out, index=self.table.index)

    def select(self, mask: np.ndarray | Sequence[bool]) -> Cohort:
        """The subjects where ``mask`` is true (subject ids kept)."""
        table = self.table[np.asarray(mask, dtype=bool)].reset_index(drop=True)
        return Cohort(table, self.columns, self.seed, self.provenance)

    # -- files -------------------------------------------------------------
    def _metadata(self) -> dict[str, Any]:
        from qsp_sbml import __version__

        return {"format": 1, "qsp_sbml_version": __version__, "seed": self.seed,
                "columns": {k: list(v) for k, v in self.columns.items()}, "provenance": dict(self.provenance)}

    def to_parquet(self, path: str | Path) -> Path:
        """Write the cohort atomically to a Parquet file with its metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.table, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[METADATA_KEY] = json.dumps(self._metadata(), default=_json_default).encode()
        table = table.replace_schema_metadata(meta)
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def read_parquet(cls, path: str | Path) -> Cohort:
        """Read a cohort written by :meth:`to_parquet` (or any Parquet table with ``subject_id``).

        Without cohort metadata every column but ``subject_id`` and ``weight`` is taken as a parameter.
        """
        import pyarrow.parquet as pq

        path = Path(path)
        if not path.is_file():
            raise PopulationError(f"no such file: {path}", source=str(path))
        try:
            table = pq.read_table(path)
        except Exception as err:  # pyarrow raises ArrowInvalid / OSError variants
            raise PopulationError(f"not a readable Parquet file: {err}", source=str(path)) from err
        raw = (table.schema.metadata or {}).get(METADATA_KEY)
        frame = table.to_pandas()
        if raw is None:
            cols = tuple(c for c in frame.columns if c not in ("subject_id", "weight"))
            meta: dict[str, Any] = {"columns": {"parameters": cols}, "seed": None, "provenance": {}}
        else:
            meta = json.loads(raw)
        try:
            return cls(frame, {k: tuple(v) for k, v in meta["columns"].items()}, meta.get("seed"),
                       meta.get("provenance", {}))
        except PopulationError as err:
            raise PopulationError(str(err), source=str(path)) from err


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not math.isfinite(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
