"""Benchmark PEtab problems: llh at nominal parameters against a reference, optional small calibration.

A problem folder holds a PEtab YAML (a YAML with ``format_version``).  The
reference is, in this order: ``reference_llh.yaml`` in the problem folder or
its parent, keyed by problem name (the folder name, else the YAML stem) with
an ``llh`` entry; or ``simulatedData_*.tsv`` in the problem folder (then the
simulations at nominal parameters are compared).  Pass:
``numpy.isclose(ours, reference, rtol=1e-3, atol=1e-3)`` (every simulation).
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from qsp_sbml.errors import CalibrationError

__all__ = ["COLUMNS", "RTOL", "benchmark_problem", "find_problems", "run_benchmark"]

logger = logging.getLogger(__name__)

#: Tolerances of the pass criterion (AMICI's benchmark-model regression test).
RTOL = ATOL = 1e-3
#: Columns of the benchmark table, in order.
COLUMNS = ["problem", "status", "llh", "reference_llh", "max_abs_diff", "best_fval", "n_converged",
           "n_starts", "time_s", "error", "path"]
_KEYS = ["observableId", "simulationConditionId", "preequilibrationConditionId", "experimentId", "time"]


def _petab_yaml(folder: Path) -> Path | None:
    candidates = []
    for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and "format_version" in data:
            candidates.append(path)
    for path in candidates:
        if path.stem == folder.name:
            return path
    return candidates[0] if candidates else None


def find_problems(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """PEtab YAML files in ``paths`` (each a problem folder, a YAML file, or a folder of problem folders).

    Raises
    ------
    CalibrationError
        A path does not exist or holds no PEtab problem.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise CalibrationError(f"{path}: no such file or folder")
        own = _petab_yaml(path)
        if own is not None:
            found.append(own)
            continue
        sub = [y for d in sorted(p for p in path.iterdir() if p.is_dir()) if (y := _petab_yaml(d)) is not None]
        if not sub:
            raise CalibrationError(f"{path}: no PEtab problem (a YAML with format_version) in it or in its "
                                   "subfolders")
        found += sub
    return found


def _problem_name(yaml_path: Path) -> str:
    return yaml_path.parent.name if _petab_yaml(yaml_path.parent) == yaml_path else yaml_path.stem


def reference_llh(yaml_path: Path) -> float | None:
    """The reference llh of a problem from a ``reference_llh.yaml`` beside it (or one folder up)."""
    names = {yaml_path.parent.name, yaml_path.stem}
    for folder in (yaml_path.parent, yaml_path.parent.parent):
        ref = folder / "reference_llh.yaml"
        if not ref.is_file():
            continue
        data = yaml.safe_load(ref.read_text()) or {}
        for name in names:
            entry = data.get(name)
            if isinstance(entry, dict) and "llh" in entry:
                return float(entry["llh"])
            if isinstance(entry, int | float):
                return float(entry)
    return None


def compare_simulations(ours: pd.DataFrame, reference: pd.DataFrame) -> tuple[float, bool]:
    """Max abs difference and pass flag of our simulation table against a ``simulatedData`` table.

    Rows are aligned on the keys both tables have (observable, conditions or
    experiment, time) and their order of occurrence; reference rows without a
    measurement are ignored; a measurement without a reference row fails.
    """
    keys = [k for k in _KEYS if k in ours.columns and k in reference.columns]
    if "observableId" not in keys or "time" not in keys:
        raise CalibrationError("simulatedData table lacks observableId or time")

    def keyed(df: pd.DataFrame) -> pd.DataFrame:
        out = df[keys].copy()
        for k in keys:
            out[k] = out[k].round(10) if k == "time" else out[k].fillna("").astype(str).replace("nan", "")
        out["_k"] = out.groupby(keys).cumcount()
        out["simulation"] = pd.to_numeric(df["simulation"], errors="coerce").to_numpy()
        return out

    merged = keyed(ours).merge(keyed(reference), on=[*keys, "_k"], how="left", suffixes=("", "_ref"))
    a = merged["simulation"].to_numpy(float)
    b = merged["simulation_ref"].to_numpy(float)
    if np.any(np.isnan(b)):
        return math.inf, False
    diff = float(np.max(np.abs(a - b))) if len(a) else 0.0
    return diff, bool(np.all(np.isclose(a, b, rtol=RTOL, atol=ATOL)))


def benchmark_problem(yaml_path: Path, *, starts: int = 0, seed: int = 0, optimizer: str = "fides",
                      progress: bool | None = False) -> dict[str, Any]:
    """One row of the benchmark table (errors become ``status == "error"`` with the message)."""
    import qsp_sbml.petab as qp

    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(problem=_problem_name(yaml_path), path=str(yaml_path), n_starts=starts)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unit warnings of published models
            problem = qp.PetabProblem.from_yaml(yaml_path)
        objective = qp.PetabObjective(problem)
        result = objective.evaluate()
        row["llh"] = result.llh
        ref = reference_llh(yaml_path)
        sim_files = sorted(yaml_path.parent.glob("simulatedData_*.tsv"))
        if ref is not None:
            row["reference_llh"] = ref
            row["status"] = "pass" if bool(np.isclose(result.llh, ref, rtol=RTOL, atol=ATOL)) else "fail"
        elif sim_files:
            diff, ok = compare_simulations(result.simulations, pd.read_csv(sim_files[0], sep="\t"))
            row["max_abs_diff"] = diff
            row["status"] = "pass" if ok else "fail"
        else:
            row["status"] = "no-reference"
        if starts > 0:
            from qsp_sbml.calibrate.multistart import multistart

            ms = multistart(objective, n_starts=starts, seed=seed, optimizer=optimizer, progress=progress)
            row["best_fval"] = ms.best_fval
            row["n_converged"] = ms.n_converged()
    except Exception as err:
        logger.warning("%s: %s", yaml_path, err)
        row["status"] = "error"
        row["error"] = f"{type(err).__name__}: {err}".replace("\n", " ")[:500]
    row["time_s"] = time.perf_counter() - t0
    return row


def run_benchmark(paths: list[str | os.PathLike[str]], *, starts: int = 0, seed: int = 0,
                  optimizer: str = "fides", progress: bool | None = None) -> pd.DataFrame:
    """The benchmark table of every problem under ``paths`` (see :func:`find_problems`).

    ``progress``: a tqdm bar over the problems (``None``: on a terminal only).
    """
    from qsp_sbml.log import progress as bar

    problems = find_problems(paths)
    rows = [benchmark_problem(p, starts=starts, seed=seed, optimizer=optimizer, progress=False)
            for p in bar(problems, enable=progress, total=len(problems), desc="problems")]
    return pd.DataFrame(rows, columns=COLUMNS)
