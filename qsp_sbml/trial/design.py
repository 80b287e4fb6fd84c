"""Trial designs as data: read and validate a trial design YAML file.

A design file is a YAML mapping; ``type:`` selects the kind of trial (``parallel``, the default, is
read here; ``bioequivalence`` and ``n_of_1`` by their own modules, see :mod:`qsp_sbml.trial.runner`).
The file is read by :mod:`qsp_sbml.typed_yaml` into the typed fields of
:class:`~qsp_sbml.trial._design_file.ParallelDesignFile`; every error, typed or from a check across fields,
is a :class:`~qsp_sbml.errors.TrialDesignError` naming the file, the line and the field
(``design.yaml, line 14, field arms[1].regimen: ...``; ``err.field`` is the field).  Paths are relative to
the design file.  A parallel design::

    kind: trial                      # declares the file's kind (qsp-sbml validate needs it)
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
    population:                      # a population description (qsp_sbml.population.description)
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

from qsp_sbml.errors import TrialDesignError
from qsp_sbml.typed_yaml import YamlDoc, parse, read_yaml, spec_error

__all__ = [
    "ENDPOINT_TESTS",
    "TIME_UNITS",
    "Analysis",
    "Arm",
    "Criterion",
    "Endpoint",
    "ParallelDesign",
    "as_doc",
    "read_design",
    "validate_parallel",
]

#: Hours per design time unit.
TIME_UNITS = {"hour": 1.0, "h": 1.0, "day": 24.0, "d": 24.0, "week": 168.0, "wk": 168.0}
CONTINUOUS = ("value", "change", "percent_change", "auc", "cmax")
#: The analyses that fit each endpoint type.
ENDPOINT_TESTS = {**dict.fromkeys(CONTINUOUS, ("t_test", "ancova")), "responder": ("chi2", "logistic"),
                  "time_to_event": ("logrank",)}
#: Population fields a parallel trial does not use (build a vpop spec with them: ``population: {vpop: ...}``).
_POP_UNSUPPORTED = ("drug", "covariate_effects", "genotypes", "selection")


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


def read_design(path: str | Path) -> YamlDoc:
    """Parse a design YAML file (no validation beyond being a mapping); errors name the file and line."""
    doc = read_yaml(path, error=lambda m: TrialDesignError(m, field="design"), what="trial design")
    if not isinstance(doc.data, dict):
        raise TrialDesignError(f"{doc.where('')}: a trial design is a YAML mapping (kind, type, model, arms, ...)",
                               field="design")
    return doc


def as_doc(spec: Mapping[str, Any] | YamlDoc, source: str | Path) -> YamlDoc:
    """``spec`` as a :class:`YamlDoc`; a plain mapping takes its line numbers from ``source`` when it exists."""
    if isinstance(spec, YamlDoc):
        return spec
    source = Path(source)
    lines: Mapping[str, int] = {}
    if source.is_file():
        try:
            lines = YamlDoc.from_text(source.read_text(encoding="utf-8"), source=str(source)).lines
        except ValueError:
            lines = {}
    return YamlDoc(data=dict(spec), source=str(source), lines=lines)


class _Checker:
    """Cross-field checks of a parsed design: errors name the file, the line and the field."""

    def __init__(self, doc: YamlDoc, known: set[str], outputs: set[str]) -> None:
        self.doc, self.known, self.outputs = doc, known, outputs

    def error(self, fld: str, message: str) -> TrialDesignError:
        err = spec_error(self.doc, fld, message, error=lambda m: TrialDesignError(m, field=fld))
        assert isinstance(err, TrialDesignError)  # noqa: S101 - built just above
        return err

    def parameter(self, pid: str, fld: str, what: str = "parameter") -> None:
        if pid not in self.known:
            raise self.error(fld, f"the model has no {what} {pid!r}")

    def output(self, out: str, fld: str) -> None:
        if out not in self.outputs:
            import difflib

            close = difflib.get_close_matches(str(out), sorted(self.outputs), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise self.error(fld, f"the model has no output {out!r}{hint}")


def _criterion(c: Any, fld: str) -> Criterion:
    kind = "covariate" if c.covariate is not None else "baseline"
    return Criterion(kind, c.covariate if kind == "covariate" else c.baseline,
                     -math.inf if c.min is None else float(c.min), math.inf if c.max is None else float(c.max), fld)


def _arms(ck: _Checker, raw: Sequence[Any]) -> tuple[Arm, ...]:
    from qsp_sbml._regimen_text import parse_regimen_text
    from qsp_sbml.errors import QspError

    arms: list[Arm] = []
    for i, a in enumerate(raw):
        fld = f"arms[{i}]"
        if a.id in {x.id for x in arms}:
            raise ck.error(f"{fld}.id", f"duplicate arm id {a.id!r}")
        reg = a.regimen.strip()
        regimen: str | None = None if reg.lower() in ("placebo", "none") else reg
        if regimen is not None:
            try:
                parse_regimen_text(regimen)
            except QspError as err:
                raise ck.error(f"{fld}.regimen", f"not a valid regimen: {err}") from None
        for k in a.parameters:
            ck.parameter(k, f"{fld}.parameters.{k}")
        arms.append(Arm(a.id, regimen, {str(k): float(v) for k, v in a.parameters.items()},
                        None if a.dose is None else float(a.dose)))
    return tuple(arms)


def _allocation(ck: _Checker, raw: Sequence[float] | None, n: int, n_arms: int) -> tuple[float, ...]:
    vals = [float(v) for v in (raw if raw is not None else [1] * n_arms)]
    shown = list(raw) if raw is not None else vals
    if len(vals) != n_arms:
        raise ck.error("allocation", f"needs one ratio per arm ({n_arms} arms), got {len(vals)}")
    if all(v.is_integer() for v in vals) and sum(vals) > 1 + 1e-12:
        total = sum(vals)
        if n % int(total):
            raise ck.error("allocation", f"integer ratios {shown} sum to {total:g}; n = {n} must be a multiple of "
                           f"{total:g} so that every arm gets a whole number of subjects")
        return tuple(v / total for v in vals)
    if abs(sum(vals) - 1.0) > 1e-9:
        raise ck.error("allocation", f"fractions must sum to 1, they sum to {sum(vals):.6g} (or give integer ratios "
                       "such as [1, 2, 2])")
    for i, v in enumerate(vals):
        if abs(n * v - round(n * v)) > 1e-9:
            raise ck.error(f"allocation[{i}]", f"n = {n} times {v:g} is not a whole number of subjects")
    return tuple(vals)


def _endpoint(ck: _Checker, e: Any, i: int, arm_ids: list[str], visits: Sequence[float],
              duration: float) -> Endpoint:
    fld = f"endpoints[{i}]"
    ck.output(e.output, f"{fld}.output")
    etype = e.type
    t = float(e.time) if e.time is not None else visits[-1]
    if t > duration:
        raise ck.error(f"{fld}.time", f"time {t:g} is after the end of the trial (duration {duration:g})")
    if etype not in ("time_to_event", "auc", "cmax") and t not in visits:
        raise ck.error(f"{fld}.time", f"time {t:g} is not a visit (visits: {list(visits)})")
    of = e.of or ("percent_change" if etype in ("responder", "time_to_event") else "value")
    threshold = float(e.threshold) if etype in ("responder", "time_to_event") else None
    an = e.analysis
    if an.test not in ENDPOINT_TESTS[etype]:
        raise ck.error(f"{fld}.analysis.test", f"{an.test!r} does not fit a {etype} endpoint; use "
                       f"{' or '.join(ENDPOINT_TESTS[etype])}")
    control = an.control if an.control is not None else arm_ids[0]
    if control not in arm_ids:
        raise ck.error(f"{fld}.analysis.control", f"no arm {control!r} (arms: {arm_ids})")
    treatments = an.treatments if an.treatments is not None else [a for a in arm_ids if a != control]
    if not treatments:
        raise ck.error(f"{fld}.analysis.treatments", "must name at least one arm other than the control")
    for k, a in enumerate(treatments):
        if a not in arm_ids or a == control:
            raise ck.error(f"{fld}.analysis.treatments[{k}]", f"must be an arm other than the control, got {a!r}")
    if an.test == "ancova" and etype in ("auc", "cmax") and not an.covariates:
        raise ck.error(f"{fld}.analysis.test", f"an ANCOVA of a {etype} endpoint has no baseline to adjust for; give "
                       "analysis.covariates or use t_test")
    if an.missing == "nonresponder" and etype != "responder":
        raise ck.error(f"{fld}.analysis.missing", "must be exclude, or nonresponder for a responder endpoint")
    log = e.log if e.log is not None else etype in ("auc", "cmax")
    return Endpoint(e.id, e.output, etype, t, Analysis(an.test, control, tuple(treatments), float(an.alpha),
                                                       tuple(an.covariates), an.missing),
                    of, threshold, e.direction, log)


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


def validate_parallel(spec: Mapping[str, Any] | YamlDoc, *, source: str | Path) -> ParallelDesign:
    """Validate a parallel-group design read from ``source`` (for paths and line numbers).

    ``spec`` is the document of :func:`read_design` (or its data as a mapping).  Raises
    :class:`~qsp_sbml.errors.TrialDesignError` naming the file, the line and the field.
    """
    from qsp_sbml.trial._design_file import ParallelDesignFile

    source = Path(source)
    doc = as_doc(spec, source)
    d = parse(ParallelDesignFile, doc, error=lambda m: TrialDesignError(m, field=None), base=source.parent)
    model_path = source.parent / d.model if not Path(d.model).is_absolute() else Path(d.model)
    known, outputs = _model_ids(model_path)
    ck = _Checker(doc, known, outputs)
    unit, duration = d.time_unit, float(d.duration)
    visits_raw = [float(v) for v in (d.visits if d.visits is not None else [0, duration])]
    for i, v in enumerate(visits_raw):
        if v > duration:
            raise ck.error(f"visits[{i}]", f"visit at {v:g} {unit} is after the end of the trial "
                           f"(duration {duration:g} {unit})")
    visits = sorted({0.0, *visits_raw})
    arms = _arms(ck, d.arms)
    allocation = _allocation(ck, d.allocation, d.n, len(arms))
    _check_population(ck, d.population)
    inclusion = tuple(_criterion(c, f"inclusion[{i}]") for i, c in enumerate(d.inclusion))
    strat = tuple((_criterion(c, f"stratification[{i}]"), tuple(float(x) for x in c.cuts))
                  for i, c in enumerate(d.stratification))
    enr = d.enrichment
    enrichment = () if enr is None else (
        tuple(_criterion(c, f"enrichment[{i}]") for i, c in enumerate(enr)) if isinstance(enr, list)
        else (_criterion(enr, "enrichment"),))
    for crit in (*inclusion, *enrichment, *(c for c, _ in strat)):
        if crit.kind == "baseline" and crit.column not in outputs:
            raise ck.error(f"{crit.field}.baseline", f"the model has no output {crit.column!r}")
    err: dict[str, tuple[float, float, float, float]] = {}
    for out, e in d.measurement_error.items():
        ck.output(out, f"measurement_error.{out}")
        err[out] = (float(e.additive), float(e.proportional), -math.inf if e.min is None else float(e.min),
                    math.inf if e.max is None else float(e.max))
    rv: dict[str, tuple[str, float]] = {}
    for out, r in d.response_variability.items():
        ck.output(out, f"response_variability.{out}")
        rv[out] = (r.distribution, float(r.scale))
    arm_ids = [a.id for a in arms]
    endpoints = tuple(_endpoint(ck, e, i, arm_ids, visits, duration) for i, e in enumerate(d.endpoints))
    ids = [e.id for e in endpoints]
    if len(set(ids)) != len(ids):
        raise ck.error("endpoints", f"endpoint ids must be unique, got {ids}")
    primary = d.primary if d.primary is not None else ids[0]
    if primary not in ids:
        raise ck.error("primary", f"no endpoint {primary!r} (endpoints: {ids})")
    grid = list(d.sample_size.n)
    for i, v in enumerate(grid):
        try:
            _allocation(ck, d.allocation, v, len(arms))
        except TrialDesignError:
            raise ck.error(f"sample_size.n[{i}]", f"n = {v} does not split into whole arms with allocation "
                           f"{d.allocation if d.allocation is not None else 'equal'}") from None
    adaptive = _adaptive(ck, d.adaptive, endpoints, primary)
    dose_sel = _dose_selection(ck, d.dose_selection, endpoints, arms)
    refs = d.references
    return ParallelDesign(
        source=source, name=d.name if d.name is not None else source.stem, model_path=model_path, time_unit=unit,
        hours=TIME_UNITS[unit], duration=duration, visits=tuple(visits), n=d.n, allocation=allocation, arms=arms,
        population=d.population.mapping(), inclusion=inclusion, stratification=strat, enrichment=enrichment,
        measurement_error=err, response_variability=rv, dropout_hazard=float(d.dropout.hazard),
        endpoints=endpoints, primary=primary, replicates=d.replicates, sample_size=tuple(sorted(set(grid))),
        target_power=float(d.sample_size.target), adaptive=adaptive, dose_selection=dose_sel,
        references=tuple(refs) if isinstance(refs, list) else (refs,))


def _check_population(ck: _Checker, pop: Any) -> None:
    pop.refuse(_POP_UNSUPPORTED, ck.doc, "population.", error=lambda m: TrialDesignError(m, field=None),
               hint="describe the population in a vpop spec and give population: {vpop: SPEC.yaml}")
    if pop.covariates is not None and pop.covariates.file is not None:
        raise ck.error("population.covariates.file", "a trial samples its candidates: give a cohort file as "
                       "population: {cohort: FILE} or sampling options here")
    if pop.iiv is not None and pop.iiv.omega is not None:
        raise ck.error("population.iiv.omega", "a trial design takes iiv as cv: {parameter: CV} (with an "
                       "optional correlation)")
    for key in ("parameters", "derived"):
        for k in getattr(pop, key):
            ck.parameter(k, f"population.{key}.{k}", "parameter or state")
    if pop.iiv is not None:
        for k in pop.iiv.cv or {}:
            ck.parameter(k, f"population.iiv.cv.{k}")
    if pop.posterior is not None:
        for k in pop.posterior.rename.values():
            ck.parameter(k, "population.posterior.rename")


def _adaptive(ck: _Checker, a: Any, endpoints: Sequence[Endpoint], primary: str) -> dict[str, Any] | None:
    if a is None:
        return None
    ep = next(e for e in endpoints if e.id == primary)
    if len(ep.analysis.treatments) != 1:
        raise ck.error("adaptive", f"a group-sequential design needs one comparison; the primary endpoint "
                       f"{primary!r} compares {len(ep.analysis.treatments)} arms with the control")
    better = a.better if a.better is not None else {"responder": "higher", "time_to_event": "lower"}.get(ep.type)
    if better is None:
        raise ck.error("adaptive.better", "say which effect estimate favours the treatment: higher or lower")
    return {"looks": [float(x) for x in a.looks], "spending": a.spending, "futility": a.futility,
            "beta": float(a.beta), "better": better,
            "alpha": float(a.alpha) if a.alpha is not None else ep.analysis.alpha / 2}


def _dose_selection(ck: _Checker, d: Any, endpoints: Sequence[Endpoint],
                    arms: Sequence[Arm]) -> dict[str, Any] | None:
    if d is None:
        return None
    ids = [e.id for e in endpoints]
    eid = d.endpoint if d.endpoint is not None else ids[0]
    if eid not in ids:
        raise ck.error("dose_selection.endpoint", f"no endpoint {eid!r} (endpoints: {ids})")
    ep = next(e for e in endpoints if e.id == eid)
    if ep.type == "time_to_event":
        raise ck.error("dose_selection.endpoint", "dose selection needs a continuous or responder endpoint")
    for i, a in enumerate(arms):
        if a.dose is None:
            raise ck.error(f"arms[{i}].dose", f"dose selection needs a dose on every arm; arm {a.id!r} has none")
    return {"endpoint": eid, "target": float(d.target), "rule": d.rule, "alpha": float(d.alpha)}
