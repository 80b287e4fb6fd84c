"""Translate a ``petab.v2.Problem`` into a :class:`~qsp_sbml.petab._spec.ProblemSpec` (internal)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from qsp_sbml.errors import PetabError, UnsupportedFeatureError
from qsp_sbml.petab._common import (
    TIME_SYMBOLS,
    ModelEntities,
    check_measurements,
    check_noise_at_nominal,
    check_observable_ids,
    check_parameter_use,
    check_parameters,
    check_symbols,
    substitute_observables,
)
from qsp_sbml.petab._spec import (
    Change,
    ExperimentSpec,
    MeasurementSpec,
    ObservableSpec,
    ParameterSpec,
    Period,
    ProblemSpec,
)
from qsp_sbml.petab.llh import NoiseDistribution, Transformation

__all__ = ["read_v2"]

#: Experiment id used for measurements without one (simulate the model as is from t=0).
DEFAULT_EXPERIMENT = ""

_NOISE = {
    "normal": (Transformation.LIN, NoiseDistribution.NORMAL),
    "laplace": (Transformation.LIN, NoiseDistribution.LAPLACE),
    "log-normal": (Transformation.LOG, NoiseDistribution.NORMAL),
    "log-laplace": (Transformation.LOG, NoiseDistribution.LAPLACE),
}


class _V2Prior:
    """Log-density of a v2 prior (truncated at the bounds) at a linear value."""

    def __init__(self, dist: Any) -> None:
        self.dist = dist

    def log_density(self, value: float) -> float:
        with np.errstate(divide="ignore"):
            return float(np.log(self.dist.pdf(value)))


class _ImplicitUniform:
    """The implicit prior of an estimated v2 parameter without one: uniform within its bounds."""

    def __init__(self, lb: float, ub: float) -> None:
        self.lb, self.ub = lb, ub

    def log_density(self, value: float) -> float:
        if not (self.lb <= value <= self.ub):
            return -math.inf
        return -math.log(self.ub - self.lb)


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _parameters(problem: Any) -> list[ParameterSpec]:
    out = []
    for i, p in enumerate(problem.parameters, start=1):
        if p.nominal_value == "array":
            raise UnsupportedFeatureError(f"array-valued parameter {p.id!r} (PEtab SciML) is not supported",
                                          feature="petab-array-parameter")
        prior: _V2Prior | _ImplicitUniform | None = None
        if p.estimate and p.prior_distribution is not None:
            try:
                prior = _V2Prior(p.prior_dist)
            except (ValueError, TypeError) as err:
                raise PetabError(f"invalid prior of {p.id!r}: {err}", table="parameter", row=i,
                                 column="priorDistribution") from None
        lb, ub = _num(p.lb), _num(p.ub)
        if p.estimate and prior is None and math.isfinite(lb) and math.isfinite(ub) and ub > lb:
            prior = _ImplicitUniform(lb, ub)
        out.append(ParameterSpec(p.id, "lin", lb, ub, _num(p.nominal_value), bool(p.estimate), prior, i))
    check_parameters(out)
    return out


def _observables(problem: Any) -> dict[str, ObservableSpec]:
    out = {}
    for i, o in enumerate(problem.observables, start=1):
        dist = str(o.noise_distribution)
        if dist not in _NOISE:
            raise PetabError(f"unknown noiseDistribution {dist!r} (use {', '.join(_NOISE)})",
                             table="observable", row=i, column="noiseDistribution")
        if o.noise_formula is None:
            raise PetabError(f"observable {o.id!r} has no noise formula", table="observable", row=i,
                             column="noiseFormula")
        transformation, distribution = _NOISE[dist]
        out[o.id] = ObservableSpec(o.id, o.formula, o.noise_formula, transformation, distribution,
                                   tuple(str(s) for s in o.observable_placeholders),
                                   tuple(str(s) for s in o.noise_placeholders), i)
    return out


def _experiments(problem: Any, entities: ModelEntities, known: set[str]) -> dict[str, ExperimentSpec]:
    conditions = {c.id: (k, c) for k, c in enumerate(problem.conditions, start=1)}
    out = {DEFAULT_EXPERIMENT: ExperimentSpec(DEFAULT_EXPERIMENT, (Period(0.0),))}
    for e in problem.experiments:
        periods: list[Period] = []
        for p in sorted(e.periods, key=lambda p: p.time):
            changes: list[Change] = []
            for cid in p.condition_ids:
                if cid not in conditions:
                    raise PetabError(f"experiment {e.id!r} uses unknown condition {cid!r}", table="experiment",
                                     column="conditionId")
                row, cond = conditions[cid]
                for ch in cond.changes:
                    if ch.target_id not in entities.all:
                        raise PetabError(f"target {ch.target_id!r} of condition {cid!r} is not a model entity",
                                         table="condition", row=row, column="targetId")
                    if ch.target_id in entities.assigned:
                        raise PetabError(f"target {ch.target_id!r} of condition {cid!r} is set by an assignment "
                                         "rule in the model; a condition cannot change it", table="condition",
                                         row=row, column="targetId")
                    unknown = sorted(str(s) for s in ch.target_value.free_symbols
                                     if str(s) not in known and str(s) not in TIME_SYMBOLS)
                    if unknown:
                        raise PetabError(f"condition {cid!r} uses unknown symbols {unknown}", table="condition",
                                         row=row, column="targetValue")
                    changes.append(Change(ch.target_id, ch.target_value))
            targets = [c.target for c in changes]
            if len(set(targets)) != len(targets):
                raise PetabError(f"experiment {e.id!r} changes the same target twice at t={p.time}",
                                 table="experiment", column="conditionId")
            if periods and periods[-1].start == p.time:
                raise PetabError(f"experiment {e.id!r} has two periods starting at t={p.time}",
                                 table="experiment", column="time")
            periods.append(Period(float(p.time), tuple(changes)))
        if not periods:
            periods.append(Period(0.0))
        out[e.id] = ExperimentSpec(e.id, tuple(periods))
    return out


def read_v2(problem: Any, entities: ModelEntities) -> ProblemSpec:
    """Build the spec of a ``petab.v2.Problem``."""
    import sympy as sp

    for m in problem.mappings:
        if m.model_id and m.model_id != m.petab_id:
            raise UnsupportedFeatureError(f"mapping table aliases {m.petab_id!r} to {m.model_id!r}",
                                          feature="petab-mapping-alias")
    parameters = _parameters(problem)
    par_ids = {p.id for p in parameters}
    observables = _observables(problem)
    check_observable_ids(observables, entities)
    experiments = _experiments(problem, entities, par_ids | set(entities.all))
    ms = problem.measurements
    meas = MeasurementSpec(
        observable_id=np.asarray([m.observable_id for m in ms], dtype=object),
        experiment_id=np.asarray([m.experiment_id or DEFAULT_EXPERIMENT for m in ms], dtype=object),
        time=np.asarray([m.time for m in ms], dtype=float),
        measurement=np.asarray([m.measurement for m in ms], dtype=float),
        observable_parameters=[tuple(m.observable_parameters) for m in ms],
        noise_parameters=[tuple(m.noise_parameters) for m in ms],
    )
    check_measurements(meas, observables, experiments, experiment_column="experimentId")
    n = len(meas)
    for i, exprs in enumerate(meas.observable_parameters + meas.noise_parameters):
        for e in exprs:
            unknown = [str(s) for s in e.free_symbols if str(s) not in par_ids]
            if unknown:
                raise PetabError(f"override {unknown} not in the parameter table", table="measurement",
                                 row=i % n + 1, column="observableParameters" if i < n else "noiseParameters")
    observables = substitute_observables(observables)
    check_symbols(observables, set(entities.all) | par_ids)
    used = {str(s) for o in observables.values() for e in (o.formula, o.noise_formula) for s in e.free_symbols}
    used |= {str(s) for exprs in meas.observable_parameters + meas.noise_parameters for e in exprs
             for s in e.free_symbols}
    targets: dict[str, str] = {}
    for c in problem.conditions:
        for ch in c.changes:
            used |= {str(s) for s in ch.target_value.free_symbols}
            targets.setdefault(ch.target_id, f"condition {c.id!r} of the condition table (targetId)")
    check_parameter_use(parameters, entities, used, targets)
    check_noise_at_nominal(parameters, observables, meas)
    model_parameters = {p.id: sp.Symbol(p.id, real=True) for p in parameters
                        if p.id in entities.parameters or p.id in entities.compartments}
    return ProblemSpec(2, parameters, observables, experiments, meas, model_parameters,
                       problem.measurement_df.reset_index(drop=True))
