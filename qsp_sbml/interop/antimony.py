"""Antimony text in and out, for users who write models as text (through the ``antimony`` package).

- :func:`from_antimony`: Antimony text -> flat SBML L3V2 text.  A hierarchical
  Antimony model is exported as a ``comp`` document and flattened with
  libSBML (libSBML's ids, ``sub__x``, as everywhere in qsp-sbml; Antimony's
  own flattening would name it ``sub_x``).  The result is checked with
  libSBML and refused when it is empty: Antimony returns an empty model
  silently for some inputs (e.g. text that defines only a module that is
  never instantiated, or a misspelt model name).
- :func:`to_antimony`: SBML text or file -> Antimony text (a ``comp``
  document is flattened first).

Needs the ``antimony`` package (the ``exchange`` extra; tellurium ships it too).
"""

from __future__ import annotations

import os

import libsbml

from qsp_sbml._optional import require
from qsp_sbml.errors import SbmlError

__all__ = ["from_antimony", "to_antimony"]


def _counts(model: libsbml.Model) -> int:
    return (model.getNumSpecies() + model.getNumParameters() + model.getNumCompartments()
            + model.getNumReactions() + model.getNumRules() + model.getNumEvents())


def _undefined(model: libsbml.Model) -> list[str]:
    """Ids of parameters, compartments and species with no value, rule or initial assignment."""
    out = []
    for items, has_value in ((model.getListOfParameters(), lambda e: e.isSetValue()),
                             (model.getListOfCompartments(), lambda e: e.isSetSize()),
                             (model.getListOfSpecies(),
                              lambda e: e.isSetInitialAmount() or e.isSetInitialConcentration())):
        for element in items:
            sid = element.getId()
            if not has_value(element) and model.getInitialAssignmentBySymbol(sid) is None \
                    and model.getRuleByVariable(sid) is None:
                out.append(sid)
    return out


def _check(doc: libsbml.SBMLDocument, what: str) -> None:
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, False)
    doc.checkConsistency()
    errors = [doc.getError(i) for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if errors:
        first = errors[0]
        raise SbmlError(f"{what}: the SBML is invalid ({len(errors)} error(s)); first, line {first.getLine()}: "
                        f"{first.getMessage().strip()}")


def _flatten(doc: libsbml.SBMLDocument, what: str) -> libsbml.SBMLDocument:
    plugin = doc.getModel().getPlugin("comp") if doc.getModel() is not None else None
    if plugin is None or plugin.getNumSubmodels() == 0:
        return doc
    props = libsbml.ConversionProperties()
    props.addOption("flatten comp", True)
    props.addOption("leave_ports", False)
    if doc.convert(props) != libsbml.LIBSBML_OPERATION_SUCCESS:
        log = doc.getErrorLog().toString().strip().splitlines()
        raise SbmlError(f"{what}: libSBML could not flatten the comp model" + (f": {log[0]}" if log else ""))
    return doc


def from_antimony(text: str, *, module: str | None = None) -> str:
    """Antimony text -> flat SBML L3V2 text (checked, non-empty).

    Parameters
    ----------
    text
        Antimony source.
    module
        The model to export (default: Antimony's main module, the last one defined).

    Raises
    ------
    SbmlError
        Antimony reports an error (its message is given), the module does not
        exist, the SBML it writes is invalid, or the model is empty.

    Examples
    --------
    >>> sbml = from_antimony("model decay\\n  A -> ; k*A\\n  A = 10; k = 0.1\\nend")
    >>> import libsbml
    >>> libsbml.readSBMLFromString(sbml).getModel().getNumReactions()
    1
    """
    antimony = require("antimony", extra="exchange")
    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(text) < 0:
        message = (antimony.getLastError() or "unknown error").strip()
        raise SbmlError(f"Antimony could not read the text: {message}")
    names = [antimony.getNthModuleName(i) for i in range(antimony.getNumModules())]
    name = module or antimony.getMainModuleName()
    if not name or name not in names:
        raise SbmlError(f"Antimony module {module or name!r} not found; defined: {', '.join(names) or 'none'}")
    comp = antimony.getCompSBMLString(name)
    if not comp:
        raise SbmlError(f"Antimony returned no SBML for module {name!r}: {antimony.getLastError() or ''}".strip())
    doc = libsbml.readSBMLFromString(comp)
    if doc.getModel() is None:
        raise SbmlError(f"Antimony's SBML for module {name!r} has no model")
    doc = _flatten(doc, f"Antimony module {name!r}")
    if (doc.getLevel(), doc.getVersion()) != (3, 2):
        props = libsbml.ConversionProperties(libsbml.SBMLNamespaces(3, 2))
        props.addOption("setLevelAndVersion", True)
        props.addOption("strict", False)
        doc.convert(props)
    if doc.isPackageEnabled("comp"):
        doc.disablePackage(libsbml.CompExtension.getXmlnsL3V1V1(), "comp")
    if _counts(doc.getModel()) == 0:
        raise SbmlError(f"Antimony module {name!r} gave an empty model (no species, parameters, compartments, "
                        "reactions, rules or events); check the model name and that the text defines it")
    undefined = _undefined(doc.getModel())
    if undefined:
        raise SbmlError(f"Antimony module {name!r}: no value for {', '.join(undefined[:10])}"
                        + (f" and {len(undefined) - 10} more" if len(undefined) > 10 else "")
                        + "; give each a value (e.g. 'k = 0.1')")
    out = str(libsbml.writeSBMLToString(doc))
    _check(libsbml.readSBMLFromString(out), f"Antimony module {name!r}")
    return out


def to_antimony(sbml: str | os.PathLike[str]) -> str:
    """SBML text or file -> Antimony text (a ``comp`` document is flattened with libSBML first).

    Raises
    ------
    SbmlError
        libSBML or Antimony cannot read the SBML.
    """
    antimony = require("antimony", extra="exchange")
    is_path = isinstance(sbml, os.PathLike) or (isinstance(sbml, str) and "<" not in sbml)
    what = str(sbml) if is_path else "SBML text"
    doc = libsbml.readSBMLFromFile(str(sbml)) if is_path else libsbml.readSBMLFromString(sbml)
    if doc.getModel() is None or doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) + \
            doc.getNumErrors(libsbml.LIBSBML_SEV_FATAL):
        first = doc.getError(0).getMessage().strip() if doc.getNumErrors() else "no model element"
        raise SbmlError(f"{what}: not a readable SBML model: {first}")
    doc = _flatten(doc, what)
    antimony.clearPreviousLoads()
    if antimony.loadSBMLString(str(libsbml.writeSBMLToString(doc))) < 0:
        raise SbmlError(f"{what}: Antimony could not read the SBML: {(antimony.getLastError() or '').strip()}")
    text = antimony.getAntimonyString(antimony.getMainModuleName())
    if not text:
        raise SbmlError(f"{what}: Antimony wrote no text: {(antimony.getLastError() or '').strip()}")
    return str(text)


