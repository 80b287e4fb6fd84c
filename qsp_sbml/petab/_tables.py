"""Checks of the PEtab table files as text, before petab parses them (internal).

petab's parsers and linter report most problems without a file or a row
(v1: ``AssertionError`` texts, v2: pydantic validation errors).  These checks
read every table as strings and refuse the same problems with the file, the
data row (1-based, header not counted), the physical line, the column and the
id.  Checks that need the model are made later by the readers; their errors
get the file and line from :meth:`RawTables.locate`.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from qsp_sbml.errors import PetabError, PetabWarning

__all__ = ["RawTable", "RawTables", "check_tables", "read_tables"]

_ID = re.compile(r"^[a-zA-Z_]\w*$")

#: kind -> (config key (v1 top level/problem, v2 top level), required columns (v1), required columns (v2)).
_KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "parameter": ("parameter_files", ("parameterId", "parameterScale", "lowerBound", "upperBound", "estimate"),
                  ("parameterId", "lowerBound", "upperBound", "estimate")),
    "observable": ("observable_files", ("observableId", "observableFormula", "noiseFormula"),
                   ("observableId", "observableFormula", "noiseFormula")),
    "measurement": ("measurement_files", ("observableId", "simulationConditionId", "time", "measurement"),
                    ("observableId", "time", "measurement")),
    "condition": ("condition_files", ("conditionId",), ("conditionId", "targetId", "targetValue")),
    "experiment": ("experiment_files", (), ("experimentId", "time", "conditionId")),
    "mapping": ("mapping_files", (), ("petabEntityId", "modelEntityId")),
}
_REQUIRED_FILES = {1: ("parameter", "observable", "measurement", "condition"),
                   2: ("parameter", "observable", "measurement")}
_V1_PRIORS = ("uniform", "normal", "laplace", "logNormal", "logLaplace", "parameterScaleUniform",
              "parameterScaleNormal", "parameterScaleLaplace")
#: v2 prior distribution -> number of parameters (petab/v2/lint.py, CheckPriorDistribution).
_V2_PRIORS = {"cauchy": 2, "chisquare": 1, "exponential": 1, "gamma": 2, "laplace": 2, "log-laplace": 2,
              "log-normal": 2, "log-uniform": 2, "normal": 2, "rayleigh": 1, "uniform": 2}


@dataclass
class RawTable:
    """One PEtab table read as strings (possibly from several files)."""

    kind: str
    df: pd.DataFrame
    #: per data row: (file, physical line).
    where: list[tuple[Path, int]]
    files: list[Path]

    def error(self, message: str, row: int | None = None, column: str | None = None) -> PetabError:
        """A PetabError at data ``row`` (1-based over all files) and ``column``."""
        if row is None or not 1 <= row <= len(self.where):
            return PetabError(message, table=self.kind, row=row, column=column,
                              file=", ".join(str(f) for f in self.files))
        file, line = self.where[row - 1]
        local = sum(1 for f, _ in self.where[:row] if f == file)
        return PetabError(message, table=self.kind, row=local, column=column, file=str(file), line=line)

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(1-based row, {column: stripped-free cell text}) for every data row."""
        for i, rec in enumerate(self.df.to_dict("records"), start=1):
            yield i, {str(k): str(v) for k, v in rec.items()}


@dataclass
class RawTables:
    """All tables of a problem, read as strings."""

    yaml: Path
    version: int
    tables: dict[str, RawTable]
    model_ids: tuple[str, ...] = ()

    def locate(self, err: PetabError) -> PetabError:
        """``err`` (from a reader: table and data row over all files) with file and line added."""
        if err.file is not None or err.table not in self.tables:
            return err
        return self.tables[err.table].error(err.detail, err.row, err.column)


def _read_one(path: Path, kind: str) -> tuple[pd.DataFrame, list[int]]:
    if not path.is_file():
        raise PetabError(f"{kind} table file {path} does not exist (fix its name in the YAML file)",
                         table="yaml", file=str(path))
    text = path.read_text()
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (ValueError, pd.errors.ParserError) as err:
        raise PetabError(f"not a tab-separated table: {err}", table=kind, file=str(path)) from None
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if line.strip("\r\n")]
    data_lines = lines[1:]
    if len(data_lines) != len(df):  # quoted newlines or the like: fall back to the data row
        data_lines = [i + 2 for i in range(len(df))]
    df.columns = [str(c) for c in df.columns]
    return df, data_lines


