"""Helpers shared by the v1 and v2 readers (internal)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from qsp_sbml.errors import PetabError, UnsupportedFeatureError
from qsp_sbml.petab._spec import MeasurementSpec, ObservableSpec, ParameterSpec

__all__ = [
    "ModelEntities",
    "as_float_array",
    "check_measurements",
    "check_noise_at_nominal",
    "check_observable_ids",
    "check_parameter_use",
    "check_parameters",
    "check_symbols",
    "is_empty",
    "substitute_observables",
]

#: Names that mean model time in PEtab math.
TIME_SYMBOLS = frozenset({"time", "t"})


def is_empty(value: Any) -> bool:
    """Whether a table cell is empty (None, NaN or blank)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


@dataclass(frozen=True)
class ModelEntities:
    """Ids of the SBML model that PEtab tables may refer to."""

    species: frozenset[str]
    #: Species whose symbol means an amount (hasOnlySubstanceUnits).
    amount_species: frozenset[str]
    compartments: frozenset[str]
    parameters: frozenset[str]
    #: Other symbols with a value: reactions (rates), species references.
    others: frozenset[str]
    #: Species id -> compartment id.
    compartment_of: Mapping[str, str]
    #: Targets of assignment rules (no table may set them).
    assigned: frozenset[str] = frozenset()
    #: Targets of rate rules (states: not parameters).
    rate_ruled: frozenset[str] = frozenset()

    @classmethod
    def from_sbml(cls, model: Any) -> ModelEntities:
        """Collect ids from a libSBML model."""
        species = [model.getSpecies(i) for i in range(model.getNumSpecies())]
        rules = [model.getRule(i) for i in range(model.getNumRules())]
        return cls(
            species=frozenset(s.getId() for s in species),
            amount_species=frozenset(s.getId() for s in species if s.getHasOnlySubstanceUnits()),
            compartments=frozenset(model.getCompartment(i).getId() for i in range(model.getNumCompartments())),
            parameters=frozenset(model.getParameter(i).getId() for i in range(model.getNumParameters())),
            others=frozenset(model.getReaction(i).getId() for i in range(model.getNumReactions())),
            compartment_of={s.getId(): s.getCompartment() for s in species},
            assigned=frozenset(r.getVariable() for r in rules if r.isAssignment()),
            rate_ruled=frozenset(r.getVariable() for r in rules if r.isRate()),
        )

    @property
    def all(self) -> frozenset[str]:
        """Every id with a value in simulations."""
        return self.species | self.compartments | self.parameters | self.others

    def selection(self, sid: str) -> str:
        """RoadRunner selection giving the value the symbol ``sid`` has in SBML math."""
        if sid in self.species and sid not in self.amount_species:
            return f"[{sid}]"
        return sid


def check_parameters(parameters: Iterable[ParameterSpec]) -> None:
    """Row checks the petab linter does not make (bounds vs nominal values)."""
    for p in parameters:
        if p.scale not in ("lin", "log", "log10"):
            raise PetabError(f"unknown parameterScale {p.scale!r} of {p.id!r} (use lin, log or log10)",
                             table="parameter", row=p.row, column="parameterScale")
        if not p.estimate:
            if not math.isfinite(p.nominal):
                raise PetabError(f"fixed parameter {p.id!r} needs a finite nominalValue",
                                 table="parameter", row=p.row, column="nominalValue")
            continue
        if not (p.lb <= p.ub):
            raise PetabError(f"lowerBound {p.lb} > upperBound {p.ub} for {p.id!r}",
                             table="parameter", row=p.row, column="lowerBound")
        if p.scale in ("log", "log10") and p.lb < 0:
            raise PetabError(f"{p.id!r} is {p.scale}-scaled but its lowerBound {p.lb} is negative",
                             table="parameter", row=p.row, column="lowerBound")


