"""Assemble SBML modules into one hierarchical ``comp`` model and its flat model.

Each module becomes a ``comp:modelDefinition`` inlined in one document (one per
submodel, so that parameter overrides stay per instance) and a ``comp:submodel``
of the top-level model.  A link ``A.out -> B.in`` ("the output of A drives the
input of B") is one top-level parameter, ``A_out``, that replaces both ``A.out``
and ``B.in`` (and every other input ``A.out`` drives): the flat model keeps A's
rule for it under the top-level id, and B's math reads it.  Linking through a
top-level element, never submodel to submodel, is what libSBML and COPASI both
flatten faithfully.  A species cannot be replaced by a parameter, so a species
output is read through a rule ``<S>_signal := S`` added to the module's
(copied) definition, and the top-level parameter replaces that.

Units of the two ends are compared: the same units link directly; the same
dimension at another scale (nM and uM, hour and day) links with a ``comp``
``conversionFactor`` on the replaced input (libSBML's flattener writes
``A_out / factor`` wherever B read its input); different dimensions are
refused.
"""

from __future__ import annotations

import html
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import libsbml
import pandas as pd

from qsp_sbml._io import atomic_write_many
from qsp_sbml.compose._units import same_dimension, scale_factor
from qsp_sbml.compose.flatten import Origin, flatten_comp, provenance
from qsp_sbml.compose.ports import Port, _to_l3v2_comp, element_kind, element_units, ports, read_document, unit_string
from qsp_sbml.errors import CompositionError, UnitWarning, ValidationError

__all__ = ["Composition", "Link", "assemble", "parse_link"]

_SID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Relative tolerance under which two unit scales count as equal (mg/L and ug/mL).
_SAME_SCALE = 1e-12


@dataclass(frozen=True)
class Link:
    """"The output ``source`` drives the input ``target``" (both ``"submodel.id"``).

    Examples
    --------
    >>> str(Link("pk.C_free", "pd.C_drug"))
    'pk.C_free -> pd.C_drug'
    """

    source: str
    target: str
    #: Where the link was written (e.g. ``"spec.yaml, line 7"``), for messages.
    where: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"

    def describe(self) -> str:
        """``link A.x -> B.y`` plus its location."""
        return f"link {self}" + (f" ({self.where})" if self.where else "")


def parse_link(value: Link | tuple[str, str] | list[str] | str, where: str = "") -> Link:
    """A :class:`Link` from a link, a ``(source, target)`` pair or ``"A.x -> B.y"``.

    Examples
    --------
    >>> parse_link("pk.C -> pd.C_drug").target
    'pd.C_drug'
    """
    if isinstance(value, Link):
        return value
    if isinstance(value, str):
        parts = [p.strip() for p in value.split("->")]
        if len(parts) != 2 or not all(parts):
            raise CompositionError(f"{where + ': ' if where else ''}link {value!r} must read 'A.output -> B.input'")
        return Link(parts[0], parts[1], where)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return Link(value[0], value[1], where)
    raise CompositionError(f"{where + ': ' if where else ''}a link is 'A.output -> B.input' or a (source, target) "
                           f"pair, got {value!r}")


@dataclass
class Composition:
    """The result of :func:`assemble`: comp document, flat model and provenance."""

    #: Top-level model id.
    name: str
    #: The hierarchical document (SBML L3V2 + comp, model definitions inline).
    comp_sbml: str
    #: The flat model (libSBML's flattening of ``comp_sbml``).
    flat_sbml: str
    #: flat id -> :class:`~qsp_sbml.compose.flatten.Origin`.
    origins: dict[str, Origin]
    #: The links, in order, with the scale factor applied on each (1.0 = same units).
    links: list[tuple[Link, float]]

    def provenance(self) -> pd.DataFrame:
        """One row per flat id: flat_id, module, original_id, kind, role, note (sorted by flat id)."""
        rows = [{"flat_id": fid, "module": o.module, "original_id": o.original_id, "kind": o.kind,
                 "role": o.role, "note": o.note} for fid, o in sorted(self.origins.items())]
        return pd.DataFrame(rows, columns=["flat_id", "module", "original_id", "kind", "role", "note"])

    def provenance_tsv(self) -> str:
        """The provenance table as TSV text (deterministic)."""
        return str(self.provenance().to_csv(sep="\t", index=False, lineterminator="\n"))

    def write(self, out: str | os.PathLike[str], *, flat: str | os.PathLike[str] | None = None,
              provenance: str | os.PathLike[str] | None = None) -> list[Path]:
        """Write the comp document, the flat model and the provenance TSV (all or none, atomically).

        The provenance goes to ``provenance`` or, by default, beside the flat
        model (or ``out``) as ``<stem>_provenance.tsv``.
        """
        out = Path(out)
        anchor = Path(flat) if flat is not None else out
        prov = Path(provenance) if provenance is not None else anchor.with_name(f"{anchor.stem}_provenance.tsv")
        files: dict[Path, str] = {out: self.comp_sbml}
        if flat is not None:
            files[Path(flat)] = self.flat_sbml
        files[prov] = self.provenance_tsv()
        return atomic_write_many(files)


