"""Translate a ``petab.v1.Problem`` into a :class:`~qsp_sbml.petab._spec.ProblemSpec` (internal)."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml.errors import PetabError
from qsp_sbml.petab._common import (
    ModelEntities,
    check_measurements,
    check_noise_at_nominal,
    check_observable_ids,
    check_parameter_use,
    check_parameters,
    check_symbols,
    is_empty,
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

__all__ = ["read_v1"]

_SEP = ";"


def _sympify(text: Any, *, table: str, row: int, column: str) -> Any:
    from petab.v1.math import sympify_petab

    try:
        return sympify_petab(text)
    except (ValueError, TypeError) as err:
        raise PetabError(f"cannot parse {text!r}: {err}", table=table, row=row, column=column) from None


def _priors(row: pd.Series) -> Any:
    from petab.v1.priors import Prior

    kind = row.get("objectivePriorType")
    if is_empty(kind):
        return None
    return _V1Prior(Prior.from_par_dict(row.to_dict(), type_="objective"))


class _V1Prior:
    """Log-density of a v1 objective prior at a linear parameter value."""

    def __init__(self, prior: Any) -> None:
        self.prior = prior

    def log_density(self, value: float) -> float:
        return float(-self.prior.neglogprior(value, x_scaled=False))


def _parameters(df: pd.DataFrame) -> list[ParameterSpec]:
    out = []
    for i, (pid, row) in enumerate(df.iterrows(), start=1):
        est = row.get("estimate", 1)
        if is_empty(est) or str(est).strip() not in ("0", "1", "0.0", "1.0"):
            raise PetabError(f"estimate must be 0 or 1, got {est!r}", table="parameter", row=i, column="estimate")
        scale = row.get("parameterScale", "lin")
        scale = "lin" if is_empty(scale) else str(scale)

        def num(col: str, row: pd.Series = row, i: int = i) -> float:
            v: Any = row.get(col)
            if is_empty(v):
                return math.nan
            try:
                return float(v)
            except (TypeError, ValueError):
                raise PetabError(f"not a number: {v!r}", table="parameter", row=i, column=col) from None

        out.append(ParameterSpec(str(pid), scale, num("lowerBound"), num("upperBound"), num("nominalValue"),
                                 bool(int(float(est))), _priors(row), i))
    check_parameters(out)
    return out


_PLACEHOLDER = "{kind}Parameter(\\d+)_{oid}$"


def _placeholders(expr: Any, kind: str, oid: str) -> tuple[str, ...]:
    pattern = re.compile(_PLACEHOLDER.format(kind=kind, oid=re.escape(oid)))
    found = sorted((int(m.group(1)), str(s)) for s in expr.free_symbols if (m := pattern.match(str(s))))
    return tuple(name for _, name in found)


def _observables(df: pd.DataFrame) -> dict[str, ObservableSpec]:
    out = {}
    for i, (oid, row) in enumerate(df.iterrows(), start=1):
        oid = str(oid)
        formula = _sympify(str(row["observableFormula"]), table="observable", row=i, column="observableFormula")
        noise_text: Any = row.get("noiseFormula")
        if is_empty(noise_text):
            raise PetabError(f"observable {oid!r} has no noise formula", table="observable", row=i,
                             column="noiseFormula")
        noise = _sympify(noise_text if isinstance(noise_text, str) else float(noise_text),
                         table="observable", row=i, column="noiseFormula")
        tr = row.get("observableTransformation", "lin")
        dist = row.get("noiseDistribution", "normal")
        tr = "lin" if is_empty(tr) else str(tr)
        dist = "normal" if is_empty(dist) else str(dist)
        try:
            transformation = Transformation(tr)
        except ValueError:
            raise PetabError(f"unknown observableTransformation {tr!r} (use lin, log or log10)",
                             table="observable", row=i, column="observableTransformation") from None
        try:
            distribution = NoiseDistribution(dist)
        except ValueError:
            raise PetabError(f"unknown noiseDistribution {dist!r} (use normal or laplace)",
                             table="observable", row=i, column="noiseDistribution") from None
        obs_ph = _placeholders(formula, "observable", oid)
        noise_ph = _placeholders(noise, "noise", oid)
        # noise formulas may use the observable's own placeholders too
        out[oid] = ObservableSpec(oid, formula, noise, transformation, distribution, obs_ph, noise_ph, i)
    return out


def _overrides(value: Any, *, row: int, column: str) -> tuple[Any, ...]:
    if is_empty(value):
        return ()
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (_sympify(float(value), table="measurement", row=row, column=column),)
    parts = [p.strip() for p in str(value).split(_SEP)]
    return tuple(_sympify(p, table="measurement", row=row, column=column) for p in parts)


def _condition_changes(cond_df: pd.DataFrame | None, cid: str, entities: ModelEntities, par_ids: set[str],
                       ) -> tuple[list[Change], list[Change]]:
    """(parameter and compartment changes, species changes) of condition ``cid``."""
    if cond_df is None or cid not in cond_df.index:
        raise PetabError(f"unknown condition id {cid!r}", table="measurement")
    row_no = list(cond_df.index).index(cid) + 1
    row = cond_df.loc[cid]
    params: list[Change] = []
    species: list[Change] = []
    value: Any
    for col, value in row.items():
        col = str(col)
        if col == "conditionName" or is_empty(value):
            continue
        if col not in entities.all:
            raise PetabError(f"column {col!r} is not a model parameter, species or compartment",
                             table="condition", row=row_no, column=col)
        if col in entities.assigned:
            raise PetabError(f"column {col!r} is set by an assignment rule in the model; a condition cannot "
                             "change it (remove the column)", table="condition", row=row_no, column=col)
        if isinstance(value, str):
            expr = _sympify(value, table="condition", row=row_no, column=col)
            unknown = [str(s) for s in expr.free_symbols if str(s) not in par_ids]
            if unknown:
                raise PetabError(f"{unknown} not in the parameter table", table="condition", row=row_no, column=col)
        else:
            expr = _sympify(float(value), table="condition", row=row_no, column=col)
        (species if col in entities.species else params).append(Change(col, expr))
    return params, species


def _used_symbols(observables: dict[str, ObservableSpec], meas: MeasurementSpec,
                  cond_df: pd.DataFrame | None) -> set[str]:
    """Names in observable and noise formulas, overrides and condition values."""
    used = {str(s) for o in observables.values() for e in (o.formula, o.noise_formula) for s in e.free_symbols}
    used |= {str(s) for exprs in meas.observable_parameters + meas.noise_parameters for e in exprs
             for s in e.free_symbols}
    if cond_df is not None:
        for i, (_, row) in enumerate(cond_df.iterrows(), start=1):
            for col, value in row.items():
                if isinstance(value, str) and str(col) != "conditionName" and not is_empty(value):
                    expr = _sympify(value, table="condition", row=i, column=str(col))
                    used |= {str(s) for s in expr.free_symbols}
    return used


def read_v1(problem: Any, entities: ModelEntities) -> ProblemSpec:
    """Build the spec of a ``petab.v1.Problem``."""
    import sympy as sp

    parameters = _parameters(problem.parameter_df)
    par_ids = {p.id for p in parameters}
    observables = _observables(problem.observable_df)
    check_observable_ids(observables, entities)
    mdf = problem.measurement_df.reset_index(drop=True)
    cond_df = problem.condition_df
    has_preeq = "preequilibrationConditionId" in mdf.columns
    experiments: dict[str, ExperimentSpec] = {}
    exp_ids = []
    for i, row in mdf.iterrows():
        sim = row["simulationConditionId"]
        if is_empty(sim):
            raise PetabError("simulationConditionId is empty", table="measurement", row=int(i) + 1,
                             column="simulationConditionId")
        preeq = row["preequilibrationConditionId"] if has_preeq else None
        preeq = None if is_empty(preeq) else str(preeq)
        key = f"{preeq}|{sim}" if preeq else str(sim)
        exp_ids.append(key)
        if key in experiments:
            continue
        try:
            sim_params, sim_species = _condition_changes(cond_df, str(sim), entities, par_ids)
            pre = _condition_changes(cond_df, preeq, entities, par_ids) if preeq else None
        except PetabError as err:
            if err.table == "measurement":
                raise PetabError(str(err).split(": ", 1)[-1], table="measurement", row=int(i) + 1,
                                 column="simulationConditionId" if "|" not in key or preeq is None
                                 else "preequilibrationConditionId") from None
            raise
        periods: tuple[Period, ...]
        if pre is None:
            periods = (Period(0.0, tuple(sim_species), tuple(sim_params)),)
        else:
            periods = (Period(-math.inf, tuple(pre[1]), tuple(pre[0])),
                       Period(0.0, tuple(sim_params + sim_species)))
        experiments[key] = ExperimentSpec(key, periods)

    meas = MeasurementSpec(
        observable_id=mdf["observableId"].astype(str).to_numpy(),
        experiment_id=np.asarray(exp_ids, dtype=object),
        time=pd.to_numeric(mdf["time"], errors="coerce").to_numpy(dtype=float),
        measurement=pd.to_numeric(mdf["measurement"], errors="coerce").to_numpy(dtype=float),
        observable_parameters=[_overrides(v, row=i + 1, column="observableParameters")
                               for i, v in enumerate(mdf.get("observableParameters", [None] * len(mdf)))],
        noise_parameters=[_overrides(v, row=i + 1, column="noiseParameters")
                          for i, v in enumerate(mdf.get("noiseParameters", [None] * len(mdf)))],
    )
    check_measurements(meas, observables, experiments, experiment_column="simulationConditionId")
    for i, exprs in enumerate(meas.observable_parameters + meas.noise_parameters):
        for e in exprs:
            unknown = [str(s) for s in e.free_symbols if str(s) not in par_ids]
            if unknown:
                n = len(meas)
                raise PetabError(f"override {unknown} not in the parameter table", table="measurement",
                                 row=i % n + 1, column="observableParameters" if i < n else "noiseParameters")
    observables = substitute_observables(observables)
    check_symbols(observables, set(entities.all) | par_ids)
    targets = {str(c): f"the condition table (column {str(c)!r})" for c in cond_df.columns
               if str(c) != "conditionName"} if cond_df is not None else {}
    check_parameter_use(parameters, entities, _used_symbols(observables, meas, cond_df), targets)
    check_noise_at_nominal(parameters, observables, meas)
    model_parameters = {p.id: sp.Symbol(p.id, real=True) for p in parameters
                        if p.id in entities.parameters or p.id in entities.compartments}
    return ProblemSpec(1, parameters, observables, experiments, meas, model_parameters, mdf)