def _files(config: dict[str, Any], version: int, key: str) -> list[str]:
    if version == 1:
        if key == "parameter_files":
            value = config.get("parameter_file")
        else:
            problems = config.get("problems") or [{}]
            value = problems[0].get(key)
    else:
        value = config.get(key)
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def read_tables(config: dict[str, Any], version: int, yaml_path: Path) -> RawTables:
    """Read every table named by the YAML ``config`` as strings (refusing missing files and columns)."""
    base = yaml_path.parent
    tables = {}
    for kind, (key, req1, req2) in _KINDS.items():
        names = _files(config, version, key)
        if not names:
            if kind in _REQUIRED_FILES[version]:
                yaml_key = "parameter_file" if version == 1 and kind == "parameter" else key
                raise PetabError(f"no {kind} table: the YAML file needs {yaml_key!r} (a list of TSV files)",
                                 table="yaml", column=yaml_key, file=str(yaml_path))
            continue
        frames, where, files = [], [], []
        for name in names:
            path = base / name
            df, lines = _read_one(path, kind)
            required = req1 if version == 1 else req2
            for col in required:
                if col not in df.columns:
                    raise PetabError(f"required column {col!r} is missing (columns found: {list(df.columns)})",
                                     table=kind, column=col, file=str(path))
            frames.append(df)
            where += [(path, n) for n in lines]
            files.append(path)
        df = pd.concat(frames, ignore_index=True).fillna("") if len(frames) > 1 else frames[0]
        tables[kind] = RawTable(kind, df, where, files)
    model_ids: tuple[str, ...] = ()
    if version == 2:
        model_ids = tuple(str(k) for k in (config.get("model_files") or {}))
    return RawTables(yaml_path, version, tables, model_ids)


# --- row checks ---------------------------------------------------------------------------------


def _float(t: RawTable, row: int, col: str, text: str, what: str = "a number") -> float:
    try:
        return float(text)
    except ValueError:
        raise t.error(f"{text!r} is not {what}", row, col) from None


def _check_id(t: RawTable, row: int, col: str, value: str, *, optional: bool = False) -> None:
    if value == "" and optional:
        return
    if value == "":
        raise t.error(f"empty {col}: every row needs an id", row, col)
    if not _ID.match(value):
        raise t.error(f"{value!r} is not a valid id (letters, digits and underscores, not starting with a digit; "
                      "no spaces)", row, col)


def _check_unique(t: RawTable, col: str) -> None:
    seen: dict[str, int] = {}
    for row, rec in t.rows():
        v = rec[col]
        if v in seen:
            first = t.error("", seen[v])
            raise t.error(f"duplicate id {v!r} (also in row {first.row}); ids must be unique", row, col)
        seen[v] = row


def _check_formula(t: RawTable, row: int, col: str, text: str, oid: str) -> Any:
    from petab.v1.math import sympify_petab

    if text == "":
        raise t.error(f"observable {oid!r} has an empty {col}", row, col)
    try:
        return sympify_petab(text)
    except (ValueError, TypeError, SyntaxError) as err:
        raise t.error(f"cannot parse {col} {text!r} of {oid!r}: {err}", row, col) from None


def _parameters(t: RawTable, version: int) -> None:
    for row, rec in t.rows():
        pid = rec["parameterId"]
        _check_id(t, row, "parameterId", pid)
        est = rec["estimate"].strip()
        if version == 1:
            if est not in ("0", "1", "0.0", "1.0"):
                raise t.error(f"estimate of {pid!r} must be 0 or 1, got {est!r}", row, "estimate")
            estimated = est in ("1", "1.0")
            scale = rec["parameterScale"]
            if scale not in ("lin", "log", "log10"):
                raise t.error(f"parameterScale of {pid!r} must be lin, log or log10, got {scale!r}", row,
                              "parameterScale")
        else:
            if est.lower() not in ("true", "false"):
                raise t.error(f"estimate of {pid!r} must be true or false, got {est!r}", row, "estimate")
            estimated = est.lower() == "true"
        values = {}
        for col in ("lowerBound", "upperBound", "nominalValue"):
            text = rec.get(col, "").strip()
            if text:
                values[col] = _float(t, row, col, text, f"a number (the {col} of {pid!r})")
            elif estimated and col != "nominalValue":
                raise t.error(f"estimated parameter {pid!r} needs a {col}", row, col)
        if not estimated and "nominalValue" not in values:
            raise t.error(f"fixed parameter {pid!r} (estimate {est}) needs a nominalValue", row, "nominalValue")
        if not estimated and not math.isfinite(values["nominalValue"]):
            raise t.error(f"fixed parameter {pid!r} needs a finite nominalValue", row, "nominalValue")
        if estimated and not values["lowerBound"] <= values["upperBound"]:
            raise t.error(f"lowerBound {values['lowerBound']} > upperBound {values['upperBound']} for {pid!r} "
                          "(swap them)", row, "lowerBound")
        if estimated and version == 1 and rec["parameterScale"] != "lin":
            for col in ("lowerBound", "upperBound"):
                if values[col] < 0:
                    raise t.error(f"{pid!r} is {rec['parameterScale']}-scaled, so its {col} {values[col]} must "
                                  "not be negative", row, col)
        nominal = values.get("nominalValue", math.nan)
        if estimated and math.isfinite(nominal) and not values["lowerBound"] <= nominal <= values["upperBound"]:
            # legal PEtab (the PEtab test suite has such a case), but never silently: an optimiser cannot start there
            warnings.warn(str(t.error(f"nominalValue {nominal} of {pid!r} is outside its bounds "
                                      f"[{values['lowerBound']}, {values['upperBound']}]; optimisers started at "
                                      "the nominal values will move it inside", row, "nominalValue")),
                          PetabWarning, stacklevel=4)
        _priors(t, row, rec, pid, version)
    _check_unique(t, "parameterId")


