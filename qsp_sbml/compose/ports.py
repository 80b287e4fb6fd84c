"""Ports of SBML modules: discover them, declare them on any SBML model.

A port is an SBML ``comp`` ``<port>`` that exposes one element of a model to
the model that instantiates it.  Its direction comes from its SBO term:
SBO:0000600 (input port) or SBO:0000601 (output port); a port without either
has direction ``"unspecified"``.

Any SBML model can get ports (:func:`add_ports`): models written in Level 2 or
in an older Level 3 version are converted to SBML L3V2 and the ``comp``
package is enabled first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import libsbml

from qsp_sbml.errors import CompositionError

__all__ = [
    "INPUT_PORT_SBO",
    "OUTPUT_PORT_SBO",
    "Port",
    "add_ports",
    "element_kind",
    "element_units",
    "ports",
    "read_document",
    "unit_string",
]

INPUT_PORT_SBO = 600
OUTPUT_PORT_SBO = 601

type DocumentLike = str | os.PathLike[str] | libsbml.SBMLDocument


@dataclass(frozen=True)
class Port:
    """One port of a module.

    Examples
    --------
    >>> p = Port("C_port", "C", "parameter", "output", "nM")
    >>> p.direction
    'output'
    """

    #: Port id (``comp:id``).
    id: str
    #: Id of the element the port exposes (``comp:idRef``).
    element: str
    #: SBML class of the element: ``parameter``, ``species``, ``compartment``, ``reaction``...
    kind: str
    #: ``input``, ``output`` or ``unspecified``.
    direction: str
    #: The element's units as readable text (empty when undeclared).
    units: str
    #: The element's derived units (None when undeclared).
    unit_definition: libsbml.UnitDefinition | None = field(default=None, compare=False, repr=False)


def read_document(source: DocumentLike) -> tuple[libsbml.SBMLDocument, str]:
    """Read an SBML file (or take a document); return it and a name for messages.

    Raises :class:`CompositionError` when the file is missing or unreadable.
    """
    if isinstance(source, libsbml.SBMLDocument):
        return source, str(source.getLocationURI() or "<document>")
    path = Path(source)
    if not path.is_file():
        raise CompositionError(f"{path}: no such SBML file")
    doc = libsbml.readSBMLFromFile(str(path))
    fatal = [doc.getError(i) for i in range(doc.getNumErrors())
             if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if fatal or doc.getModel() is None:
        first = fatal[0].getMessage().strip().splitlines()[0] if fatal else "no <model> element"
        raise CompositionError(f"{path}: cannot read this SBML file: {first}")
    return doc, str(path)


def element_kind(element: libsbml.SBase) -> str:
    """The SBML class of ``element`` in lower case (``parameter``, ``species``...)."""
    return str(libsbml.SBMLTypeCode_toString(element.getTypeCode(), element.getPackageName())).lower()


def element_units(element: libsbml.SBase) -> libsbml.UnitDefinition | None:
    """The element's derived units (a copy), or None when they are undeclared."""
    getter = getattr(element, "getDerivedUnitDefinition", None)
    if getter is None:
        return None
    ud = getter()
    if ud is None or ud.getNumUnits() == 0:
        return None
    return libsbml.UnitDefinition(ud)


_PREFIX = {-15: "f", -12: "p", -9: "n", -6: "u", -3: "m", -2: "c", -1: "d", 0: "", 3: "k"}
_SYMBOL = {"mole": "mol", "litre": "L", "gram": "g", "second": "s", "metre": "m", "kilogram": "kg",
           "item": "item", "dimensionless": "1", "ampere": "A", "kelvin": "K", "candela": "cd"}
_TIME = {3600.0: "h", 86400.0: "d", 60.0: "min", 604800.0: "wk"}


def _unit_term(u: libsbml.Unit) -> str:
    kind = str(libsbml.UnitKind_toString(u.getKind()))
    symbol = _SYMBOL.get(kind, kind)
    mult, scale = u.getMultiplier(), u.getScale()
    if kind == "second" and scale == 0 and mult in _TIME:
        text = _TIME[mult]
    elif mult == 1 and scale in _PREFIX and kind not in ("dimensionless", "kilogram"):
        text = _PREFIX[scale] + symbol
    else:
        factor = mult * 10.0 ** scale
        text = symbol if factor == 1 else f"({factor:g} {symbol})"
    exponent = abs(u.getExponentAsDouble())
    return text if exponent == 1 else f"{text}^{exponent:g}"


def unit_string(ud: libsbml.UnitDefinition | None) -> str:
    """Readable text for a unit definition, e.g. ``nmol/L``, ``L/h``, ``1`` (empty when None).

    Examples
    --------
    >>> ud = libsbml.UnitDefinition(3, 2)
    >>> for kind, exp, scale in ((libsbml.UNIT_KIND_MOLE, 1, -9), (libsbml.UNIT_KIND_LITRE, -1, 0)):
    ...     u = ud.createUnit(); _ = (u.setKind(kind), u.setExponent(exp), u.setScale(scale), u.setMultiplier(1))
    >>> unit_string(ud)
    'nmol/L'
    """
    if ud is None:
        return ""
    units = [ud.getUnit(i) for i in range(ud.getNumUnits())]
    num = [_unit_term(u) for u in units if u.getExponentAsDouble() > 0]
    den = [_unit_term(u) for u in units if u.getExponentAsDouble() < 0]
    text = "*".join(num) or "1"
    if den:
        text += "/" + ("/".join(den) if len(den) == 1 else "(" + "*".join(den) + ")")
    return text


