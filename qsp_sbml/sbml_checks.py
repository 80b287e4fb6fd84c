"""Checks on SBML documents: libSBML's validators as :class:`Issue` data, plus our own.

Our own checks cover what libSBML lets through but RoadRunner cannot run or
silently runs wrongly: algebraic rules, ``delay()``, fast reactions and required
packages RoadRunner ignores (unsupported features), and ``comp`` replacements
whose replacing element is of another class than the replaced one (libSBML
flattens those by silently dropping the replaced element).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import libsbml

from qsp_sbml.validate import Issue, Severity, ValidationReport

__all__ = [
    "UNIT_CHECK_IDS",
    "check_comp_replacement_classes",
    "describe",
    "libsbml_issues",
    "risky_constructs",
    "unsupported_features",
]

#: libSBML ids about units outside its units-consistency category, treated as unit issues: "modelling practice"
#: findings of missing units (80701, 80702) and a unit reference that names no unit (10313; units do not enter
#: the simulation, and RoadRunner runs such models: SBML semantic case 00959).
UNIT_CHECK_IDS = frozenset({10313, 80701, 80702})

_QUOTED_ID = re.compile(r"'([A-Za-z_][A-Za-z0-9_]*)'")
_SEVERITY = {
    libsbml.LIBSBML_SEV_INFO: Severity.INFO,
    libsbml.LIBSBML_SEV_WARNING: Severity.WARNING,
    libsbml.LIBSBML_SEV_ERROR: Severity.ERROR,
    libsbml.LIBSBML_SEV_FATAL: Severity.CRITICAL,
}


def is_unit_issue(error: libsbml.SBMLError) -> bool:
    """Whether a libSBML finding is about units."""
    return (
        error.getCategory() == libsbml.LIBSBML_CAT_UNITS_CONSISTENCY
        or error.getErrorId() in UNIT_CHECK_IDS
    )


def _specific_message(error: libsbml.SBMLError) -> str:
    """The part of a libSBML message that names the element, after ``Reference:``."""
    text = error.getMessage().strip()
    lines = [ln.strip() for ln in text.splitlines()]
    for k, line in enumerate(lines):
        if line.startswith("Reference:"):
            tail = " ".join(ln for ln in lines[k + 1 :] if ln)
            if tail:
                return tail
    body = [ln for ln in lines if ln]
    return " ".join(body[1:] if len(body) > 1 else body)


def libsbml_issues(
    doc: libsbml.SBMLDocument, *, source: str, strict_units: bool = False
) -> ValidationReport:
    """Convert the errors logged on ``doc`` to issues.

    Unit findings are warnings, or errors when ``strict_units`` is true, whatever severity libSBML gives
    them (it reports unit inconsistencies of SBML Level 2 Versions 1-3 files as errors, of later ones as
    warnings).
    """
    report = ValidationReport()
    seen: set[tuple[int, int, str]] = set()
    for k in range(doc.getNumErrors()):
        error = doc.getError(k)
        specific = _specific_message(error)
        key = (error.getErrorId(), error.getLine(), specific)
        if key in seen:
            continue
        seen.add(key)
        severity = _SEVERITY.get(error.getSeverity(), Severity.ERROR)
        unit = is_unit_issue(error)
        if unit and severity in (Severity.WARNING, Severity.ERROR):
            # our rule, whatever severity libSBML gives (L2V1-3 make unit inconsistencies errors, L2V4+ warnings)
            severity = Severity.ERROR if strict_units else Severity.WARNING
        short = error.getShortMessage().strip().rstrip(".")
        message = specific if short and short in specific else f"{short}: {specific}"
        match = _QUOTED_ID.search(specific)
        line = error.getLine()
        report.append(
            Issue(
                severity,
                message,
                check=f"sbml-{'units-' if unit else ''}{error.getErrorId()}",
                where=f"{source}:{line}" if line > 0 else source,
                sbml_id=match.group(1) if match else None,
                file=source,
                line=line if line > 0 else None,
                hint=(
                    "declare units on every parameter, species and compartment"
                    if unit
                    else None
                ),
            )
        )
    return report


def describe(element: libsbml.SBase) -> str:
    """A short human description of an SBML element, e.g. ``rateRule for 'x'``."""
    name = element.getElementName()
    if isinstance(element, libsbml.Rule) or isinstance(element, libsbml.EventAssignment):
        return f"<{name}> for '{element.getVariable()}'"
    if isinstance(element, libsbml.InitialAssignment):
        return f"<{name}> for '{element.getSymbol()}'"
    if element.isSetId():
        return f"<{name}> '{element.getId()}'"
    parent = element.getParentSBMLObject()
    if parent is not None and parent is not element:
        return f"<{name}> of {describe(parent)}"
    return f"<{name}>"


def _has_delay(node: libsbml.ASTNode | None) -> bool:
    if node is None:
        return False
    if node.getType() == libsbml.AST_FUNCTION_DELAY:
        return True
    return any(_has_delay(node.getChild(i)) for i in range(node.getNumChildren()))


def unsupported_features(doc: libsbml.SBMLDocument, *, source: str) -> Iterator[Issue]:
    """Constructs RoadRunner cannot simulate, as CRITICAL issues naming the element."""
    model = doc.getModel()
    if model is None:
        return
    for element in model.getListOfAllElements():
        # an algebraic rule without math (legal in L3V2) constrains nothing: semantic case 01244
        if isinstance(element, libsbml.Rule) and element.isAlgebraic() and element.isSetMath():
            yield Issue(
                Severity.CRITICAL,
                f"algebraic rule ({libsbml.formulaToL3String(element.getMath())} = 0) "
                "is not supported by the RoadRunner simulator",
                check="unsupported-algebraic-rule",
                where=source,
                file=source,
                hint="rewrite it as an assignment or rate rule",
            )
        elif isinstance(element, libsbml.Reaction) and element.isSetFast() and element.getFast():
            yield Issue(
                Severity.CRITICAL,
                f"fast reaction '{element.getId()}' is not supported by the RoadRunner simulator",
                check="unsupported-fast-reaction",
                where=source,
                file=source,
                sbml_id=element.getId(),
                hint="replace the fast reaction by a quasi-steady-state assignment",
            )
        elif (isinstance(element, libsbml.SpeciesReference) and element.isSetStoichiometryMath()
              and _has_delay(element.getStoichiometryMath().getMath())):  # L2; not among getListOfAllElements
            yield Issue(
                Severity.CRITICAL,
                f"delay() in the stoichiometryMath of {describe(element)} is not supported by the RoadRunner "
                "simulator",
                check="unsupported-delay",
                where=source,
                file=source,
                sbml_id=element.getSpecies(),
                hint="replace delay() by a transit-compartment chain",
            )
        elif hasattr(element, "isSetMath") and element.isSetMath() and _has_delay(element.getMath()):
            yield Issue(
                Severity.CRITICAL,
                f"delay() in {describe(element)} is not supported by the RoadRunner simulator",
                check="unsupported-delay",
                where=source,
                file=source,
                sbml_id=element.getId() if element.isSetId() else None,
                hint="replace delay() by a transit-compartment chain",
            )
    fbc = model.getPlugin("fbc") if doc.getLevel() >= 3 else None
    if fbc is not None and (fbc.getNumObjectives() or getattr(fbc, "getNumFluxBounds", lambda: 0)()):
        yield Issue(
            Severity.CRITICAL,
            "flux balance model (SBML 'fbc' objectives and flux bounds): it is analysed by constraint-based "
            "methods, not simulated as ODEs (RoadRunner refuses it)",
            check="unsupported-fbc",
            where=source,
            file=source,
            hint="use a constraint-based tool such as COBRApy for this model",
        )
    # SBML Level 2 has no packages; libSBML still lists L2 plugins (layout) and reports them "required"
    for k in range(doc.getNumPlugins() if doc.getLevel() >= 3 else 0):
        prefix = doc.getPlugin(k).getPrefix()
        if prefix != "comp" and doc.getPackageRequired(prefix):
            yield Issue(
                Severity.CRITICAL,
                f"required SBML package '{prefix}' is not supported",
                check="unsupported-package",
                where=source,
                file=source,
            )


def check_comp_replacement_classes(
    doc: libsbml.SBMLDocument, *, source: str
) -> Iterator[Issue]:
    """Each comp replacement must replace an element of the same SBML class.

    A ``parameter`` may stand in for a compartment, species, species reference
    or local parameter (the comp specification allows a replacement by a
    parameter); anything else is refused because the
    libSBML flattener silently drops the replaced element.
    """
    allowed_by_parameter = {"compartment", "species", "speciesReference", "parameter", "localParameter"}
    for element in doc.getListOfAllElements():
        code = element.getTypeCode()
        if code == libsbml.SBML_COMP_REPLACEDELEMENT:
            replacing = element.getParentSBMLObject().getParentSBMLObject()
        elif code == libsbml.SBML_COMP_REPLACEDBY:
            replacing = element.getParentSBMLObject()
        else:
            continue
        if replacing is None or (code == libsbml.SBML_COMP_REPLACEDELEMENT and element.isSetDeletion()):
            continue
        try:
            replaced = element.getReferencedElement()
        except Exception:
            replaced = None
        if replaced is None:
            continue
        if code == libsbml.SBML_COMP_REPLACEDBY:
            replacing, replaced = replaced, replacing
        new, old = replacing.getElementName(), replaced.getElementName()
        if new == old or (new == "parameter" and old in allowed_by_parameter):
            continue
        port = element.getPortRef() if element.isSetPortRef() else None
        via = f" through port '{port}'" if port else ""
        yield Issue(
            Severity.ERROR,
            f"<{new}> '{replacing.getId()}' replaces <{old}> '{replaced.getId()}'{via}: "
            "a replacement must be of the same class as the element it replaces",
            check="comp-replacement-class",
            where=f"{source}:{element.getLine()}",
            sbml_id=replacing.getId(),
            file=source,
            line=element.getLine() or None,
            hint=f"replace the {old} with a {old}, or link to another port",
        )


def _constant_value(node: libsbml.ASTNode, model: libsbml.Model) -> float | None:
    """The value of a number or of a constant parameter without rules; None otherwise."""
    if node.isNumber():
        return float(node.getValue())
    if node.isName():
        param = model.getParameter(node.getName())
        if (param is not None and param.getConstant() and param.isSetValue()
                and model.getInitialAssignmentBySymbol(param.getId()) is None):
            return float(param.getValue())
    return None


def _trigger_key(event: libsbml.Event, model: libsbml.Model) -> str | None:
    """A key equal for triggers that fire together: ``time >= c`` forms by the value of c, else the formula."""
    trigger = event.getTrigger()
    if trigger is None or not trigger.isSetMath():
        return None
    node = trigger.getMath()
    comparisons = {libsbml.AST_RELATIONAL_GEQ: 1, libsbml.AST_RELATIONAL_GT: 1,
                   libsbml.AST_RELATIONAL_LEQ: -1, libsbml.AST_RELATIONAL_LT: -1}
    if node.getType() in comparisons and node.getNumChildren() == 2:
        left, right = node.getChild(0), node.getChild(1)
        if left.getType() == libsbml.AST_NAME_TIME and (value := _constant_value(right, model)) is not None:
            return f"time crosses {value!r}"
        if right.getType() == libsbml.AST_NAME_TIME and (value := _constant_value(left, model)) is not None:
            return f"time crosses {value!r}"
    return str(libsbml.formulaToL3String(node))


def risky_constructs(doc: libsbml.SBMLDocument, *, source: str) -> Iterator[Issue]:
    """Valid but risky constructs, as WARNING issues naming the elements.

    * Events that fire at the same time (identical triggers, or ``time``
      crossing the same constant) when not all of them have a priority: SBML
      leaves their order undefined (L3V2 section 4.11.7), so simulators may differ.
    * Species amounts or concentrations and compartment sizes that are negative
      or not finite, and parameter values that are not finite.
    """
    model = doc.getModel()
    if model is None:
        return
    groups: dict[str, list[libsbml.Event]] = {}
    for k in range(model.getNumEvents()):
        event = model.getEvent(k)
        key = _trigger_key(event, model)
        if key is not None:
            groups.setdefault(key, []).append(event)
    for key, events in groups.items():
        unprioritised = [e for e in events if not e.isSetPriority()]
        if len(events) > 1 and unprioritised:
            ids = ", ".join(repr(e.getId() or f"event {k + 1}") for k, e in enumerate(events))
            yield Issue(
                Severity.WARNING,
                f"events {ids} fire at the same time ({key}) and "
                f"{'none has' if len(unprioritised) == len(events) else 'not all have'} a priority: "
                "SBML leaves their order undefined",
                check="risky-simultaneous-events",
                where=source,
                file=source,
                sbml_id=events[0].getId() or None,
                hint="give each event a <priority>, or merge them into one event",
            )
    values: list[tuple[libsbml.SBase, str, float, bool]] = []
    for k in range(model.getNumSpecies()):
        sp = model.getSpecies(k)
        if sp.isSetInitialAmount():
            values.append((sp, "initial amount", sp.getInitialAmount(), True))
        elif sp.isSetInitialConcentration():
            values.append((sp, "initial concentration", sp.getInitialConcentration(), True))
    for k in range(model.getNumCompartments()):
        comp = model.getCompartment(k)
        if comp.isSetSize():
            values.append((comp, "size", comp.getSize(), True))
    for k in range(model.getNumParameters()):
        param = model.getParameter(k)
        if param.isSetValue():
            values.append((param, "value", param.getValue(), False))
    for element, what, value, must_be_non_negative in values:
        sid = element.getId()
        if model.getInitialAssignmentBySymbol(sid) is not None or model.getAssignmentRuleByVariable(sid) is not None:
            continue  # the value written in the file is not used
        if not math.isfinite(value) or (must_be_non_negative and value < 0):
            yield Issue(
                Severity.WARNING,
                f"{describe(element)} has {what} {value!r}",
                check="risky-initial-value",
                where=f"{source}:{element.getLine()}" if element.getLine() > 0 else source,
                file=source,
                line=element.getLine() or None,
                sbml_id=sid,
                hint="check the value: a negative or non-finite starting value is rarely intended",
            )