@dataclass
class _Module:
    sub: str
    path: str
    doc: libsbml.SBMLDocument
    ports: list[Port]

    @property
    def model(self) -> libsbml.Model:
        return self.doc.getModel()


@dataclass
class _End:
    module: _Module
    element: str
    port: Port | None

    @property
    def label(self) -> str:
        return f"{self.module.sub}.{self.element}"


def _load_module(sub: str, path: str | os.PathLike[str], base_dir: Path | None) -> _Module:
    from qsp_sbml.loading import validate_sbml

    if not _SID.match(sub) or "__" in sub:
        raise CompositionError(f"module id {sub!r} must be an SBML id (letters, digits, '_') without '__'",
                               sbml_id=sub)
    full = Path(path)
    if base_dir is not None and not full.is_absolute():
        full = base_dir / full
    if not full.is_file():
        raise CompositionError(f"module {sub!r}: no such SBML file {full}")
    report = validate_sbml(full, guard=False)
    if report.has_errors():
        raise ValidationError(report, source=str(full))
    doc, name = read_document(full)
    if doc.isPackageEnabled("comp") and doc.getModel().getPlugin("comp").getNumSubmodels() > 0:
        raise CompositionError(f"module {sub!r} ({full}) is itself hierarchical: nested composition is not "
                               "supported yet; flatten it first (qsp-sbml compose ... --flat) and use the flat file")
    _to_l3v2_comp(doc, name)
    return _Module(sub, str(full), doc, ports(doc))


def _resolve(text: str, link: Link, modules: Mapping[str, _Module], *, side: str) -> _End:
    sub, dot, ident = text.partition(".")
    if not dot or not sub or not ident or "." in ident:
        raise CompositionError(f"{link.describe()}: {side} {text!r} must be 'submodel.port_or_element'",
                               sbml_id=text)
    if sub not in modules:
        raise CompositionError(f"{link.describe()}: no module {sub!r} (modules: {', '.join(modules)})", sbml_id=sub)
    module = modules[sub]
    by_id = {p.id: p for p in module.ports}
    by_element = {p.element: p for p in module.ports}
    port = by_id.get(ident) or by_element.get(ident)
    if port is not None:
        return _End(module, port.element, port)
    if module.model.getElementBySId(ident) is None:
        raise CompositionError(f"{link.describe()}: module {sub!r} ({module.path}) has no port or element "
                               f"{ident!r}", sbml_id=ident)
    if side == "target":
        raise CompositionError(f"{link.describe()}: {ident!r} of module {sub!r} ({module.path}) is not a port; "
                               f"declare it an input: qsp-sbml ports add {module.path} --input {ident} -o ...",
                               sbml_id=ident)
    return _End(module, ident, None)


