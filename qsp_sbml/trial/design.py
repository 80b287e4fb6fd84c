"""Trial designs as data: read and validate a trial design YAML file.

A design file is a YAML mapping; ``type:`` selects the kind of trial (``parallel``, the default, is
read here; ``bioequivalence`` and ``n_of_1`` by their own modules, see :mod:`qsp_sbml.trial.runner`).
Every error is a :class:`~qsp_sbml.errors.TrialDesignError` naming the field (``arms[1].regimen``),
the file and the line.  Paths are relative to the design file.  A parallel design::

    type: parallel
    model: ../models/composed/mab_psoriasis_flat.xml
    time_unit: week                  # hour, day or week: duration, visits, endpoint times, dropout
    duration: 12
    visits: [0, 4, 8, 12]            # 0 (baseline) is added when missing; none after duration
    n: 150                           # total randomised subjects per trial
    allocation: [1, 1, 1]            # integer ratios (n must be a multiple of their sum) or
                                     # fractions summing to 1 (n * fraction must be whole)
    arms:
      - {id: placebo, regimen: placebo}
      - {id: low, regimen: "120.8 nmol sc at 0 wk to pk__mab_sc_depot", dose: 18}
      - {id: high, regimen: "1006.7 nmol sc at 0,4 wk to pk__mab_sc_depot", dose: 150,
         parameters: {pd__IC50: 0.1}}  # optional per-arm constant parameter values
    population:
      parameters: {pk__CL: 0.010125}           # typical values
      iiv: {cv: {pk__CL: 0.3}}                 # log-normal IIV (correlation optional)
      preset: healthy_adults                   # or covariates: {age_range: [18, 75]}
      derived: {ALT: "ALT_0 + q_ALT"}          # columns computed from others (DataFrame.eval)
      posterior: {file: draws.tsv, parameters: [pk__CL]}  # typical values drawn per replicate
      # or cohort: subjects.parquet (resampled) / vpop: spec.yaml (qsp-sbml vpop spec)
    inclusion:                       # on covariates or baseline (time 0) model outputs
      - {baseline: disease__PASI, min: 12}
      - {covariate: age, min: 18, max: 75}
    stratification: [{baseline: disease__PASI, cuts: [20]}]
    enrichment: {baseline: ALT, min: 200}     # also run the enriched population
    measurement_error: {disease__PASI: {additive: 0.5, proportional: 0.1, min: 0, max: 72}}  # clipped to 0-72
    response_variability:            # a subject's multiplicative deviation after baseline
      disease__PASI: {distribution: logistic, scale: 0.7723}
    dropout: {hazard: 0.005}         # per time_unit (exponential)
    endpoints:
      - id: pasi75
        output: disease__PASI
        type: responder              # value, change, percent_change, responder, auc, cmax, time_to_event
        of: percent_change           # responder/time_to_event: value, change or percent_change (default)
        threshold: -75
        direction: below             # response when of <= threshold (above: >=)
        time: 12
        analysis: {test: chi2, control: placebo, treatments: [low, high], alpha: 0.05}
    primary: pasi75                  # default: the first endpoint
    replicates: 200                  # simulated trials (power); with a posterior: probability of success
    sample_size: {n: [60, 90, 150], target: 0.8}   # power curve over total n
    adaptive: {looks: [0.5, 1.0], spending: obrien_fleming, futility: pocock, beta: 0.2, better: higher}
    dose_selection: {endpoint: pasi75, target: 0.3, rule: estimate}   # smallest dose beating control by 0.3

Tests fitting each endpoint type: ``t_test``/``ancova`` for value, change, percent_change, auc, cmax;
``chi2``/``logistic`` for responder; ``logrank`` for time_to_event.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from qsp_sbml.errors import TrialDesignError

__all__ = [
    "ENDPOINT_TESTS",
    "TIME_UNITS",
    "Analysis",
    "Arm",
    "Criterion",
    "Endpoint",
    "ParallelDesign",
    "read_design",
    "validate_parallel",
]

#: Hours per design time unit.
TIME_UNITS = {"hour": 1.0, "h": 1.0, "day": 24.0, "d": 24.0, "week": 168.0, "wk": 168.0}
CONTINUOUS = ("value", "change", "percent_change", "auc", "cmax")
#: The analyses that fit each endpoint type.
ENDPOINT_TESTS = {**dict.fromkeys(CONTINUOUS, ("t_test", "ancova")), "responder": ("chi2", "logistic"),
                  "time_to_event": ("logrank",)}
_TOP = ("type", "name", "description", "model", "time_unit", "duration", "visits", "n", "allocation", "arms",
        "population", "inclusion", "stratification", "enrichment", "measurement_error", "response_variability",
        "dropout", "endpoints", "primary", "replicates", "sample_size", "adaptive", "dose_selection", "references")
_POP = ("preset", "covariates", "parameters", "derived", "iiv", "posterior", "cohort", "vpop")


@dataclass(frozen=True)
class Arm:
    """One arm: regimen text (``None`` for placebo), constant parameter values, nominal dose."""

    id: str
    regimen: str | None
    parameters: Mapping[str, float] = field(default_factory=dict)
    dose: float | None = None


@dataclass(frozen=True)
class Criterion:
    """``min <= column <= max`` on a covariate or a baseline model output."""

    kind: str  # "covariate" or "baseline"
    column: str
    min: float = -math.inf
    max: float = math.inf
    field: str = ""

    def label(self) -> str:
        """Human form, e.g. ``ALT >= 200``."""
        parts = []
        if math.isfinite(self.min):
            parts.append(f"{self.column} >= {self.min:g}")
        if math.isfinite(self.max):
            parts.append(f"{self.column} <= {self.max:g}")
        return " and ".join(parts) or self.column


@dataclass(frozen=True)
class Analysis:
    """The test of one endpoint: each treatment arm against ``control``."""

    test: str
    control: str
    treatments: tuple[str, ...]
    alpha: float = 0.05
    covariates: tuple[str, ...] = ()
    missing: str = "exclude"  # or "nonresponder" (responder endpoints)


@dataclass(frozen=True)
class Endpoint:
    """An endpoint: what is derived from which output at which time, and its analysis."""

    id: str
    output: str
    type: str
    time: float
    analysis: Analysis
    of: str = "value"
    threshold: float | None = None
    direction: str = "below"
    log: bool = False


@dataclass(frozen=True)
class ParallelDesign:
    """A validated parallel-group design (times in design units; ``hours`` per unit)."""

    source: Path
    name: str
    model_path: Path
    time_unit: str
    hours: float
    duration: float
    visits: tuple[float, ...]
    n: int
    allocation: tuple[float, ...]
    arms: tuple[Arm, ...]
    population: Mapping[str, Any]
    inclusion: tuple[Criterion, ...]
    stratification: tuple[tuple[Criterion, tuple[float, ...]], ...]
    enrichment: tuple[Criterion, ...]
    #: Per output: additive SD, proportional SD, and the range observations are clipped to (a score's scale).
    measurement_error: Mapping[str, tuple[float, float, float, float]]
    response_variability: Mapping[str, tuple[str, float]]
    dropout_hazard: float
    endpoints: tuple[Endpoint, ...]
    primary: str
    replicates: int
    sample_size: tuple[int, ...]
    target_power: float
    adaptive: Mapping[str, Any] | None
    references: tuple[str, ...] = ()
    #: ``{endpoint, target, rule, alpha}``: minimum-effective-dose selection across the arms' ``dose``.
    dose_selection: Mapping[str, Any] | None = None

    @property
    def outputs(self) -> list[str]:
        """Model outputs the trial observes (endpoints, baseline criteria, error models)."""
        outs = [e.output for e in self.endpoints]
        outs += [c.column for c in (*self.inclusion, *self.enrichment) if c.kind == "baseline"]
        outs += [c.column for c, _ in self.stratification if c.kind == "baseline"]
        return list(dict.fromkeys(outs))

    def arm_sizes(self, n: int) -> list[int]:
        """Subjects per arm for a total ``n`` (exact by construction of the checks)."""
        return [int(round(n * a)) for a in self.allocation]


class _Lines:
    """Line numbers of every node of a YAML document, by field path (``arms[1].regimen``)."""

    def __init__(self, text: str) -> None:
        self.lines: dict[str, int] = {}
        try:
            node = yaml.compose(text)
        except yaml.YAMLError:
            node = None
        if node is not None:
            self._walk(node, "")

    def _walk(self, node: yaml.Node, path: str) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                self.lines[sub] = key.start_mark.line + 1
                self._walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, f"{path}[{i}]")

    def line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rsplit(".", 1)[0] if "." in path else path.rsplit("[", 1)[0] if "[" in path else ""
        return None


class DesignReader:
    """Raises errors that name the file, the line and the field."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines = path, _Lines(text)

    def error(self, fld: str, message: str, value: object = None) -> TrialDesignError:
        line = self.lines.line(fld)
        where = f"{self.path}" + (f", line {line}" if line else "")
        return TrialDesignError(f"{message} ({where})", field=fld, value=value)

    def number(self, value: object, fld: str, *, positive: bool = False, minimum: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
            raise self.error(fld, f"must be a finite number, got {value!r}", value)
        if positive and value <= 0:
            raise self.error(fld, f"must be > 0, got {value!r}", value)
        if minimum is not None and value < minimum:
            raise self.error(fld, f"must be >= {minimum:g}, got {value!r}", value)
        return float(value)

    def integer(self, value: object, fld: str, *, minimum: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(fld, f"must be an integer >= {minimum}, got {value!r}", value)
        return int(value)

    def mapping(self, value: object, fld: str, allowed: Sequence[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(fld, f"must be a mapping, got {type(value).__name__}", value)
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    raise self.error(f"{fld}.{key}", f"unknown key; allowed: {', '.join(allowed)}", key)
        return value

    def sequence(self, value: object, fld: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.error(fld, f"must be a non-empty list, got {value!r}", value)
        return value

    def file(self, value: object, fld: str) -> Path:
        if not isinstance(value, str) or not value:
            raise self.error(fld, f"must be a file path, got {value!r}", value)
        p = Path(value)
        p = p if p.is_absolute() else self.path.parent / p
        if not p.is_file():
            raise self.error(fld, f"no such file: {p}", value)
        return p


def read_design(path: str | Path) -> tuple[dict[str, Any], DesignReader]:
    """Parse a design YAML file (no validation beyond being a mapping); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise TrialDesignError(f"no such design file: {path}", field="design")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise TrialDesignError(f"{path}: not valid YAML: {err}", field="design") from None
    if not isinstance(data, dict):
        raise TrialDesignError(f"{path}: a trial design is a YAML mapping (type, model, arms, ...)", field="design")
    return data, DesignReader(path, text)


def _criterion(r: DesignReader, raw: object, fld: str) -> Criterion:
    d = r.mapping(raw, fld, ("covariate", "baseline", "min", "max", "cuts"))
    kinds = [k for k in ("covariate", "baseline") if k in d]
    if len(kinds) != 1:
        raise r.error(fld, "give exactly one of covariate: NAME or baseline: OUTPUT")
    lo = r.number(d["min"], f"{fld}.min") if "min" in d else -math.inf
    hi = r.number(d["max"], f"{fld}.max") if "max" in d else math.inf
    if lo > hi:
        raise r.error(f"{fld}.min", f"min {lo:g} is above max {hi:g}")
    col = d[kinds[0]]
    if not isinstance(col, str) or not col:
        raise r.error(f"{fld}.{kinds[0]}", f"must be a name, got {col!r}", col)
    return Criterion(kinds[0], col, lo, hi, fld)


def _arms(r: DesignReader, raw: object, known: set[str]) -> tuple[Arm, ...]:
    arms: list[Arm] = []
    for i, a in enumerate(r.sequence(raw, "arms")):
        fld = f"arms[{i}]"
        d = r.mapping(a, fld, ("id", "regimen", "parameters", "dose", "label"))
        aid = d.get("id")
        if not isinstance(aid, str) or not aid:
            raise r.error(f"{fld}.id", f"every arm needs an id (a name), got {aid!r}", aid)
        if aid in {x.id for x in arms}:
            raise r.error(f"{fld}.id", f"duplicate arm id {aid!r}", aid)
        if "regimen" not in d or d["regimen"] is None or (isinstance(d["regimen"], str) and not d["regimen"].strip()):
            raise r.error(f"{fld}.regimen", f"arm {aid!r} has no regimen: give regimen text "
                          "(e.g. \"150 mg sc at 0,4 wk to depot\") or regimen: placebo")
        reg = d["regimen"]
        if not isinstance(reg, str):
            raise r.error(f"{fld}.regimen", f"must be regimen text or 'placebo', got {reg!r}", reg)
        regimen: str | None = None if reg.strip().lower() in ("placebo", "none") else reg.strip()
        if regimen is not None:
            from qsp_sbml._regimen_text import parse_regimen_text
            from qsp_sbml.errors import QspError

            try:
                parse_regimen_text(regimen)
            except QspError as err:
                raise r.error(f"{fld}.regimen", f"not a valid regimen: {err}", reg) from None
        params = r.mapping(d.get("parameters", {}), f"{fld}.parameters")
        values = {}
        for k, v in params.items():
            if k not in known:
                raise r.error(f"{fld}.parameters.{k}", f"the model has no parameter {k!r}", k)
            values[str(k)] = r.number(v, f"{fld}.parameters.{k}")
        dose = r.number(d["dose"], f"{fld}.dose", minimum=0) if "dose" in d else None
        arms.append(Arm(aid, regimen, values, dose))
    return tuple(arms)


def _allocation(r: DesignReader, raw: object, n: int, n_arms: int) -> tuple[float, ...]:
    if raw is None:
        raw = [1] * n_arms
    vals = [r.number(v, f"allocation[{i}]", positive=True) for i, v in enumerate(r.sequence(raw, "allocation"))]
    if len(vals) != n_arms:
        raise r.error("allocation", f"needs one ratio per arm ({n_arms} arms), got {len(vals)}", raw)
    if all(float(v).is_integer() for v in vals) and sum(vals) > 1 + 1e-12:
        total = sum(vals)
        if n % int(total):
            raise r.error("allocation", f"integer ratios {raw} sum to {total:g}; n = {n} must be a multiple of "
                          f"{total:g} so that every arm gets a whole number of subjects", raw)
        return tuple(v / total for v in vals)
    if abs(sum(vals) - 1.0) > 1e-9:
        raise r.error("allocation", f"fractions must sum to 1, they sum to {sum(vals):.6g} (or give integer ratios "
                      "such as [1, 2, 2])", raw)
    for i, v in enumerate(vals):
        if abs(n * v - round(n * v)) > 1e-9:
            raise r.error(f"allocation[{i}]", f"n = {n} times {v:g} is not a whole number of subjects", v)
    return tuple(vals)


def _endpoint(r: DesignReader, raw: object, i: int, outputs: set[str], arm_ids: list[str],
              visits: Sequence[float], duration: float) -> Endpoint:
    fld = f"endpoints[{i}]"
    d = r.mapping(raw, fld, ("id", "output", "type", "time", "of", "threshold", "direction", "log", "analysis",
                             "label"))
    eid = d.get("id")
    if not isinstance(eid, str) or not eid:
        raise r.error(f"{fld}.id", f"every endpoint needs an id, got {eid!r}", eid)
    out = d.get("output")
    if not isinstance(out, str) or out not in outputs:
        import difflib

        close = difflib.get_close_matches(str(out), sorted(outputs), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise r.error(f"{fld}.output", f"the model has no output {out!r}{hint}", out)
    etype = d.get("type")
    if etype not in ENDPOINT_TESTS:
        raise r.error(f"{fld}.type", f"unknown endpoint type {etype!r}; use {', '.join(ENDPOINT_TESTS)}", etype)
    default_time = visits[-1]
    t = r.number(d.get("time", default_time), f"{fld}.time", minimum=0)
    if t > duration:
        raise r.error(f"{fld}.time", f"time {t:g} is after the end of the trial (duration {duration:g})", t)
    if etype not in ("time_to_event", "auc", "cmax") and t not in visits:
        raise r.error(f"{fld}.time", f"time {t:g} is not a visit (visits: {list(visits)})", t)
    of = d.get("of", "percent_change" if etype in ("responder", "time_to_event") else "value")
    if of not in ("value", "change", "percent_change"):
        raise r.error(f"{fld}.of", f"must be value, change or percent_change, got {of!r}", of)
    threshold = None
    if etype in ("responder", "time_to_event"):
        if "threshold" not in d:
            raise r.error(f"{fld}.threshold", f"a {etype} endpoint needs threshold: NUMBER (e.g. -75 for PASI75)")
        threshold = r.number(d["threshold"], f"{fld}.threshold")
    direction = d.get("direction", "below")
    if direction not in ("below", "above"):
        raise r.error(f"{fld}.direction", f"must be below or above, got {direction!r}", direction)
    an = r.mapping(d.get("analysis"), f"{fld}.analysis", ("test", "control", "treatments", "alpha", "covariates",
                                                           "missing"))
    test = an.get("test")
    if test not in ENDPOINT_TESTS[etype]:
        raise r.error(f"{fld}.analysis.test", f"{test!r} does not fit a {etype} endpoint; use "
                      f"{' or '.join(ENDPOINT_TESTS[etype])}", test)
    control = an.get("control", arm_ids[0])
    if control not in arm_ids:
        raise r.error(f"{fld}.analysis.control", f"no arm {control!r} (arms: {arm_ids})", control)
    treatments = an.get("treatments", [a for a in arm_ids if a != control])
    if isinstance(treatments, str):
        treatments = [treatments]
    for k, a in enumerate(r.sequence(treatments, f"{fld}.analysis.treatments")):
        if a not in arm_ids or a == control:
            raise r.error(f"{fld}.analysis.treatments[{k}]", f"must be an arm other than the control, got {a!r}", a)
    alpha = r.number(an.get("alpha", 0.05), f"{fld}.analysis.alpha", positive=True)
    if alpha >= 1:
        raise r.error(f"{fld}.analysis.alpha", f"must be in (0, 1), got {alpha!r}", alpha)
    covs = an.get("covariates", [])
    if not isinstance(covs, list) or not all(isinstance(c, str) for c in covs):
        raise r.error(f"{fld}.analysis.covariates", "must be a list of covariate names", covs)
    if test == "ancova" and etype in ("auc", "cmax") and not covs:
        raise r.error(f"{fld}.analysis.test", f"an ANCOVA of a {etype} endpoint has no baseline to adjust for; give "
                      "analysis.covariates or use t_test", test)
    missing = an.get("missing", "exclude")
    if missing not in ("exclude", "nonresponder") or (missing == "nonresponder" and etype != "responder"):
        raise r.error(f"{fld}.analysis.missing", "must be exclude, or nonresponder for a responder endpoint",
                      missing)
    log = d.get("log", etype in ("auc", "cmax"))
    if not isinstance(log, bool):
        raise r.error(f"{fld}.log", f"must be true or false, got {log!r}", log)
    return Endpoint(eid, out, etype, t, Analysis(test, control, tuple(treatments), alpha, tuple(covs), missing),
                    of, threshold, direction, log)


def _model_ids(path: Path) -> tuple[set[str], set[str]]:
    """(settable ids, output ids) of the model file (read once per file version)."""
    stat = path.stat()
    ids, outputs = _read_model_ids(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    return set(ids), set(outputs)


@functools.lru_cache(maxsize=16)
def _read_model_ids(path: str, mtime_ns: int, size: int) -> tuple[frozenset[str], frozenset[str]]:
    from qsp_sbml.loading import load_model

    model = load_model(path)
    params = set(model.parameter_ids)
    outputs = params | set(model.species_ids) | set(model.compartment_ids)
    outputs |= {f"[{s}]" for s in model.species_ids}
    return frozenset(params | set(model.species_ids) | set(model.compartment_ids)), frozenset(outputs)


def validate_parallel(spec: Mapping[str, Any], *, source: Path) -> ParallelDesign:
    """Validate a parallel-group design mapping read from ``source`` (for paths and line numbers).

    Raises :class:`~qsp_sbml.errors.TrialDesignError` naming the field, the file and the line.
    """
    source = Path(source)
    text = source.read_text(encoding="utf-8") if source.is_file() else ""
    r = DesignReader(source, text)
    for key in spec:
        if key not in _TOP:
            raise r.error(str(key), f"unknown key; allowed: {', '.join(_TOP)}", key)
    for key in ("model", "arms", "n", "duration", "endpoints"):
        if key not in spec:
            raise r.error(key, "is required")
    model_path = r.file(spec["model"], "model")
    known, outputs = _model_ids(model_path)
    unit = spec.get("time_unit", "hour")
    if unit not in TIME_UNITS:
        raise r.error("time_unit", f"must be one of {', '.join(TIME_UNITS)}, got {unit!r}", unit)
    duration = r.number(spec["duration"], "duration", positive=True)
    visits_raw = r.sequence(spec.get("visits", [0, duration]), "visits")
    visits = [r.number(v, f"visits[{i}]", minimum=0) for i, v in enumerate(visits_raw)]
    for i, v in enumerate(visits):
        if v > duration:
            raise r.error(f"visits[{i}]", f"visit at {v:g} {unit} is after the end of the trial "
                          f"(duration {duration:g} {unit})", v)
    visits = sorted({0.0, *visits})
    n = r.integer(spec["n"], "n", minimum=4)
    arms = _arms(r, spec["arms"], known)
    if len(arms) < 2:
        raise r.error("arms", "a parallel trial needs at least two arms")
    allocation = _allocation(r, spec.get("allocation"), n, len(arms))
    pop = r.mapping(spec.get("population", {}), "population", _POP)
    _check_population(r, pop, known)
    inclusion = tuple(_criterion(r, c, f"inclusion[{i}]") for i, c in enumerate(spec.get("inclusion") or []))
    strat = []
    for i, c in enumerate(spec.get("stratification") or []):
        crit = _criterion(r, c, f"stratification[{i}]")
        cuts = c.get("cuts", [])
        if not isinstance(cuts, list):
            raise r.error(f"stratification[{i}].cuts", "must be a list of cut points", cuts)
        strat.append((crit, tuple(r.number(x, f"stratification[{i}].cuts[{k}]") for k, x in enumerate(cuts))))
    enr_raw = spec.get("enrichment")
    enrichment: tuple[Criterion, ...] = ()
    if enr_raw is not None:
        items = enr_raw if isinstance(enr_raw, list) else [enr_raw]
        enrichment = tuple(_criterion(r, c, "enrichment" if not isinstance(enr_raw, list) else f"enrichment[{i}]")
                           for i, c in enumerate(items))
    for crit in (*inclusion, *enrichment, *(c for c, _ in strat)):
        if crit.kind == "baseline" and crit.column not in outputs:
            raise r.error(f"{crit.field}.baseline", f"the model has no output {crit.column!r}", crit.column)
    err: dict[str, tuple[float, float, float, float]] = {}
    for out, e in r.mapping(spec.get("measurement_error", {}), "measurement_error").items():
        fld = f"measurement_error.{out}"
        if out not in outputs:
            raise r.error(fld, f"the model has no output {out!r}", out)
        e = r.mapping(e, fld, ("additive", "proportional", "min", "max"))
        lo = r.number(e["min"], f"{fld}.min") if "min" in e else -math.inf
        hi = r.number(e["max"], f"{fld}.max") if "max" in e else math.inf
        if lo >= hi:
            raise r.error(f"{fld}.min", f"min {lo:g} must be below max {hi:g}")
        err[out] = (r.number(e.get("additive", 0.0), f"{fld}.additive", minimum=0),
                    r.number(e.get("proportional", 0.0), f"{fld}.proportional", minimum=0), lo, hi)
    rv: dict[str, tuple[str, float]] = {}
    for out, e in r.mapping(spec.get("response_variability", {}), "response_variability").items():
        fld = f"response_variability.{out}"
        if out not in outputs:
            raise r.error(fld, f"the model has no output {out!r}", out)
        e = r.mapping(e, fld, ("distribution", "scale"))
        dist = e.get("distribution", "normal")
        if dist not in ("normal", "logistic"):
            raise r.error(f"{fld}.distribution", f"must be normal or logistic, got {dist!r}", dist)
        rv[out] = (dist, r.number(e.get("scale"), f"{fld}.scale", positive=True))
    drop = r.mapping(spec.get("dropout", {"hazard": 0.0}), "dropout", ("hazard",))
    hazard = r.number(drop.get("hazard", 0.0), "dropout.hazard", minimum=0)
    ends_raw = r.sequence(spec["endpoints"], "endpoints")
    arm_ids = [a.id for a in arms]
    endpoints = tuple(_endpoint(r, e, i, outputs, arm_ids, visits, duration) for i, e in enumerate(ends_raw))
    ids = [e.id for e in endpoints]
    if len(set(ids)) != len(ids):
        raise r.error("endpoints", f"endpoint ids must be unique, got {ids}")
    primary = spec.get("primary", ids[0])
    if primary not in ids:
        raise r.error("primary", f"no endpoint {primary!r} (endpoints: {ids})", primary)
    reps = r.integer(spec.get("replicates", 100), "replicates", minimum=1)
    ss = r.mapping(spec.get("sample_size", {}), "sample_size", ("n", "target"))
    grid = [r.integer(v, f"sample_size.n[{i}]", minimum=4) for i, v in enumerate(ss.get("n", []) or [])]
    for i, v in enumerate(grid):
        try:
            _allocation(r, spec.get("allocation"), v, len(arms))
        except TrialDesignError:
            raise r.error(f"sample_size.n[{i}]", f"n = {v} does not split into whole arms with allocation "
                          f"{spec.get('allocation', 'equal')}", v) from None
    target = r.number(ss.get("target", 0.8), "sample_size.target", positive=True)
    if target >= 1:
        raise r.error("sample_size.target", f"must be in (0, 1), got {target}", target)
    adaptive = _adaptive(r, spec.get("adaptive"), endpoints, primary)
    dose_sel = _dose_selection(r, spec.get("dose_selection"), endpoints, arms)
    refs = spec.get("references", [])
    return ParallelDesign(
        source=source, name=str(spec.get("name", source.stem)), model_path=model_path, time_unit=unit,
        hours=TIME_UNITS[unit], duration=duration, visits=tuple(visits), n=n, allocation=allocation, arms=arms,
        population=pop, inclusion=inclusion, stratification=tuple(strat), enrichment=enrichment,
        measurement_error=err, response_variability=rv, dropout_hazard=hazard, endpoints=endpoints,
        primary=primary, replicates=reps, sample_size=tuple(sorted(set(grid))), target_power=target,
        adaptive=adaptive, dose_selection=dose_sel,
        references=tuple(str(x) for x in refs) if isinstance(refs, list) else (str(refs),))


def _check_population(r: DesignReader, pop: Mapping[str, Any], known: set[str]) -> None:
    sources = [k for k in ("preset", "covariates", "cohort", "vpop") if k in pop]
    if len(sources) > 1:
        raise r.error(f"population.{sources[1]}", f"give one of preset, covariates, cohort, vpop (got {sources})")
    if "preset" in pop:
        from qsp_sbml.population.presets import POPULATIONS

        if pop["preset"] not in POPULATIONS:
            raise r.error("population.preset", f"unknown preset {pop['preset']!r}; choose from {sorted(POPULATIONS)}",
                          pop["preset"])
    if "covariates" in pop:
        r.mapping(pop["covariates"], "population.covariates", ("age_range", "female_fraction", "egfr_range"))
    for key in ("cohort", "vpop"):
        if key in pop:
            r.file(pop[key], f"population.{key}")
    for key in ("parameters", "derived"):
        for k, v in r.mapping(pop.get(key, {}), f"population.{key}").items():
            if k not in known:
                raise r.error(f"population.{key}.{k}", f"the model has no parameter or state {k!r}", k)
            if key == "parameters":
                r.number(v, f"population.parameters.{k}")
            elif not isinstance(v, str):
                raise r.error(f"population.derived.{k}", f"must be an expression such as 'ALT_0 + q_ALT', got {v!r}")
    if "iiv" in pop:
        iiv = r.mapping(pop["iiv"], "population.iiv", ("cv", "correlation"))
        cv = r.mapping(iiv.get("cv"), "population.iiv.cv")
        for k, v in cv.items():
            if k not in known:
                raise r.error(f"population.iiv.cv.{k}", f"the model has no parameter {k!r}", k)
            r.number(v, f"population.iiv.cv.{k}", positive=True)
        if "correlation" in iiv:
            c = np.asarray(iiv["correlation"], dtype=float)
            if c.shape != (len(cv), len(cv)):
                raise r.error("population.iiv.correlation", f"must be a {len(cv)}x{len(cv)} matrix")
    if "posterior" in pop:
        post = r.mapping(pop["posterior"], "population.posterior", ("file", "parameters", "rename"))
        r.file(post.get("file"), "population.posterior.file")
        for k in (post.get("rename") or {}).values():
            if k not in known:
                raise r.error("population.posterior.rename", f"the model has no parameter {k!r}", k)


def _adaptive(r: DesignReader, raw: object, endpoints: Sequence[Endpoint], primary: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    d = r.mapping(raw, "adaptive", ("looks", "spending", "futility", "beta", "alpha", "better"))
    looks = [r.number(v, f"adaptive.looks[{i}]", positive=True) for i, v in enumerate(r.sequence(d.get("looks"),
                                                                                                 "adaptive.looks"))]
    if looks != sorted(set(looks)) or looks[-1] != 1.0:
        raise r.error("adaptive.looks", f"information fractions must increase and end at 1, got {looks}", looks)
    spend = d.get("spending", "obrien_fleming")
    fut = d.get("futility")
    from qsp_sbml.trial.adaptive import SPENDING_NAMES

    for key, v in (("spending", spend), ("futility", fut)):
        if v is not None and v not in SPENDING_NAMES:
            raise r.error(f"adaptive.{key}", f"unknown spending {v!r}; use {', '.join(SPENDING_NAMES)}", v)
    ep = next(e for e in endpoints if e.id == primary)
    if len(ep.analysis.treatments) != 1:
        raise r.error("adaptive", f"a group-sequential design needs one comparison; the primary endpoint {primary!r} "
                      f"compares {len(ep.analysis.treatments)} arms with the control")
    beta = r.number(d.get("beta", 0.2), "adaptive.beta", positive=True)
    default = {"responder": "higher", "time_to_event": "lower"}.get(ep.type)
    better = d.get("better", default)
    if better not in ("higher", "lower"):
        raise r.error("adaptive.better", f"say which effect estimate favours the treatment: higher or lower "
                      f"(got {better!r})", better)
    return {"looks": looks, "spending": spend, "futility": fut, "beta": beta, "better": better,
            "alpha": r.number(d.get("alpha", ep.analysis.alpha / 2), "adaptive.alpha", positive=True)}


def _dose_selection(r: DesignReader, raw: object, endpoints: Sequence[Endpoint],
                    arms: Sequence[Arm]) -> dict[str, Any] | None:
    if raw is None:
        return None
    d = r.mapping(raw, "dose_selection", ("endpoint", "target", "rule", "alpha"))
    ids = [e.id for e in endpoints]
    eid = d.get("endpoint", ids[0])
    if eid not in ids:
        raise r.error("dose_selection.endpoint", f"no endpoint {eid!r} (endpoints: {ids})", eid)
    ep = next(e for e in endpoints if e.id == eid)
    if ep.type == "time_to_event":
        raise r.error("dose_selection.endpoint", "dose selection needs a continuous or responder endpoint", eid)
    for i, a in enumerate(arms):
        if a.dose is None:
            raise r.error(f"arms[{i}].dose", f"dose selection needs a dose on every arm; arm {a.id!r} has none")
    rule = d.get("rule", "estimate")
    if rule not in ("estimate", "lower_bound"):
        raise r.error("dose_selection.rule", f"must be estimate or lower_bound, got {rule!r}", rule)
    alpha = r.number(d.get("alpha", 0.05), "dose_selection.alpha", positive=True)
    return {"endpoint": eid, "target": r.number(d.get("target"), "dose_selection.target"), "rule": rule,
            "alpha": alpha}