def check_measurements(meas: MeasurementSpec, observables: Mapping[str, ObservableSpec],
                       experiments: Iterable[str], *, experiment_column: str) -> None:
    """Measurement-table checks: ids, times, values, override counts."""
    known_exp = set(experiments)
    for i in range(len(meas)):
        row = i + 1
        oid = str(meas.observable_id[i])
        if oid not in observables:
            raise PetabError(f"unknown observable id {oid!r} (not in the observable table)",
                             table="measurement", row=row, column="observableId")
        if str(meas.experiment_id[i]) not in known_exp:
            raise PetabError(f"unknown id {meas.experiment_id[i]!r}", table="measurement", row=row,
                             column=experiment_column)
        t = float(meas.time[i])
        if math.isnan(t) or t < 0:
            raise PetabError(f"time must be >= 0 or inf, got {t!r}", table="measurement", row=row, column="time")
        m = float(meas.measurement[i])
        if not math.isfinite(m):
            raise PetabError(f"measurement must be a finite number, got {m!r}", table="measurement", row=row,
                             column="measurement")
        obs = observables[oid]
        if obs.transformation != "lin" and m <= 0:
            raise PetabError(f"observable {oid!r} is {obs.transformation}-transformed but the measurement "
                             f"{m!r} is not positive", table="measurement", row=row, column="measurement")
        for column, given, needed in (
            ("observableParameters", meas.observable_parameters[i], obs.observable_placeholders),
            ("noiseParameters", meas.noise_parameters[i], obs.noise_placeholders),
        ):
            if len(given) != len(needed):
                raise PetabError(f"observable {oid!r} has {len(needed)} placeholder(s) {list(needed)} "
                                 f"but {len(given)} value(s) are given", table="measurement", row=row,
                                 column=column)


def substitute_observables(observables: dict[str, ObservableSpec]) -> dict[str, ObservableSpec]:
    """Replace observable ids used in formulas by their formulas (noise: own id -> own formula)."""
    ids = set(observables)

    def expand(expr: Any, seen: tuple[str, ...], owner: str) -> Any:
        names = {str(s): s for s in expr.free_symbols if str(s) in ids}
        if not names:
            return expr
        subs = {}
        for name, sym in names.items():
            if name in seen:
                raise PetabError(f"observable formulas refer to each other in a cycle: {' -> '.join((*seen, name))}",
                                 table="observable", row=observables[owner].row, column="observableFormula")
            other = observables[name]
            if other.observable_placeholders and name != owner:
                raise UnsupportedFeatureError(
                    f"observable {owner!r} uses observable {name!r}, which has placeholders "
                    f"{list(other.observable_placeholders)}: their values would be undefined",
                    feature="petab-observable-in-formula-with-placeholders")
            subs[sym] = expand(other.formula, (*seen, name), owner)
        return expr.xreplace(subs)

    out = {}
    for oid, obs in observables.items():
        formula = expand(obs.formula, (oid,), oid)
        noise_subs = {s: formula for s in obs.noise_formula.free_symbols if str(s) == oid}
        noise = obs.noise_formula.xreplace(noise_subs) if noise_subs else obs.noise_formula
        noise = expand(noise, (), oid)
        out[oid] = ObservableSpec(oid, formula, noise, obs.transformation, obs.distribution,
                                  obs.observable_placeholders, obs.noise_placeholders, obs.row)
    return out


def check_symbols(observables: Mapping[str, ObservableSpec], known: set[str]) -> None:
    """Every symbol of a formula must be a placeholder, a model entity, a parameter or time."""
    for obs in observables.values():
        for column, expr, own in (
            ("observableFormula", obs.formula, obs.observable_placeholders),
            ("noiseFormula", obs.noise_formula, obs.observable_placeholders + obs.noise_placeholders),
        ):
            unknown = sorted(str(s) for s in expr.free_symbols
                             if str(s) not in known and str(s) not in own and str(s) not in TIME_SYMBOLS)
            if unknown:
                raise PetabError(f"observable {obs.id!r} uses {unknown}: neither model entities, parameter "
                                 "table ids nor placeholders", table="observable", row=obs.row, column=column)