def _unit_factor(link: Link, src: _End, tgt: _End) -> float:
    a = element_units(src.module.model.getElementBySId(src.element))
    b = element_units(tgt.module.model.getElementBySId(tgt.element))
    if a is None or b is None:
        missing = src.label if a is None else tgt.label
        warnings.warn(f"{link.describe()}: {missing} declares no units; the link's units are not checked",
                      UnitWarning, stacklevel=4)
        return 1.0
    if libsbml.UnitDefinition.areIdentical(a, b):
        return 1.0
    if not same_dimension(a, b):
        raise CompositionError(
            f"{link.describe()}: incompatible units: {src.label} is in {unit_string(a)}, {tgt.label} in "
            f"{unit_string(b)}; insert a conversion (e.g. a module or parameter with the molecular weight "
            "that turns mass into moles) between them", sbml_id=tgt.element)
    factor = scale_factor(a, b)
    return 1.0 if abs(factor - 1.0) <= _SAME_SCALE else factor


class _Builder:
    def __init__(self, name: str) -> None:
        if not _SID.match(name):
            raise CompositionError(f"composition name {name!r} must be an SBML id (letters, digits, '_')")
        ns = libsbml.SBMLNamespaces(3, 2, "comp", 1)
        self.doc = libsbml.SBMLDocument(ns)
        self.doc.setPackageRequired("comp", True)
        self.top = self.doc.createModel()
        self.top.setId(name)
        self.plugin = self.doc.getPlugin("comp")
        self.top_comp = self.top.getPlugin("comp")
        self.taken: dict[str, str] = {name: "the top-level model id"}

    def claim(self, sid: str, what: str) -> str:
        if sid in self.taken:
            raise CompositionError(f"id clash: {sid!r} is needed for {what} but is already {self.taken[sid]}",
                                   sbml_id=sid)
        self.taken[sid] = what
        return sid

    def unit(self, ud: libsbml.UnitDefinition | None, preferred: str) -> str:
        """Id of a top-level unit definition equal to ``ud`` (created on demand)."""
        if ud is None:
            return ""
        for existing in self.top.getListOfUnitDefinitions():
            if libsbml.UnitDefinition.areIdentical(existing, ud):
                return str(existing.getId())
        uid, k = preferred, 2
        while self.top.getUnitDefinition(uid) is not None or libsbml.UnitKind_forName(uid) != libsbml.UNIT_KIND_INVALID:
            uid, k = f"{preferred}_{k}", k + 1
        new = self.top.createUnitDefinition()
        new.setId(uid)
        for i in range(ud.getNumUnits()):
            u, v = ud.getUnit(i), new.createUnit()
            v.setKind(u.getKind())
            v.setExponent(u.getExponentAsDouble())
            v.setScale(u.getScale())
            v.setMultiplier(u.getMultiplier())
        return uid


def _inverse(ud: libsbml.UnitDefinition) -> libsbml.UnitDefinition:
    inv = libsbml.UnitDefinition(ud)
    for i in range(inv.getNumUnits()):
        inv.getUnit(i).setExponent(-inv.getUnit(i).getExponentAsDouble())
    return inv


def _time_unit(module: _Module) -> tuple[float, str] | None:
    model = module.model
    if not model.isSetTimeUnits():
        return None
    ud = model.getUnitDefinition(model.getTimeUnits())
    if ud is None:
        ud = libsbml.UnitDefinition(model.getLevel(), model.getVersion())
        u = ud.createUnit()
        u.setKind(libsbml.UnitKind_forName(model.getTimeUnits()))
        u.setExponent(1)
        u.setScale(0)
        u.setMultiplier(1)
    from qsp_sbml.compose._units import magnitude

    return magnitude(ud), str(model.getTimeUnits())