def _priors(t: RawTable, row: int, rec: dict[str, str], pid: str, version: int) -> None:
    pairs = ([("objectivePriorType", "objectivePriorParameters"),
              ("initializationPriorType", "initializationPriorParameters")] if version == 1
             else [("priorDistribution", "priorParameters")])
    for type_col, par_col in pairs:
        kind = rec.get(type_col, "").strip()
        pars = rec.get(par_col, "").strip()
        if not kind:
            continue
        allowed = _V1_PRIORS if version == 1 else tuple(_V2_PRIORS)
        if kind not in allowed:
            raise t.error(f"prior {kind!r} of {pid!r} is not one of {', '.join(allowed)}", row, type_col)
        if not pars:
            if version == 1 and kind == "parameterScaleUniform":
                continue
            raise t.error(f"prior {kind!r} of {pid!r} needs its parameters ('a;b')", row, par_col)
        values = [_float(t, row, par_col, p.strip(), f"a number (a prior parameter of {pid!r})")
                  for p in pars.split(";")]
        need = 2 if version == 1 else _V2_PRIORS[kind]
        if len(values) != need:
            raise t.error(f"prior {kind!r} of {pid!r} takes {need} parameter(s), got {len(values)} ({pars!r})",
                          row, par_col)


def _observables(t: RawTable, version: int) -> None:
    dists = ("normal", "laplace") if version == 1 else ("normal", "laplace", "log-normal", "log-laplace")
    for row, rec in t.rows():
        oid = rec["observableId"]
        _check_id(t, row, "observableId", oid)
        _check_formula(t, row, "observableFormula", rec["observableFormula"], oid)
        noise = _check_formula(t, row, "noiseFormula", rec["noiseFormula"], oid)
        if noise.is_Number and not (noise.is_finite and noise > 0):
            raise t.error(f"noise formula {rec['noiseFormula']!r} of {oid!r} must be positive and finite", row,
                          "noiseFormula")
        dist = rec.get("noiseDistribution", "").strip()
        if dist and dist not in dists:
            raise t.error(f"noiseDistribution {dist!r} of {oid!r} is not one of {', '.join(dists)}", row,
                          "noiseDistribution")
        if version == 1:
            tr = rec.get("observableTransformation", "").strip()
            if tr and tr not in ("lin", "log", "log10"):
                raise t.error(f"observableTransformation {tr!r} of {oid!r} is not one of lin, log, log10", row,
                              "observableTransformation")
        else:
            for col in ("observablePlaceholders", "noisePlaceholders"):
                for name in filter(None, (p.strip() for p in rec.get(col, "").split(";"))):
                    _check_id(t, row, col, name)
    _check_unique(t, "observableId")


