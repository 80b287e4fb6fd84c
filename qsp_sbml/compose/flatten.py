"""Flatten a comp document with libSBML (the loader's path) and trace every flat id.

Flattening goes through :func:`qsp_sbml.loading.read_check_flatten`, the same
libSBML ``CompFlatteningConverter`` pipeline :func:`qsp_sbml.load_model` runs on
a comp file (and the SBML comp test suite checks), so a composed model and its
flat file are one model.

libSBML names an element ``x`` of submodel ``s`` ``s__x`` in the flat model;
an element replaced by a top-level element takes the top-level element's id.
:func:`provenance` predicts that mapping from the comp document and checks it
against the flat model, so an id the flattener had to rename (a clash) is an
error, not a surprise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import libsbml

from qsp_sbml.errors import CompositionError
from qsp_sbml.loading import read_check_flatten

__all__ = ["Origin", "algebraic_loop", "flat_ids", "flatten_comp", "model_ids", "provenance", "raw_flatten"]


@dataclass(frozen=True)
class Origin:
    """Where one id of the flat model comes from."""

    #: Submodel id (empty for elements the composition itself adds).
    module: str
    #: The element's id in its module (or in the top-level model).
    original_id: str
    #: SBML class (``parameter``, ``species``...).
    kind: str
    #: ``element``, ``link`` (a top-level element joining linked ends) or ``conversion``.
    role: str
    #: Free text, e.g. the link a top-level element implements.
    note: str = ""


_KINDS = (
    ("compartment", "getListOfCompartments"),
    ("species", "getListOfSpecies"),
    ("parameter", "getListOfParameters"),
    ("reaction", "getListOfReactions"),
    ("event", "getListOfEvents"),
    ("functionDefinition", "getListOfFunctionDefinitions"),
)


def model_ids(model: libsbml.Model) -> Iterator[tuple[str, str]]:
    """``(id, kind)`` of every element of ``model`` in the global SId namespace."""
    for kind, getter in _KINDS:
        for element in getattr(model, getter)():
            if element.isSetId():
                yield element.getId(), kind
    for reaction in model.getListOfReactions():
        for refs in (reaction.getListOfReactants(), reaction.getListOfProducts(), reaction.getListOfModifiers()):
            for ref in refs:
                if ref.isSetId():
                    yield ref.getId(), "speciesReference"


def flat_ids(model: libsbml.Model) -> dict[str, str]:
    """Id -> kind for the flat model."""
    return dict(model_ids(model))


def flatten_comp(comp_sbml: str, *, name: str) -> str:
    """Validate and flatten a comp document with the loader's pipeline; return the flat SBML.

    Raises :class:`CompositionError` listing libSBML's errors (an algebraic
    loop through links is named by :func:`algebraic_loop` first).
    """
    result = read_check_flatten(comp_sbml, False, name, None, False, False)
    if result.flat_sbml is None or result.report.has_errors():
        loop = algebraic_loop(raw_flatten(comp_sbml))
        if loop:
            raise CompositionError(f"{name}: the links make an algebraic loop: {' -> '.join(loop)}",
                                   sbml_id=loop[0])
        errors = result.report.errors()
        lines = [f"  - {issue.format()}" for issue in errors[:10]]
        raise CompositionError(f"{name}: the composed model is not valid SBML ({len(errors)} error(s)):\n"
                               + "\n".join(lines))
    return result.flat_sbml


def raw_flatten(comp_sbml: str) -> libsbml.Model | None:
    """Flatten with libSBML without validation (for diagnostics only)."""
    doc = libsbml.readSBMLFromString(comp_sbml)
    props = libsbml.ConversionProperties()
    props.addOption("flatten comp", True)
    props.addOption("leave_ports", False)
    props.addOption("performValidation", False)
    if doc.convert(props) != libsbml.LIBSBML_OPERATION_SUCCESS or doc.getModel() is None:
        return None
    return libsbml.readSBMLFromString(libsbml.writeSBMLToString(doc)).getModel()


def _names(ast: libsbml.ASTNode | None) -> set[str]:
    if ast is None:
        return set()
    names = {ast.getName()} if ast.getType() == libsbml.AST_NAME else set()
    for i in range(ast.getNumChildren()):
        names |= _names(ast.getChild(i))
    return names


def algebraic_loop(model: libsbml.Model | None) -> list[str] | None:
    """A cycle of assignment rules (``[a, b, a]``) in ``model``, or None."""
    if model is None:
        return None
    rules = {r.getVariable(): r for r in model.getListOfRules() if r.isAssignment()}
    graph = {var: sorted(_names(rule.getMath()) & set(rules)) for var, rule in rules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for var in sorted(graph):
        if var not in state:
            found = visit(var)
            if found:
                return found
    return None


def provenance(
    comp_doc: libsbml.SBMLDocument,
    flat_model: libsbml.Model,
    top_level: Mapping[str, Origin],
    replaced: Mapping[tuple[str, str], str],
) -> dict[str, Origin]:
    """Origin of every id of the flat model.

    Parameters
    ----------
    comp_doc
        The comp document (one submodel per module, model definitions inline).
    flat_model
        Its flat model.
    top_level
        Origins of the elements the composition added at the top level.
    replaced
        ``(submodel, element id) -> top-level id`` for every replaced element.

    Raises
    ------
    CompositionError
        The flat model's ids differ from the prediction: the flattener renamed
        something, i.e. ids clash.
    """
    top = comp_doc.getModel()
    plugin = comp_doc.getPlugin("comp")
    expected: dict[str, Origin] = dict(top_level)
    for sub in top.getPlugin("comp").getListOfSubmodels():
        definition = plugin.getModelDefinition(sub.getModelRef())
        for element_id, kind in model_ids(definition):
            if (sub.getId(), element_id) in replaced:
                continue
            expected[f"{sub.getId()}__{element_id}"] = Origin(sub.getId(), element_id, kind, "element")
    actual = flat_ids(flat_model)
    unexpected = sorted(set(actual) - set(expected))
    missing = sorted(set(expected) - set(actual))
    if unexpected or missing:
        raise CompositionError(
            "libSBML renamed ids while flattening (an id clash between the top level and a submodel prefix?): "
            f"unexpected flat id(s) {unexpected[:5]}, missing {missing[:5]}; rename the clashing module or element",
            sbml_id=(unexpected or missing)[0],
        )
    return {fid: expected[fid] for fid in actual}