def _apply_override(key: str, value: float, definitions: Mapping[str, libsbml.ModelDefinition],
                    driven: Mapping[tuple[str, str], Link]) -> None:
    sub, dot, ident = key.partition(".")
    if not dot or sub not in definitions:
        raise CompositionError(f"override {key!r}: expected 'submodel.parameter' with a submodel among "
                               f"{', '.join(definitions)}", sbml_id=key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CompositionError(f"override {key!r}: value must be a finite number, got {value!r}", sbml_id=key)
    model = definitions[sub]
    element = model.getElementBySId(ident)
    if element is None or element_kind(element) not in ("parameter", "compartment", "species"):
        raise CompositionError(f"override {key!r}: module {sub!r} has no parameter, compartment or species "
                               f"{ident!r}", sbml_id=key)
    if (sub, ident) in driven:
        raise CompositionError(f"override {key!r}: {key} is driven by {driven[sub, ident].describe()}; "
                               "override the source instead", sbml_id=key)
    if model.getRuleByVariable(ident) is not None or model.getInitialAssignmentBySymbol(ident) is not None:
        raise CompositionError(f"override {key!r}: {ident!r} is computed by a rule or initial assignment in "
                               f"module {sub!r}; override the parameters it is computed from", sbml_id=key)
    kind = element_kind(element)
    if kind == "parameter":
        element.setValue(float(value))
    elif kind == "compartment":
        element.setSize(float(value))
    elif element.isSetInitialConcentration():
        element.setInitialConcentration(float(value))
    else:
        element.setInitialAmount(float(value))


def assemble(
    modules: Mapping[str, str | os.PathLike[str]],
    links: Iterable[Link | tuple[str, str] | str] = (),
    overrides: Mapping[str, float] | None = None,
    *,
    name: str = "composed",
    notes: str = "",
    base_dir: str | os.PathLike[str] | None = None,
) -> Composition:
    """Compose SBML modules; return the comp document, the flat model and provenance.

    Parameters
    ----------
    modules
        Submodel id -> SBML file (relative paths are resolved against ``base_dir``).
    links
        ``(source, target)`` pairs or ``"A.x -> B.y"`` strings: the output
        (port or element) ``x`` of submodel ``A`` drives the input port ``y``
        of submodel ``B``.
    overrides
        ``{"submodel.parameter": value}`` set in the composed model.
    name
        Id of the top-level model.
    notes
        Free text written into the top-level model's notes.
    base_dir
        Folder for relative module paths.

    Raises
    ------
    CompositionError
        Names the link or id: unknown module, port or element; an input linked
        as a source or an output as a target; two links driving one input;
        incompatible units; an algebraic loop; an id clash; modules with
        different time units; a link between elements that are not parameters.
    ValidationError
        A module has libSBML errors (the message names its file).
    """
    base = Path(base_dir) if base_dir is not None else None
    if not modules:
        raise CompositionError("no modules to compose")
    loaded = {sub: _load_module(sub, path, base) for sub, path in modules.items()}
    _check_time_units(loaded)
    parsed = [parse_link(item) for item in links]
    groups, driven = _group_links(parsed, loaded)

    builder = _Builder(name)
    definitions = _add_submodels(builder, loaded, notes)
    for key, value in (overrides or {}).items():
        _apply_override(key, value, definitions, driven)
    wiring = _Wiring()
    for src, members in groups.values():
        _wire_link_group(builder, wiring, loaded, definitions[src.module.sub], src, members)
    results = [(link, wiring.factors[link]) for link in parsed]

    comp_sbml = str(libsbml.writeSBMLToString(builder.doc))
    flat_sbml = flatten_comp(comp_sbml, name=f"composition {name!r}")
    flat_model = libsbml.readSBMLFromString(flat_sbml).getModel()
    origins = provenance(builder.doc, flat_model, wiring.top_origins, wiring.replaced)
    return Composition(name, comp_sbml, flat_sbml, origins, results)


#: Links grouped by their source ``(submodel, element)``: the source end and ``(link, target end, unit factor)``.
_Groups = dict[tuple[str, str], tuple[_End, list[tuple[Link, _End, float]]]]


def _group_links(parsed: list[Link], loaded: Mapping[str, _Module]) -> tuple[_Groups, dict[tuple[str, str], Link]]:
    """Resolve every link and group the links by source; also return the link driving each input."""
    groups: _Groups = {}
    driven: dict[tuple[str, str], Link] = {}
    for link in parsed:
        src = _resolve(link.source, link, loaded, side="source")
        tgt = _resolve(link.target, link, loaded, side="target")
        _check_link(link, src, tgt, groups, driven)
        driven[tgt.module.sub, tgt.element] = link
        factor = _unit_factor(link, src, tgt)
        group = groups.setdefault((src.module.sub, src.element), (src, []))
        group[1].append((link, tgt, factor))
    for (sub, element), (_src, members) in groups.items():
        if (sub, element) in driven:
            raise CompositionError(f"{driven[sub, element].describe()}: {sub}.{element} is both driven and the "
                                   f"source of {members[0][0]}; chain links through distinct elements",
                                   sbml_id=element)
    return groups, driven


def _check_link(link: Link, src: _End, tgt: _End, groups: _Groups, driven: Mapping[tuple[str, str], Link]) -> None:
    """Refuse a link that runs input to output, loops on itself, drives a driven input or links non-parameters."""
    if src.port is not None and src.port.direction == "input":
        raise CompositionError(f"{link.describe()}: {src.label} is an input port; a link goes from an output "
                               "to an input", sbml_id=src.element)
    if tgt.port is not None and tgt.port.direction == "output":
        raise CompositionError(f"{link.describe()}: {tgt.label} is an output port; a link goes from an output "
                               "to an input", sbml_id=tgt.element)
    if src.module.sub == tgt.module.sub and src.element == tgt.element:
        raise CompositionError(f"{link.describe()}: links {src.label} to itself", sbml_id=src.element)
    key_t = (tgt.module.sub, tgt.element)
    if key_t in driven:
        raise CompositionError(f"id clash: input {tgt.label} is driven by two links: {driven[key_t]} and {link}",
                               sbml_id=tgt.element)
    if (tgt.module.sub, tgt.element) in groups:
        raise CompositionError(f"{link.describe()}: {tgt.label} is already the source of another link; "
                               "an element cannot be both linked output and driven input", sbml_id=tgt.element)
    for kind_end, allowed in ((src, ("parameter", "species")), (tgt, ("parameter",))):
        kind = element_kind(kind_end.module.model.getElementBySId(kind_end.element))
        if kind not in allowed:
            raise CompositionError(
                f"{link.describe()}: {kind_end.label} is a {kind}; a link reads a parameter or species and "
                "drives a parameter (for now). Expose the quantity as a parameter port, e.g. an assignment "
                "rule C := S / V", sbml_id=kind_end.element)


def _add_submodels(builder: _Builder, loaded: Mapping[str, _Module], notes: str) -> dict[str, libsbml.ModelDefinition]:
    """One model definition and one submodel per module, the modules' units; the definitions by submodel."""
    if notes:
        builder.top.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(notes)}</p></body>')
    definitions: dict[str, libsbml.ModelDefinition] = {}
    for sub in loaded:
        builder.claim(sub, f"the id of submodel {sub!r}")
    for sub, module in loaded.items():
        src_model = module.model
        md = libsbml.ModelDefinition(src_model)
        model_id = src_model.getId() or sub
        def_id = model_id if model_id not in builder.taken else f"{model_id}_{sub}"
        md.setId(builder.claim(def_id, f"the model definition of submodel {sub!r}"))
        builder.plugin.addModelDefinition(md)
        definitions[sub] = builder.plugin.getModelDefinition(def_id)
        submodel = builder.top_comp.createSubmodel()
        submodel.setId(sub)
        submodel.setModelRef(def_id)
    _copy_model_units(builder, loaded)
    return definitions


