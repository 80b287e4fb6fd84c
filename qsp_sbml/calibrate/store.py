"""Calibration results in pyPESTO's HDF5 store (``pypesto.store``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from qsp_sbml._optional import require
from qsp_sbml.errors import CalibrationError

__all__ = ["load", "save"]


def _pypesto_result(result: Any) -> Any:
    return getattr(result, "pypesto_result", result)


def save(result: Any, path: str | os.PathLike[str]) -> Path:
    """Write a pyPESTO result (or a :class:`MultistartResult`) to an HDF5 file, atomically.

    The problem, the optimisation and, when present, profiles and samples are
    written; an existing file at ``path`` is replaced only once the new one is
    complete.
    """
    store = require("pypesto.store", extra="calibrate")
    res = _pypesto_result(result)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp.h5", dir=target.parent)
    os.close(fd)
    try:
        store.write_result(res, tmp, overwrite=True, problem=True, optimize=True,
                           profile=bool(res.profile_result.list), sample=res.sample_result is not None
                           and getattr(res.sample_result, "trace_x", None) is not None)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load(path: str | os.PathLike[str]) -> Any:
    """Read a pyPESTO result written by :func:`save` (problem, optimisation, profiles, samples present)."""
    store = require("pypesto.store", extra="calibrate")
    h5py = require("h5py", extra="calibrate")
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as f:
            groups = set(f.keys())
    except OSError as err:
        raise CalibrationError(f"{path}: not an HDF5 file: {err}") from None
    return store.read_result(path, problem="problem" in groups, optimize="optimization" in groups,
                             profile="profiling" in groups, sample="sampling" in groups)
