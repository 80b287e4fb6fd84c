"""From analysis to calibration: a PEtab problem with the non-influential parameters fixed at nominal values.

Parameters whose total-order Sobol index stays below a threshold for every analysed output (the "factor
fixing" setting of Saltelli et al. 2008, Global Sensitivity Analysis: The Primer, section 4.4 and Sobol' et al.
2007 Reliab Eng Syst Saf 92:957, where the error of fixing a factor is bounded by its total index) are fixed the
PEtab way: ``estimate = 0`` in the parameter table, so the objective uses their ``nominalValue``.  Everything
else of the problem is copied unchanged; the new problem is written to a folder atomically.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"output": "auc", "time": float("nan"), "factor": ["CL", "V", "ka"],
...                   "index": "ST", "value": [0.8, 0.15, 0.01], "ci_low": 0.0, "ci_high": 1.0})
>>> below_threshold(t, threshold=0.05)
['ka']
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from qsp_sbml._io import atomic_folder
from qsp_sbml.sensitivity.spec import SensitivityError

__all__ = ["FixedProblem", "below_threshold", "fix_insensitive"]


def below_threshold(
    table: pd.DataFrame, *, threshold: float, outputs: Sequence[str] | None = None, use_upper: bool = False
) -> list[str]:
    """Factors whose ST is below ``threshold`` for every scalar output (``use_upper``: the interval's upper end)."""
    if not 0 < threshold < 1:
        raise SensitivityError(f"threshold must be in (0, 1), got {threshold!r}")
    st = table[(table["index"] == "ST") & table["time"].isna()]
    if outputs is not None:
        unknown = sorted(set(outputs) - set(st["output"]))
        if unknown:
            raise SensitivityError(f"no total-order indices for output(s) {unknown}; have {sorted(set(st['output']))}")
        st = st[st["output"].isin(list(outputs))]
    if st.empty:
        raise SensitivityError("the table has no total-order (ST) indices of scalar outputs: run a Sobol analysis")
    worst = st.groupby("factor", sort=False)["ci_high" if use_upper else "value"].max()
    return [str(f) for f, v in worst.items() if v < threshold]


@dataclass(frozen=True)
class FixedProblem:
    """What :func:`fix_insensitive` did."""

    #: The new problem's YAML file.
    yaml: Path
    #: Parameter ids now fixed (estimate = 0).
    fixed: list[str]
    #: Analysed parameters kept free.
    kept: list[str]
    #: Estimated parameters of the problem that the analysis did not cover (left as they were).
    not_analysed: list[str]
    #: Analysed parameters the parameter table does not have.
    not_in_problem: list[str]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _referenced(config: Mapping[str, Any]) -> list[str]:
    """Every file a PEtab v1 or v2 YAML names."""
    files: list[str] = []
    for key in ("parameter_file", "parameter_files"):
        files += _as_list(config.get(key))
    for problem in config.get("problems") or []:
        for key, value in problem.items():
            if key.endswith("_files"):
                files += _as_list(value)
    for entry in (config.get("model_files") or {}).values():
        if isinstance(entry, Mapping) and "location" in entry:
            files.append(str(entry["location"]))
    for key in ("condition_files", "experiment_files", "observable_files", "measurement_files", "mapping_files"):
        files += _as_list(config.get(key))
    return files


def fix_insensitive(
    problem_yaml: str | Path,
    indices: pd.DataFrame,
    out: str | Path,
    *,
    threshold: float,
    mapping: Mapping[str, Iterable[str]] | None = None,
    outputs: Sequence[str] | None = None,
    use_upper: bool = False,
) -> FixedProblem:
    """Copy a PEtab problem to ``out`` with the parameters below ``threshold`` (ST) fixed at their nominal values.

    Parameters
    ----------
    problem_yaml
        The PEtab problem (v1 or v2 YAML); every file it names must lie in its folder, which is copied.
    indices
        An index table (:attr:`qsp_sbml.sensitivity.GsaResult.indices`) with ST rows.
    out
        New problem folder (replaced whole).
    threshold
        Fix a parameter when its ST is below this for every output considered.
    mapping
        Factor -> PEtab parameter ids, for grouped factors (a fixed group fixes all its parameters) and for model
        ids whose PEtab parameter has another id (``{"Vc": ["V"]}``); other factors are PEtab ids as they are.
    outputs
        The outputs to consider (default: every scalar output of the table).
    use_upper
        Compare the upper end of the bootstrap interval instead of the estimate (more conservative).
    """
    src = Path(problem_yaml)
    if not src.is_file():
        raise SensitivityError(f"{src}: no such PEtab problem file")
    try:
        config = yaml.safe_load(src.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SensitivityError(f"{src}: not valid YAML: {err}") from None
    if not isinstance(config, dict):
        raise SensitivityError(f"{src}: a PEtab problem YAML is a mapping")
    base = src.parent.resolve()
    for name in _referenced(config):
        path = (base / name).resolve()
        if not path.is_relative_to(base):
            raise SensitivityError(f"{src}: {name} lies outside the problem's folder; copy the problem into one folder")
        if not path.is_file():
            raise SensitivityError(f"{src}: names {name}, which does not exist")
    tables = _as_list(config.get("parameter_file")) + _as_list(config.get("parameter_files"))
    if not tables:
        raise SensitivityError(f"{src}: no parameter_file / parameter_files entry")
    factors = below_threshold(indices, threshold=threshold, outputs=outputs, use_upper=use_upper)
    members = {g: list(ids) for g, ids in (mapping or {}).items()}
    to_fix = [p for f in factors for p in members.get(f, [f])]
    analysed = [p for f in dict.fromkeys(indices["factor"]) for p in members.get(str(f), [str(f)])]
    frames = {}
    for name in tables:
        df = pd.read_csv(base / name, sep="\t", dtype=str, keep_default_na=False)
        for col in ("parameterId", "estimate", "nominalValue"):
            if col not in df.columns:
                raise SensitivityError(f"{base / name}: the parameter table has no {col} column")
        frames[name] = df
    ids = {pid: name for name, df in frames.items() for pid in df["parameterId"]}
    estimated = {
        pid
        for df in frames.values()
        for pid, est in zip(df["parameterId"], df["estimate"], strict=True)
        if est.strip() in ("1", "true", "True")
    }
    fixed = [p for p in to_fix if p in ids]
    for p in fixed:
        df = frames[ids[p]]
        row = df.index[df["parameterId"] == p][0]
        if df.at[row, "nominalValue"].strip() == "":
            raise SensitivityError(f"{base / ids[p]}: parameter {p!r} has no nominalValue to be fixed at")
        df.at[row, "estimate"] = "0"
    with atomic_folder(out) as tmp:
        shutil.copytree(base, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*", "__pycache__", "*.pyc"))
        for name, df in frames.items():
            df.to_csv(tmp / name, sep="\t", index=False)
    return FixedProblem(
        yaml=Path(out) / src.name,
        fixed=fixed,
        kept=[p for p in analysed if p in ids and p not in fixed],
        not_analysed=sorted(estimated - set(analysed)),
        not_in_problem=[p for p in analysed if p not in ids],
    )