def as_float_array(values: Iterable[Any]) -> np.ndarray:
    """Float array of table values."""
    return np.asarray([float(v) for v in values], dtype=float)


def check_observable_ids(observables: Mapping[str, ObservableSpec], entities: ModelEntities) -> None:
    """Observable ids must not be ids of the model (formulas could not tell them apart)."""
    for obs in observables.values():
        if obs.id in entities.all or obs.id in entities.assigned:
            raise PetabError(f"observable id {obs.id!r} is also an id in the model; rename the observable",
                             table="observable", row=obs.row, column="observableId")


def check_parameter_use(parameters: Iterable[ParameterSpec], entities: ModelEntities, used: set[str],
                        condition_targets: Mapping[str, str]) -> None:
    """Every parameter-table row must set a model parameter or a symbol the tables use.

    ``used``: symbols of observable and noise formulas, overrides and condition
    values; ``condition_targets``: id -> where the condition table sets it.
    """
    for p in parameters:
        where: dict[str, Any] = {"table": "parameter", "row": p.row, "column": "parameterId"}
        if p.id in entities.assigned or p.id in entities.rate_ruled:
            raise PetabError(f"{p.id!r} is the target of a rule in the model, so it cannot be a parameter; "
                             "remove the row", **where)
        if p.id in condition_targets:
            raise PetabError(f"{p.id!r} is also set by {condition_targets[p.id]}; set it in only one of the "
                             "two tables", **where)
        if p.id in entities.species or p.id in entities.others:
            raise PetabError(f"{p.id!r} is a species or reaction of the model, not a parameter; set species "
                             "in the condition table", **where)
        if p.id not in entities.parameters and p.id not in entities.compartments and p.id not in used:
            raise PetabError(f"{p.id!r} is neither a model parameter nor used by an observable or noise formula, "
                             "an override or a condition: remove the row (or fix the id)",
                             **where)


def check_noise_at_nominal(parameters: Iterable[ParameterSpec], observables: Mapping[str, ObservableSpec],
                           meas: MeasurementSpec) -> None:
    """Noise formulas that depend only on parameters must be positive and finite at the nominal values.

    Formulas that depend on model state are checked at every evaluation.
    """
    import sympy as sp

    nominal = {p.id: p.nominal for p in parameters}
    for i in range(len(meas)):
        obs = observables[str(meas.observable_id[i])]
        subs = dict(zip(obs.observable_placeholders, meas.observable_parameters[i], strict=True))
        subs |= dict(zip(obs.noise_placeholders, meas.noise_parameters[i], strict=True))
        by_name = {str(s): s for s in obs.noise_formula.free_symbols}
        # overrides are parsed expressions or numbers; never sympify text (sympify evaluates strings)
        expr = obs.noise_formula.xreplace({by_name[k]: (v if isinstance(v, sp.Basic) else sp.Float(v))
                                          for k, v in subs.items() if k in by_name})
        names = {str(s) for s in expr.free_symbols}
        if not names <= nominal.keys() or any(math.isnan(nominal[n]) for n in names):
            continue
        value = complex(expr.xreplace({s: sp.Float(nominal[str(s)]) for s in expr.free_symbols}).evalf())
        if value.imag == 0 and math.isfinite(value.real) and value.real > 0:
            continue
        column = "noiseParameters" if meas.noise_parameters[i] else "observableId"
        shown = value.real if value.imag == 0 else value
        raise PetabError(f"the noise formula of observable {obs.id!r} ({obs.noise_formula}) with noiseParameters "
                         f"{[str(v) for v in meas.noise_parameters[i]]} is {shown} at the nominal parameter "
                         "values; it must be positive and finite (fix the nominalValue or the formula)",
                         table="measurement", row=i + 1, column=column)