@dataclass
class _Wiring:
    """What the links add to the composition besides SBML elements."""

    #: Provenance of the top-level ids (link parameters, conversion factors).
    top_origins: dict[str, Origin] = field(default_factory=dict)
    #: ``(submodel, element)`` -> the top-level id replacing it.
    replaced: dict[tuple[str, str], str] = field(default_factory=dict)
    #: Unit factor of each link.
    factors: dict[Link, float] = field(default_factory=dict)


def _wire_link_group(builder: _Builder, wiring: _Wiring, loaded: Mapping[str, _Module],
                     definition: libsbml.ModelDefinition, src: _End,
                     members: list[tuple[Link, _End, float]]) -> None:
    """The top-level parameter ``<sub>_<element>`` replacing the source and every input it drives."""
    sub, element = src.module.sub, src.element
    pid = f"{sub}_{element}"
    for other in loaded:
        if pid.startswith(f"{other}__"):
            raise CompositionError(f"id clash: link id {pid!r} starts with submodel prefix {other}__",
                                   sbml_id=pid)
    builder.claim(pid, f"the link element of {src.label}")
    source_el = definition.getElementBySId(element)
    src_units = element_units(src.module.model.getElementBySId(element))
    p = builder.top.createParameter()
    p.setId(pid)
    if element_kind(source_el) == "species":
        preferred, read_via = _read_species(p, wiring, definition, source_el, src_units, sub)
    else:
        preferred, read_via = _read_parameter(p, wiring, definition, source_el, src)
    if src_units is not None:
        p.setUnits(builder.unit(src_units, preferred))
    for link, tgt, factor in members:
        _drive(builder, wiring, p, link, tgt, factor, src_units)
    note = "; ".join(f"link {link}" for link, _t, _f in members) + read_via
    wiring.top_origins[pid] = Origin(sub, element, "parameter", "link", note)