def _measurements(t: RawTable, version: int, tables: RawTables) -> None:
    obs = tables.tables["observable"]
    known_obs = {rec["observableId"] for _, rec in obs.rows()}
    ref_cols: tuple[str, ...]
    if version == 1:
        ref_kind, ref_cols = "condition", ("simulationConditionId", "preequilibrationConditionId")
    else:
        ref_kind, ref_cols = "experiment", ("experimentId",)
    ref = tables.tables.get(ref_kind)
    key = "conditionId" if version == 1 else "experimentId"
    known_ref = {rec[key] for _, rec in ref.rows()} if ref is not None else set()
    for row, rec in t.rows():
        oid = rec["observableId"]
        _check_id(t, row, "observableId", oid)
        if oid not in known_obs:
            raise t.error(f"observable {oid!r} is not in the observable table", row, "observableId")
        for col in ref_cols:
            cid = rec.get(col, "")
            _check_id(t, row, col, cid, optional=col != "simulationConditionId")
            if cid and cid not in known_ref:
                raise t.error(f"{ref_kind} {cid!r} is not in the {ref_kind} table", row, col)
        text = rec["time"].strip()
        time = _float(t, row, "time", text, f"a time (a number or inf) for {oid!r}")
        if math.isnan(time) or time < 0:
            raise t.error(f"time {text!r} of {oid!r} must be a number >= 0 (or inf for steady state)", row, "time")
        text = rec["measurement"].strip()
        if text == "":
            raise t.error(f"empty measurement for {oid!r}: delete the row if there is no value", row, "measurement")
        value = _float(t, row, "measurement", text, f"a number (the measurement of {oid!r})")
        if not math.isfinite(value):
            raise t.error(f"measurement {text!r} of {oid!r} is not finite: delete the row if there is no value",
                          row, "measurement")
        if version == 2:
            mid = rec.get("modelId", "").strip()
            if mid and mid not in tables.model_ids:
                raise t.error(f"modelId {mid!r} is not a model of the YAML file {list(tables.model_ids)}", row,
                              "modelId")


def _is_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _conditions(t: RawTable, version: int) -> None:
    for row, rec in t.rows():
        cid = rec["conditionId"]
        _check_id(t, row, "conditionId", cid)
        if version == 1:
            for col, text in rec.items():
                if col in ("conditionId", "conditionName") or not text.strip():
                    continue
                value = _is_number(text.strip())
                # NaN is legal in v1: "keep the value" (from preequilibration or the model)
                if value is not None and math.isinf(value):
                    raise t.error(f"value {text!r} of condition {cid!r} is infinite (use a finite number, or NaN "
                                  "to keep the model's or preequilibration's value)", row, col)
        else:
            _check_id(t, row, "targetId", rec["targetId"])
            text = rec["targetValue"].strip()
            if text == "":
                raise t.error(f"empty targetValue of condition {cid!r}", row, "targetValue")
            value = _is_number(text)
            if value is not None and not math.isfinite(value):
                raise t.error(f"targetValue {text!r} of condition {cid!r} is not finite", row, "targetValue")
    if version == 1:
        _check_unique(t, "conditionId")


def _experiments(t: RawTable, tables: RawTables) -> None:
    cond = tables.tables.get("condition")
    targets: dict[str, set[str]] = {}
    if cond is not None:
        for _, rec in cond.rows():
            targets.setdefault(rec["conditionId"], set()).add(rec["targetId"])
    period: dict[tuple[str, float], set[str]] = {}
    for row, rec in t.rows():
        eid = rec["experimentId"]
        _check_id(t, row, "experimentId", eid)
        time = _float(t, row, "time", rec["time"].strip(), "a time (a number or -inf)")
        if math.isnan(time):
            raise t.error(f"time of experiment {eid!r} is NaN", row, "time")
        cid = rec["conditionId"]
        _check_id(t, row, "conditionId", cid, optional=True)
        if cid and cid not in targets:
            raise t.error(f"experiment {eid!r} uses condition {cid!r}, which is not in the condition table", row,
                          "conditionId")
        seen = period.setdefault((eid, time), set())
        if both := seen & targets.get(cid, set()):
            raise t.error(f"experiment {eid!r} applies conditions at t={time:g} that both change {sorted(both)}",
                          row, "conditionId")
        seen |= targets.get(cid, set())


def _mappings(t: RawTable) -> None:
    seen: dict[str, int] = {}
    for row, rec in t.rows():
        pid, mid = rec["petabEntityId"], rec["modelEntityId"]
        _check_id(t, row, "petabEntityId", pid)
        _check_id(t, row, "modelEntityId", mid, optional=True)
        for col, value in (("petabEntityId", pid), ("modelEntityId", mid)):
            if not value or (col == "modelEntityId" and mid == pid):
                continue
            if value in seen:
                raise t.error(f"id {value!r} appears more than once in the mapping table (also in row "
                              f"{t.error('', seen[value]).row})", row, col)
            seen[value] = row


def check_tables(tables: RawTables) -> None:
    """Refuse malformed tables (the checks of petab's linter that need no model, with rows)."""
    v, tt = tables.version, tables.tables
    _parameters(tt["parameter"], v)
    _observables(tt["observable"], v)
    if "condition" in tt:
        _conditions(tt["condition"], v)
    if "experiment" in tt:
        _experiments(tt["experiment"], tables)
    if "mapping" in tt:
        _mappings(tt["mapping"])
    _measurements(tt["measurement"], v, tables)
