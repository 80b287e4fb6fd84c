"""A root function for every relation of a composite event trigger, so that no trigger change goes unseen.

RoadRunner gives CVODE one root function per event: the truth value of its trigger, a step from false to true.
CVODE looks for a root only where a root function differs in sign between the two ends of an internal step,
so a trigger made of several relations that becomes true and false again inside one step is never seen:
``(S1 > 0.18) && (S1 < 0.19)`` with ``S1`` crossing the window in one step is false at both ends, and its
event never fires (SBML semantic test suite case 01511; plain libroadrunner 2.11 returns the same wrong
numbers).

A boolean combination (``and``, ``or``, ``xor``, ``not``, ``piecewise``, a function definition, a chained
relation ``lo < x < hi``) of relations can change value only where one of its relations changes value.
:func:`with_trigger_roots` therefore adds, for every event whose trigger has two or more distinct relations
(after expanding function definitions), one hidden event per relation that is not already the whole trigger
of an event:

* trigger: that relation alone; ``persistent`` and ``initialValue`` true (Level 3);
* no delay, no priority, **no event assignment**: it changes no value, only where the integrator stops.

CVODE then stops at every change of every relation, and at every stop RoadRunner evaluates every trigger,
so the composite trigger's event fires (with its own delay, persistence, priority and assignment-time
values) at the time the composite changes.  A relation crossed twice within one step (a touch of its
threshold) stays unseen, as for any root function.

Only the text handed to RoadRunner changes (:func:`qsp_sbml.simulate.runner.new_runner` and the compiled
model cache call this): ``Model.sbml``, exported SBML, selections, parameter lists and
every other reader of the model never see the hidden events; only ``rr.model.getEventIds()`` of the
RoadRunner instance lists them (ids starting with :data:`ROOT_EVENT_PREFIX`).  A model without such a
trigger is returned unchanged, as the same string, so it compiles to the same code as before.  The function
is idempotent: applied to its own output it returns that output unchanged.
"""

from __future__ import annotations

import re

import libsbml

__all__ = ["ROOT_EVENT_PREFIX", "composite_relations", "with_trigger_roots"]

#: Id prefix of the hidden events (a number follows; an id the model uses already is skipped).
ROOT_EVENT_PREFIX = "qsp_trigger_root_"

# A trigger that is one relation of two plain operands (``time >= 12``, ``x > k``), read from the text: a
# model whose triggers are all such is returned without parsing it (parsing costs 8-19 ms for the shipped
# models with dose events, more than loading a compiled model from the cache).  Anything else is parsed.
_P = r"(?:[A-Za-z_][\w.-]*:)?"  # an optional namespace prefix
_OPERAND = (rf"\s*(?:<{_P}ci>[^<]*</{_P}ci>|<{_P}cn\b[^>]*>[^<]*(?:<{_P}sep/>[^<]*)?</{_P}cn>"
            rf"|<{_P}csymbol\b[^>]*>[^<]*</{_P}csymbol>)")
_SIMPLE_TRIGGER = re.compile(
    rf"<{_P}trigger\b[^>]*>\s*<{_P}math\b[^>]*>\s*<{_P}apply>\s*<{_P}(?:gt|lt|geq|leq|eq|neq)\s*/>"
    rf"{_OPERAND}{_OPERAND}\s*</{_P}apply>\s*</{_P}math>\s*</{_P}trigger>")
_TRIGGER = re.compile(rf"<{_P}trigger\b")
# calls whose value can change although their arguments are literals
_READERS = (libsbml.AST_FUNCTION, libsbml.AST_FUNCTION_DELAY, getattr(libsbml, "AST_FUNCTION_RATE_OF", -1))


def _expanded(math: libsbml.ASTNode, model: libsbml.Model) -> libsbml.ASTNode:
    """A copy of ``math`` with calls of the model's function definitions replaced by their bodies."""
    node = math.deepCopy()
    if model.getNumFunctionDefinitions():
        libsbml.SBMLTransforms.replaceFD(node, model.getListOfFunctionDefinitions())
    return node


def _has_symbol(node: libsbml.ASTNode) -> bool:
    """Whether ``node`` reads anything that can change (an id, time, a call): a relation of literals never does."""
    if node.isName() or node.getType() in _READERS:
        return True
    return any(_has_symbol(node.getChild(i)) for i in range(node.getNumChildren()))