def _read_species(p: libsbml.Parameter, wiring: _Wiring, definition: libsbml.ModelDefinition,
                  species: libsbml.Species, units: libsbml.UnitDefinition | None, sub: str) -> tuple[str, str]:
    """``p`` replaces the species' adapter rule; return the preferred unit id and the provenance note."""
    element, pid = species.getId(), p.getId()
    adapter = _species_adapter(definition, species, units)
    what = "amount" if species.getHasOnlySubstanceUnits() else "concentration"
    p.setName(f"{what} of {sub}.{element}")
    p.setValue(0.0)  # never used: the adapter's assignment rule sets it
    p.setConstant(False)
    rep = p.getPlugin("comp").createReplacedElement()
    rep.setSubmodelRef(sub)
    rep.setIdRef(adapter)
    wiring.replaced[sub, adapter] = pid
    return f"{pid}_units", f"; reads the {what} of species {element} through rule {adapter} := {element}"


def _read_parameter(p: libsbml.Parameter, wiring: _Wiring, definition: libsbml.ModelDefinition,
                    source_el: libsbml.Parameter, src: _End) -> tuple[str, str]:
    """``p`` replaces the source parameter; return the preferred unit id and the provenance note."""
    if source_el.isSetName():
        p.setName(source_el.getName())
    if source_el.isSetValue():
        p.setValue(source_el.getValue())
    elif definition.getAssignmentRuleByVariable(src.element) is not None:
        p.setValue(0.0)  # never used: the source's assignment rule sets it (avoids libSBML warning 80702)
    p.setConstant(source_el.getConstant())
    preferred = source_el.getUnits() if source_el.isSetUnits() else f"{p.getId()}_units"
    _replace(p, src)
    wiring.replaced[src.module.sub, src.element] = p.getId()
    return preferred, ""


def _drive(builder: _Builder, wiring: _Wiring, p: libsbml.Parameter, link: Link, tgt: _End, factor: float,
           src_units: libsbml.UnitDefinition | None) -> None:
    """``p`` replaces the input ``tgt``, through a conversion factor when the units differ in scale."""
    rep = _replace(p, tgt)
    wiring.replaced[tgt.module.sub, tgt.element] = p.getId()
    wiring.factors[link] = factor
    if factor == 1.0:
        return
    cf_id = builder.claim(f"{tgt.module.sub}_{tgt.element}_conversion",
                          f"the conversion factor of {link.describe()}")
    cf = builder.top.createParameter()
    cf.setId(cf_id)
    cf.setName(f"unit conversion for {link}")
    # replaced value * factor = replacement value: factor = 1 input unit in output units
    cf.setValue(1.0 / factor)
    cf.setConstant(True)
    tgt_units = element_units(tgt.module.model.getElementBySId(tgt.element))
    ratio = libsbml.UnitDefinition.combine(src_units, _inverse(tgt_units))
    cf.setUnits(builder.unit(ratio, f"{cf_id}_units"))
    rep.setConversionFactor(cf_id)
    wiring.top_origins[cf_id] = Origin("", cf_id, "parameter", "conversion",
                                       f"{link}: 1 {unit_string(tgt_units)} in {unit_string(src_units)}")


