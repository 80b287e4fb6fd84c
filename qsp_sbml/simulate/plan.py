"""Turn a :class:`~qsp_sbml.dosing.Regimen` into actions in model units.

An :class:`Action` is what happens at one instant: an amount added to a target
(bolus, oral or depot dose) or a change of a zero-order infusion rate.  The
timeline simulator applies actions between integration segments; the SBML
exporter writes them as events.  Both read the same list.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import libsbml

from qsp_sbml.dosing import Regimen
from qsp_sbml.errors import RegimenError, UnitError
from qsp_sbml.units import Quantity, amount_factor, sbml_unit, time_factor

__all__ = ["Action", "DoseTarget", "dose_target", "model_time_unit", "plan_regimen"]


@dataclass(frozen=True)
class Action:
    """One dosing action in model units."""

    #: Model time.
    time: float
    #: SBML id of the target.
    target: str
    #: Amount added at ``time`` (model substance units of the target).
    bolus: float = 0.0
    #: Change of the infusion rate at ``time`` (substance per model time unit).
    rate: float = 0.0


@dataclass(frozen=True)
class DoseTarget:
    """What the model says about a dose target."""

    #: ``species`` or ``parameter``.
    kind: str
    #: Unit of the target's amount.
    unit: Quantity
    #: Compartment of a species whose symbol means a concentration in math (else None).
    compartment: str | None
    #: Why a zero-order input cannot go into this target (None when it can).
    no_infusion: str | None


def model_time_unit(model: libsbml.Model) -> Quantity:
    """The model's time unit (kind ``unknown`` when not declared)."""
    return sbml_unit(model, model.getTimeUnits() if model.isSetTimeUnits() else "")


def _rule_kind(model: libsbml.Model, sid: str) -> str | None:
    rule = model.getRule(sid)
    if rule is None:
        return None
    return "assignment" if rule.isAssignment() else "rate"


def dose_target(model: libsbml.Model, sid: str) -> DoseTarget:
    """Describe ``sid`` as a dose target or raise :class:`RegimenError`."""
    species = model.getSpecies(sid)
    if species is not None:
        rule = _rule_kind(model, sid)
        if rule == "assignment":
            raise RegimenError(f"dose target '{sid}' is set by an assignment rule; dose into a state instead")
        if species.getConstant():
            raise RegimenError(f"dose target '{sid}' is a constant species")
        unit_ref = species.getSubstanceUnits() if species.isSetSubstanceUnits() else model.getSubstanceUnits()
        no_infusion = None
        if rule == "rate":
            no_infusion = f"'{sid}' is governed by a rate rule"
        elif species.getBoundaryCondition():
            no_infusion = f"'{sid}' is a boundary species"
        conc = None if species.getHasOnlySubstanceUnits() else species.getCompartment()
        return DoseTarget("species", sbml_unit(model, unit_ref), conc, no_infusion)
    parameter = model.getParameter(sid)
    if parameter is not None:
        if parameter.getConstant():
            raise RegimenError(f"dose target '{sid}' is a constant parameter; make it constant=\"false\"")
        if _rule_kind(model, sid) == "assignment":
            raise RegimenError(f"dose target '{sid}' is set by an assignment rule")
        return DoseTarget("parameter", sbml_unit(model, parameter.getUnits()), None,
                          f"'{sid}' is a parameter; infuse into a species")
    ids = [model.getSpecies(i).getId() for i in range(model.getNumSpecies())]
    ids += [model.getParameter(i).getId() for i in range(model.getNumParameters())]
    close = difflib.get_close_matches(sid, ids, n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise RegimenError(f"dose target '{sid}' is not a species or parameter of the model{hint}")


def plan_regimen(
    model: libsbml.Model, regimen: Regimen, *, end: float
) -> tuple[list[Action], frozenset[str]]:
    """Actions (sorted by time) and the set of infusion targets, in model units.

    ``end`` (model time) bounds open-ended repeats; actions after ``end`` are dropped.
    """
    model_time = model_time_unit(model)
    actions: list[Action] = []
    infusion_targets: set[str] = set()
    targets: dict[str, DoseTarget] = {}
    for k, dose in enumerate(regimen.doses, start=1):
        if dose.target is None:
            raise RegimenError(
                f"dose {k} ({dose.route.value}) has no target; add 'to <id>' or give target=",
            )
        info = targets.get(dose.target) or dose_target(model, dose.target)
        targets[dose.target] = info
        try:
            tf = time_factor(dose.time_unit, model_time, what=f"dose {k}")
            af = amount_factor(dose.unit, info.unit, molecular_weight=regimen.molecular_weight,
                               what=f"dose {k} into '{dose.target}'")
        except UnitError as err:
            raise RegimenError(str(err)) from None
        end_dose_units = end / tf
        for t in dose.times(end_dose_units):
            t_model = t * tf
            if t_model > end:
                break
            amount = dose.amount * af
            if dose.route.is_infusion:
                if info.no_infusion:
                    raise RegimenError(f"dose {k}: cannot infuse into {info.no_infusion}")
                duration = (dose.infusion_duration or 0.0) * tf
                rate = amount / duration
                infusion_targets.add(dose.target)
                actions.append(Action(t_model, dose.target, rate=rate))
                actions.append(Action(t_model + duration, dose.target, rate=-rate))
            else:
                actions.append(Action(t_model, dose.target, bolus=amount))
    actions.sort(key=lambda a: a.time)
    return actions, frozenset(infusion_targets)


def group_by_time(actions: Sequence[Action]) -> list[tuple[float, list[Action]]]:
    """Group sorted actions that share a time."""
    groups: list[tuple[float, list[Action]]] = []
    for action in actions:
        if groups and groups[-1][0] == action.time:
            groups[-1][1].append(action)
        else:
            groups.append((action.time, [action]))
    return groups


__all__ += ["group_by_time"]