def _direction(port: libsbml.Port) -> str:
    if port.isSetSBOTerm():
        if port.getSBOTerm() == INPUT_PORT_SBO:
            return "input"
        if port.getSBOTerm() == OUTPUT_PORT_SBO:
            return "output"
    return "unspecified"


def ports(source: DocumentLike) -> list[Port]:
    """The ports of the main model of ``source`` (a path or a libSBML document).

    Ports that point at an element other than by ``idRef`` (``unitRef``,
    ``metaIdRef``) are listed with kind ``unit`` / ``metaid`` and no units.

    Examples
    --------
    >>> from qsp_sbml._sbml_build import ModuleBuilder
    >>> b = ModuleBuilder("m", substance="nmol", time="hour")
    >>> _ = b.parameter("C_drug", 0.0, "nM")
    >>> _ = b.port("C_drug", direction="input")
    >>> [(p.id, p.direction) for p in ports(b.doc)]
    [('C_drug_port', 'input')]
    """
    doc, name = read_document(source)
    model = doc.getModel()
    plugin = model.getPlugin("comp") if doc.isPackageEnabled("comp") else None
    if plugin is None:
        return []
    out = []
    for i in range(plugin.getNumPorts()):
        port = plugin.getPort(i)
        if port.isSetIdRef():
            element = model.getElementBySId(port.getIdRef())
            if element is None:
                raise CompositionError(f"{name}: port {port.getId()!r} points at unknown element "
                                       f"{port.getIdRef()!r}")
            ud = element_units(element)
            out.append(Port(port.getId(), port.getIdRef(), element_kind(element), _direction(port),
                            unit_string(ud), ud))
        else:
            ref = port.getUnitRef() if port.isSetUnitRef() else port.getMetaIdRef()
            kind = "unit" if port.isSetUnitRef() else "metaid"
            out.append(Port(port.getId(), ref, kind, _direction(port), ""))
    return out


def _to_l3v2_comp(doc: libsbml.SBMLDocument, name: str) -> None:
    if (doc.getLevel(), doc.getVersion()) != (3, 2):
        props = libsbml.ConversionProperties(libsbml.SBMLNamespaces(3, 2))
        props.addOption("setLevelAndVersion", True)
        props.addOption("strict", False)
        status = doc.convert(props)
        if status != libsbml.LIBSBML_OPERATION_SUCCESS or (doc.getLevel(), doc.getVersion()) != (3, 2):
            log = doc.getErrorLog().toString().strip().splitlines()
            raise CompositionError(f"{name}: libSBML could not convert this model to SBML L3V2"
                                   + (f": {log[0]}" if log else ""))
    if not doc.isPackageEnabled("comp"):
        doc.enablePackage(libsbml.CompExtension.getXmlnsL3V1V1(), "comp", True)
        doc.setPackageRequired("comp", True)


def add_ports(
    source: DocumentLike,
    *,
    inputs: list[str] | tuple[str, ...] = (),
    outputs: list[str] | tuple[str, ...] = (),
) -> libsbml.SBMLDocument:
    """Declare input and output ports on any SBML model; return the (converted) document.

    A model that is not SBML L3V2 is converted to it and gets the ``comp``
    package; a path is read and never modified on disk (write the returned
    document yourself).  Each port gets id ``<element>_port`` and the SBO term
    of its direction.  An element that already has a port gets its direction
    updated.

    Raises
    ------
    CompositionError
        An id is not an element of the model (the message names the id and
        the file), or an id is given both as input and as output.
    """
    doc, name = read_document(source)
    if isinstance(source, libsbml.SBMLDocument):
        doc = source.clone()
    both = sorted(set(inputs) & set(outputs))
    if both:
        raise CompositionError(f"{name}: {', '.join(both)} given both as input and as output")
    model = doc.getModel()
    for element_id in [*inputs, *outputs]:
        if model.getElementBySId(element_id) is None:
            raise CompositionError(f"{name}: no element with id {element_id!r} in model {model.getId()!r} "
                                   "(ports expose compartments, species, parameters or reactions by id)")
    _to_l3v2_comp(doc, name)
    model = doc.getModel()
    plugin = model.getPlugin("comp")
    existing = {plugin.getPort(i).getIdRef(): plugin.getPort(i) for i in range(plugin.getNumPorts())}
    for direction, ids in (("input", inputs), ("output", outputs)):
        sbo = INPUT_PORT_SBO if direction == "input" else OUTPUT_PORT_SBO
        for element_id in ids:
            port = existing.get(element_id)
            if port is None:
                port_id = f"{element_id}_port"
                if model.getElementBySId(port_id) is not None or plugin.getPort(port_id) is not None:
                    raise CompositionError(f"{name}: cannot name the port of {element_id!r} {port_id!r}: "
                                           "that id is taken")
                port = plugin.createPort()
                port.setId(port_id)
                port.setIdRef(element_id)
                port.setName(element_id)
                existing[element_id] = port
            port.setSBOTerm(sbo)
    return doc