def _species_adapter(definition: libsbml.ModelDefinition, species: libsbml.Species,
                     units: libsbml.UnitDefinition | None) -> str:
    """Add ``<S>_signal := S`` (a parameter) to the module's definition; return its id.

    A species cannot be replaced by a parameter (libSBML would drop it), so a
    link reads it through this rule: its concentration, or its amount when it
    has only substance units.
    """
    base = f"{species.getId()}_signal"
    adapter, k = base, 2
    while definition.getElementBySId(adapter) is not None:
        adapter, k = f"{base}_{k}", k + 1
    param = definition.createParameter()
    param.setId(adapter)
    param.setConstant(False)
    param.setValue(0.0)
    if units is not None:
        uid = next((str(ud.getId()) for ud in definition.getListOfUnitDefinitions()
                    if libsbml.UnitDefinition.areIdentical(ud, units)), "")
        if not uid:
            uid = f"{adapter}_units"
            new = definition.createUnitDefinition()
            new.setId(uid)
            for i in range(units.getNumUnits()):
                new.addUnit(units.getUnit(i))
        param.setUnits(uid)
    rule = definition.createAssignmentRule()
    rule.setVariable(adapter)
    rule.setMath(libsbml.parseL3Formula(species.getId()))
    return adapter


def _replace(parameter: libsbml.Parameter, end: _End) -> libsbml.ReplacedElement:
    rep = parameter.getPlugin("comp").createReplacedElement()
    rep.setSubmodelRef(end.module.sub)
    if end.port is not None:
        rep.setPortRef(end.port.id)
    else:
        rep.setIdRef(end.element)
    return rep


def _check_time_units(loaded: Mapping[str, _Module]) -> None:
    seen: dict[str, tuple[float, str]] = {}
    for sub, module in loaded.items():
        unit = _time_unit(module)
        if unit is not None:
            seen[sub] = unit
    subs = list(seen)
    for sub in subs[1:]:
        if abs(seen[sub][0] / seen[subs[0]][0] - 1.0) > _SAME_SCALE:
            raise CompositionError(
                f"modules {subs[0]!r} and {sub!r} use different time units ({seen[subs[0]][1]!r} and "
                f"{seen[sub][1]!r}); time conversion between submodels is not supported yet: rebuild the "
                "module in the same time unit", sbml_id=sub)


def _same_unit(id_a: str, ud_a: libsbml.UnitDefinition | None, id_b: str,
               ud_b: libsbml.UnitDefinition | None) -> bool:
    """Whether two model unit attributes mean the same unit, whatever their ids or spelling.

    ``hour`` written as 3600 second by one tool and as 3.6e3 second (or with a
    scale) by another is the same unit; base-unit ids compare by name.
    """
    if ud_a is None or ud_b is None:
        return ud_a is None and ud_b is None and id_a == id_b
    if libsbml.UnitDefinition.areIdentical(ud_a, ud_b):
        return True
    return bool(same_dimension(ud_a, ud_b)) and abs(scale_factor(ud_a, ud_b) - 1.0) <= _SAME_SCALE


def _copy_model_units(builder: _Builder, loaded: Mapping[str, _Module]) -> None:
    """Give the top-level model the time, substance, extent and volume units its modules share.

    Only modules that use a default count: extent units for modules with
    reactions, substance units for modules with species, volume units for
    modules with compartments.  When those modules disagree (mg and nmol) the
    attribute stays unset and the flat model has unit warnings: SBML has one
    extent unit per model.
    """
    uses = {"TimeUnits": lambda m: True, "SubstanceUnits": lambda m: m.getNumSpecies() > 0,
            "ExtentUnits": lambda m: m.getNumReactions() > 0, "VolumeUnits": lambda m: m.getNumCompartments() > 0}
    for attr in ("TimeUnits", "SubstanceUnits", "ExtentUnits", "VolumeUnits"):
        found = []
        for module in loaded.values():
            model = module.model
            if getattr(model, f"isSet{attr}")() and uses[attr](model):
                unit = getattr(model, f"get{attr}")()
                ud = model.getUnitDefinition(unit)
                found.append((unit, libsbml.UnitDefinition(ud) if ud is not None else None))
        if not found:
            continue
        unit, ud = found[0]
        if any(not _same_unit(unit, ud, u, d) for u, d in found[1:]):
            continue
        uid = builder.unit(ud, unit) if ud is not None else unit
        getattr(builder.top, f"set{attr}")(uid)