def _relations(node: libsbml.ASTNode, out: list[libsbml.ASTNode]) -> list[libsbml.ASTNode]:
    """Every relational node of ``node`` (nested ones too: a relation inside a ``piecewise`` argument).

    A chained relation (MathML ``<lt/>`` of three operands, ``lo < x < hi``) is a conjunction: each
    neighbouring pair is one relation.
    """
    if node.isRelational() and node.getNumChildren() > 2:
        for i in range(node.getNumChildren() - 1):
            pair = libsbml.ASTNode(node.getType())
            pair.addChild(node.getChild(i).deepCopy())
            pair.addChild(node.getChild(i + 1).deepCopy())
            if _has_symbol(pair):
                out.append(pair)
    elif node.isRelational() and _has_symbol(node):
        out.append(node)
    for i in range(node.getNumChildren()):
        _relations(node.getChild(i), out)
    return out


def _formula(node: libsbml.ASTNode) -> str:
    return str(libsbml.formulaToL3String(node))


def composite_relations(model: libsbml.Model) -> dict[str, list[libsbml.ASTNode]]:
    """Event id -> the distinct relations of its trigger, for events whose trigger has two or more.

    Function definitions are expanded; the returned nodes are copies, free to attach elsewhere.
    """
    out: dict[str, list[libsbml.ASTNode]] = {}
    for event in model.getListOfEvents():
        trigger = event.getTrigger() if event.isSetTrigger() else None
        if trigger is None or not trigger.isSetMath():
            continue
        math = _expanded(trigger.getMath(), model)  # kept alive: the relations found are its children
        distinct: dict[str, libsbml.ASTNode] = {}
        for rel in _relations(math, []):
            distinct.setdefault(_formula(rel), rel)
        if len(distinct) >= 2:
            out[event.getId()] = [rel.deepCopy() for rel in distinct.values()]
    return out


def _whole_triggers(model: libsbml.Model) -> set[str]:
    """Formulas of the events' whole triggers (each already a root function of CVODE)."""
    return {_formula(_expanded(e.getTrigger().getMath(), model)) for e in model.getListOfEvents()
            if e.isSetTrigger() and e.getTrigger().isSetMath()}


def _add_root_event(model: libsbml.Model, relation: libsbml.ASTNode, taken: set[str]) -> None:
    k = 0
    while f"{ROOT_EVENT_PREFIX}{k}" in taken:
        k += 1
    eid = f"{ROOT_EVENT_PREFIX}{k}"
    taken.add(eid)
    event = model.createEvent()
    event.setId(eid)
    trigger = event.createTrigger()
    if model.getLevel() >= 3:
        event.setUseValuesFromTriggerTime(True)
        trigger.setPersistent(True)
        trigger.setInitialValue(True)
    trigger.setMath(relation)


def _ids(model: libsbml.Model) -> set[str]:
    return {str(e.getId()) for e in model.getListOfAllElements() if e.isSetId()}


def with_trigger_roots(sbml: str) -> str:
    """``sbml`` with a hidden root event for each relation of a composite trigger (see the module docstring).

    Returns ``sbml`` itself when no trigger combines two or more relations, or when libSBML cannot read it
    (RoadRunner then reports the problem).

    Examples
    --------
    >>> doc = libsbml.SBMLDocument(3, 2)
    >>> event = doc.createModel().createEvent()
    >>> trigger = event.createTrigger()
    >>> _ = event.setId("E0"), event.setUseValuesFromTriggerTime(True), trigger.setPersistent(True)
    >>> _ = trigger.setInitialValue(False), trigger.setMath(libsbml.parseL3Formula("time > 1 && time < 1.001"))
    >>> text = with_trigger_roots(libsbml.writeSBMLToString(doc))
    >>> out = libsbml.readSBMLFromString(text)
    >>> [e.getId() for e in out.getModel().getListOfEvents()]
    ['E0', 'qsp_trigger_root_0', 'qsp_trigger_root_1']
    >>> with_trigger_roots(text) == text
    True
    """
    if len(_TRIGGER.findall(sbml)) == len(_SIMPLE_TRIGGER.findall(sbml)):
        return sbml  # no event, or only triggers of one plain relation
    doc = libsbml.readSBMLFromString(sbml)
    model = doc.getModel()
    if model is None or doc.getNumErrors(libsbml.LIBSBML_SEV_FATAL) or not model.getNumEvents():
        return sbml
    composite = composite_relations(model)
    if not composite:
        return sbml
    covered = _whole_triggers(model)
    missing: dict[str, libsbml.ASTNode] = {}
    for relations in composite.values():
        for rel in relations:
            key = _formula(rel)
            if key not in covered:
                missing.setdefault(key, rel)
    if not missing:
        return sbml
    taken = _ids(model)
    for rel in missing.values():
        _add_root_event(model, rel, taken)
    return str(libsbml.writeSBMLToString(doc))
