"""Helpers the library's disease modules share: cited values, observed tables, the shipped model."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from qsp_sbml.errors import QspError
from qsp_sbml.resources import project_models_dir

if TYPE_CHECKING:
    from qsp_sbml.model import Model

__all__ = ["Value", "read_observed", "shipped_model"]


@dataclass(frozen=True)
class Value:
    """A number with its unit and source."""

    value: float
    unit: str
    source: str


def read_observed(file: str | Path, columns: Iterable[str]) -> pd.DataFrame:
    """Read a tab-separated observed table (``#`` comments) that must have ``columns``.

    A relative ``file`` is resolved under ``models/``.  Raises
    :class:`~qsp_sbml.errors.QspError` naming the file when it cannot be read or
    lacks a column.
    """
    path = Path(file) if Path(file).is_absolute() else project_models_dir() / file
    try:
        frame = pd.read_csv(path, sep="\t", comment="#")
    except (OSError, pd.errors.ParserError) as exc:
        raise QspError(f"{path}: cannot read the observed table ({exc}); restore it from git or the model card") \
            from exc
    need = set(columns)
    missing = need - set(frame.columns)
    if missing:
        raise QspError(f"{path}: columns {sorted(missing)} missing; expected {sorted(need)}")
    return frame


@functools.lru_cache(maxsize=8)
def shipped_model(relative: str) -> Model:
    """The shipped module ``models/<relative>``, loaded (and compiled) once per process."""
    from qsp_sbml import load_model

    return load_model(project_models_dir() / Path(relative))
