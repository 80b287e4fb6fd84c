"""Write dosing into SBML: zero-order infusion inputs and dose events.

:func:`add_infusion_inputs` gives each infusion target a rate parameter
``qsp_infusion_<id>`` (0 by default) and an input reaction
``qsp_infusion_<id>_input`` (``-> <id>``, rate = the parameter), so that an
infusion is switched on and off by changing one parameter: by the timeline
simulator between segments, or by events in an exported model
(:func:`add_dosing_events`).  Both routes integrate the same equations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import libsbml

from qsp_sbml._sbml_build import parse_formula
from qsp_sbml.errors import SbmlError
from qsp_sbml.simulate.plan import Action, dose_target, group_by_time

__all__ = ["INFUSION_PREFIX", "add_dosing_events", "add_infusion_inputs", "infusion_parameter"]

INFUSION_PREFIX = "qsp_infusion_"


def infusion_parameter(target: str) -> str:
    """Id of the infusion-rate parameter of ``target``."""
    return f"{INFUSION_PREFIX}{target}"


def _check(status: int, what: str) -> None:
    if status != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise SbmlError(f"libSBML refused to {what} (status {status})")


def _rate_units(model: libsbml.Model, species: libsbml.Species) -> str | None:
    sub = species.getSubstanceUnits() if species.isSetSubstanceUnits() else model.getSubstanceUnits()
    time = model.getTimeUnits() if model.isSetTimeUnits() else ""
    if not sub or not time:
        return None
    uid = f"qsp_{sub}_per_{time}"
    if model.getUnitDefinition(uid) is None:
        definition = model.createUnitDefinition()
        _check(definition.setId(uid), f"create unit {uid}")
        for ref, exponent in ((sub, 1.0), (time, -1.0)):
            base = model.getUnitDefinition(ref)
            units = [base.getUnit(i) for i in range(base.getNumUnits())] if base else None
            if units is None:
                unit = definition.createUnit()
                unit.setKind(libsbml.UnitKind_forName(ref))
                unit.setExponent(exponent)
                unit.setScale(0)
                unit.setMultiplier(1.0)
                continue
            for u in units:
                unit = definition.createUnit()
                unit.setKind(u.getKind())
                unit.setExponent(u.getExponentAsDouble() * exponent)
                unit.setScale(u.getScale())
                unit.setMultiplier(u.getMultiplier())
    return uid


def add_infusion_inputs(doc: libsbml.SBMLDocument, targets: Iterable[str]) -> dict[str, str]:
    """Add an infusion input to each target species of ``doc`` (in place).

    Returns target id -> rate parameter id.
    """
    model = doc.getModel()
    out = {}
    for target in sorted(set(targets)):
        info = dose_target(model, target)
        if info.no_infusion:
            raise SbmlError(f"cannot infuse into {info.no_infusion}", sbml_id=target)
        pid = infusion_parameter(target)
        if model.getElementBySId(pid) is not None:
            raise SbmlError(f"the model already has an element '{pid}'", sbml_id=pid)
        species = model.getSpecies(target)
        parameter = model.createParameter()
        _check(parameter.setId(pid), f"create parameter {pid}")
        parameter.setValue(0.0)
        parameter.setConstant(False)
        units = _rate_units(model, species)
        if units:
            parameter.setUnits(units)
        reaction = model.createReaction()
        _check(reaction.setId(f"{pid}_input"), f"create reaction {pid}_input")
        reaction.setReversible(False)
        if model.getLevel() == 3 and model.getVersion() == 1:
            reaction.setFast(False)
        product = reaction.createProduct()
        product.setSpecies(target)
        product.setStoichiometry(1.0)
        product.setConstant(True)
        law = reaction.createKineticLaw()
        factor = species.getConversionFactor() if species.isSetConversionFactor() else (
            model.getConversionFactor() if model.isSetConversionFactor() else "")
        formula = f"{pid} / {factor}" if factor else pid
        _check(law.setMath(libsbml.parseL3Formula(formula)), f"set the rate of {pid}_input")
        out[target] = pid
    return out


def add_dosing_events(doc: libsbml.SBMLDocument, actions: Sequence[Action]) -> list[str]:
    """Write ``actions`` as events (one per dosing time) into ``doc``, in place.

    Infusion inputs must already exist (:func:`add_infusion_inputs`).  Each event
    fires once at its time (trigger ``time >= t``, initial value false so that a
    dose at t=0 fires) and computes its assignments at execution time.
    Returns the ids of the events created.
    """
    model = doc.getModel()
    time_units = model.getTimeUnits() if model.isSetTimeUnits() else ""
    ids = []
    for k, (time, group) in enumerate(group_by_time(actions)):
        eid = f"qsp_dose_event_{k}"
        event = model.createEvent()
        _check(event.setId(eid), f"create event {eid}")
        event.setUseValuesFromTriggerTime(False)
        trigger = event.createTrigger()
        trigger.setInitialValue(False)
        trigger.setPersistent(True)
        trigger.setMath(parse_formula(model, f"time >= {_num(time, time_units)}"))
        bolus: dict[str, float] = {}
        rate: dict[str, float] = {}
        for action in group:
            if action.bolus:
                bolus[action.target] = bolus.get(action.target, 0.0) + action.bolus
            if action.rate:
                rate[action.target] = rate.get(action.target, 0.0) + action.rate
        for target, amount in bolus.items():
            info = dose_target(model, target)
            increment = _num(amount, _amount_units(model, target))
            if info.compartment:
                increment = f"{increment} / {info.compartment}"
            assignment = event.createEventAssignment()
            assignment.setVariable(target)
            assignment.setMath(parse_formula(model, f"{target} + {increment}"))
        for target, delta in rate.items():
            pid = infusion_parameter(target)
            units = model.getParameter(pid).getUnits()
            sign = "+" if delta >= 0 else "-"
            assignment = event.createEventAssignment()
            assignment.setVariable(pid)
            assignment.setMath(parse_formula(model, f"{pid} {sign} {_num(abs(delta), units)}"))
        ids.append(eid)
    return ids


def _num(value: float, units: str) -> str:
    """A number for the L3 formula parser, with its unit when the model declares one."""
    return f"{value!r} {units}" if units else f"{value!r}"


def _amount_units(model: libsbml.Model, target: str) -> str:
    species = model.getSpecies(target)
    if species is not None:
        return str(species.getSubstanceUnits() if species.isSetSubstanceUnits() else model.getSubstanceUnits())
    parameter = model.getParameter(target)
    return str(parameter.getUnits()) if parameter is not None else ""

