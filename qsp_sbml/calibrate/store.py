"""Calibration results: pyPESTO's HDF5 store (``pypesto.store``) and the results folder of a calibration."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qsp_sbml._optional import require
from qsp_sbml.errors import CalibrationError

__all__ = ["CalibrationRun", "load", "save"]


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


@dataclass(frozen=True)
class CalibrationRun:
    """The results folder of a calibration (``qsp-sbml calibrate --out DIR``), written and read from Python.

    ``summary`` is ``summary.json`` (best value and point, counts, optimiser, seed, time), ``starts`` the
    table of starts (``starts.tsv``) and ``result`` the pyPESTO result (``result.h5``; ``None`` when it was
    not saved).
    """

    summary: dict[str, Any]
    starts: Any
    result: Any = None
    #: The folder read from or written to.
    folder: Path | None = None

    #: Files of the folder (``fit.png`` only when the objective was given to :meth:`to_folder`).
    FILES = ("summary.json", "starts.tsv", "result.h5", "waterfall.png", "fit.png")

    def to_folder(self, path: str | os.PathLike[str], *, objective: Any = None,
                  best_x_scaled: Any = None) -> CalibrationRun:
        """Write the folder ``path``; ``objective`` and ``best_x_scaled`` add ``fit.png``.

        The files are built in a temporary folder that replaces ``path`` whole when all are written: on an
        error ``path`` is left as it was.
        """
        from qsp_sbml._io import atomic_folder, atomic_write_text
        from qsp_sbml.calibrate import plots

        with atomic_folder(path) as tmp:
            if self.result is not None:
                save(self.result, tmp / "result.h5")
            atomic_write_text(tmp / "starts.tsv", self.starts.to_csv(sep="\t", index=False))
            plots.plot_waterfall(self.starts, tmp / "waterfall.png")
            if objective is not None and best_x_scaled is not None:
                plots.plot_fit(objective, best_x_scaled, tmp / "fit.png")
            atomic_write_text(tmp / "summary.json", json.dumps(self.summary, indent=2) + "\n")
        return CalibrationRun(self.summary, self.starts, self.result, Path(path))

    @classmethod
    def from_folder(cls, path: str | os.PathLike[str], *, result: bool = True) -> CalibrationRun:
        """Read a results folder; ``result=False`` skips the pyPESTO store (needs the ``calibrate`` extra).

        Raises :class:`~qsp_sbml.errors.CalibrationError` naming a missing or unreadable file.
        """
        import pandas as pd

        folder = Path(path)
        for name in ("summary.json", "starts.tsv"):
            if not (folder / name).is_file():
                raise CalibrationError(f"{folder}: not a calibration results folder ({name} is missing; write one "
                                       "with qsp-sbml calibrate or CalibrationRun.to_folder)")
        try:
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            starts = pd.read_csv(folder / "starts.tsv", sep="\t")
        except (OSError, ValueError) as err:
            raise CalibrationError(f"{folder}: cannot read the calibration results: {err}") from None
        stored = load(folder / "result.h5") if result and (folder / "result.h5").is_file() else None
        return cls(summary, starts, stored, folder)
