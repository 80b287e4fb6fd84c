"""Composition spec files (YAML) and the rebuild of a folder of them.

A spec::

    name: mab_emax                 # optional: top-level model id (default: the file name)
    notes: mAb TMDD driving an Emax effect   # optional, written into the model's notes
    modules:                       # submodel id -> SBML file, relative to this file
      pk: ../pbpk/mab_two_compartment_tmdd.xml
      pd: ../pd/emax.xml
    links:                         # output -> input
      - pk.C_free -> pd.C_drug
      - {from: pk.C_free, to: pd2.C_drug}      # the same, as a mapping
    overrides:                     # optional: submodel.parameter: value
      pk.CL: 0.01
    exchange:                      # optional: COPASI-vs-RoadRunner check of this model
      regimen: 200 nmol sc q168h x 4 to pk__mab_sc_depot   # optional, regimen text (flat ids)
      end: 840                     # hours
      selections: [pk_C_free, pd__E]
      points: 35                   # optional (default 50): outputs at mid-intervals, off dose times

It is read with YAML's safe loader and checked on load; every error names the
file, the line and the key.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qsp_sbml._io import atomic_write_text, differing
from qsp_sbml.compose.assemble import Composition, Link, assemble, parse_link
from qsp_sbml.errors import CompositionError

__all__ = ["ComposeSpec", "ExchangeCheck", "build_folder", "compose_spec", "load_spec", "outputs_for"]

_KEYS = ("name", "notes", "modules", "links", "overrides", "exchange")
_SID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ExchangeCheck:
    """How to check a composed model in COPASI against RoadRunner (see ``exchange:``)."""

    end: float
    selections: list[str]
    regimen: str | None = None
    points: int = 50

    def times(self) -> list[float]:
        """0, then the midpoints of ``points`` equal intervals up to ``end`` (never a dose time on a grid)."""
        step = self.end / self.points
        return [0.0, *((k + 0.5) * step for k in range(self.points))]


@dataclass(frozen=True)
class ComposeSpec:
    """A validated composition spec."""

    #: The spec file.
    path: Path
    #: Top-level model id.
    name: str
    #: Submodel id -> module file (absolute).
    modules: dict[str, Path]
    links: list[Link]
    overrides: dict[str, float] = field(default_factory=dict)
    notes: str = ""
    exchange: ExchangeCheck | None = None


def _err(path: Path, node: yaml.Node | None, message: str) -> CompositionError:
    where = f"{path}, line {node.start_mark.line + 1}" if node is not None else str(path)
    return CompositionError(f"{where}: {message}")


def load_spec(path: str | os.PathLike[str]) -> ComposeSpec:
    """Read and check a composition spec; module paths are resolved against its folder.

    Raises
    ------
    CompositionError
        Unreadable YAML, an unknown or missing key, a value of the wrong type,
        a module file that does not exist (the message gives the line).
    """
    spec_path = Path(path)
    if not spec_path.is_file():
        raise CompositionError(f"{spec_path}: no such spec file")
    text = spec_path.read_text(encoding="utf-8")
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            loader.construct_document(root)  # refuse unknown tags (e.g. !!python/...) here, with their line
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise CompositionError(f"{spec_path}{where}: not valid YAML: {getattr(err, 'problem', err)}") from None
    if not isinstance(root, yaml.MappingNode):
        raise _err(spec_path, root, "a spec is a mapping with keys modules, links (and name, notes, overrides)")

    entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in root.value:
        key = loader.construct_object(key_node, deep=True)
        if key not in _KEYS:
            raise _err(spec_path, key_node, f"unknown key {key!r}; allowed: {', '.join(_KEYS)}")
        if key in entries:
            raise _err(spec_path, key_node, f"key {key!r} given twice")
        entries[key] = (key_node, value_node)
    if "modules" not in entries:
        raise _err(spec_path, root, "missing key 'modules' (submodel id -> SBML file)")

    def value(key: str) -> Any:
        return loader.construct_object(entries[key][1], deep=True) if key in entries else None

    name = value("name")
    if name is None:
        name = spec_path.stem
        if not _SID.match(name):
            raise _err(spec_path, root, f"the file name {name!r} is not an SBML id; give 'name:'")
    elif not isinstance(name, str) or not _SID.match(name):
        raise _err(spec_path, entries["name"][1], f"'name' must be an SBML id (letters, digits, '_'), got {name!r}")
    notes = value("notes") or ""
    if not isinstance(notes, str):
        raise _err(spec_path, entries["notes"][1], "'notes' must be text")

    modules_node = entries["modules"][1]
    if not isinstance(modules_node, yaml.MappingNode) or not modules_node.value:
        raise _err(spec_path, modules_node, "'modules' must map submodel ids to SBML files")
    modules: dict[str, Path] = {}
    for key_node, value_node in modules_node.value:
        sub = loader.construct_object(key_node, deep=True)
        file = loader.construct_object(value_node, deep=True)
        if not isinstance(sub, str) or not _SID.match(sub) or "__" in sub:
            raise _err(spec_path, key_node, f"modules: {sub!r} is not an SBML id without '__'")
        if not isinstance(file, str) or not file:
            raise _err(spec_path, value_node, f"modules.{sub}: expected a file path, got {file!r}")
        full = (spec_path.parent / file).resolve()
        if not full.is_file():
            raise _err(spec_path, value_node, f"modules.{sub}: no such file {file} (looked at {full})")
        modules[sub] = full

    links: list[Link] = []
    if "links" in entries:
        links_node = entries["links"][1]
        if not isinstance(links_node, yaml.SequenceNode):
            raise _err(spec_path, links_node, "'links' must be a list of 'A.output -> B.input'")
        for item in links_node.value:
            where = f"{spec_path}, line {item.start_mark.line + 1}"
            raw = loader.construct_object(item, deep=True)
            if isinstance(raw, Mapping):
                if set(raw) != {"from", "to"}:
                    raise _err(spec_path, item, f"links: a mapping link has keys 'from' and 'to', got {sorted(raw)}")
                raw = (raw["from"], raw["to"])
            try:
                links.append(parse_link(raw, where))
            except CompositionError as err:
                raise _err(spec_path, item, f"links: {err}") from None

    overrides: dict[str, float] = {}
    if "overrides" in entries:
        ov_node = entries["overrides"][1]
        if not isinstance(ov_node, yaml.MappingNode):
            raise _err(spec_path, ov_node, "'overrides' must map 'submodel.parameter' to numbers")
        for key_node, value_node in ov_node.value:
            key = loader.construct_object(key_node, deep=True)
            number = loader.construct_object(value_node, deep=True)
            if not isinstance(key, str) or key.count(".") != 1:
                raise _err(spec_path, key_node, f"overrides: {key!r} must be 'submodel.parameter'")
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
                raise _err(spec_path, value_node, f"overrides.{key}: expected a finite number, got {number!r}")
            overrides[key] = float(number)
    exchange = _exchange(spec_path, entries["exchange"][1], loader) if "exchange" in entries else None
    return ComposeSpec(spec_path, name, modules, links, overrides, notes, exchange)


def _exchange(spec_path: Path, node: yaml.Node, loader: yaml.SafeLoader) -> ExchangeCheck:
    if not isinstance(node, yaml.MappingNode):
        raise _err(spec_path, node, "'exchange' must be a mapping with end, selections (and regimen, points)")
    values: dict[str, tuple[yaml.Node, Any]] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key not in ("regimen", "end", "selections", "points"):
            raise _err(spec_path, key_node, f"exchange: unknown key {key!r}; allowed: regimen, end, selections, points")
        values[key] = (value_node, loader.construct_object(value_node, deep=True))
    for required in ("end", "selections"):
        if required not in values:
            raise _err(spec_path, node, f"exchange: missing key {required!r}")
    end_node, end = values["end"]
    if isinstance(end, bool) or not isinstance(end, (int, float)) or not math.isfinite(end) or end <= 0:
        raise _err(spec_path, end_node, f"exchange.end: expected a positive number (model time), got {end!r}")
    sel_node, selections = values["selections"]
    if not isinstance(selections, list) or not selections or not all(isinstance(x, str) for x in selections):
        raise _err(spec_path, sel_node, "exchange.selections: expected a non-empty list of flat ids")
    regimen = values.get("regimen", (None, None))[1]
    if regimen is not None and not isinstance(regimen, str):
        raise _err(spec_path, values["regimen"][0], "exchange.regimen: expected regimen text")
    points = values.get("points", (None, 50))[1]
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise _err(spec_path, values["points"][0], f"exchange.points: expected a positive integer, got {points!r}")
    return ExchangeCheck(float(end), list(selections), regimen, points)


def compose_spec(path: str | os.PathLike[str] | ComposeSpec) -> Composition:
    """Load a spec (unless given one) and assemble it."""
    spec = path if isinstance(path, ComposeSpec) else load_spec(path)
    try:
        return assemble(spec.modules, spec.links, spec.overrides, name=spec.name, notes=spec.notes)
    except CompositionError as err:
        message = str(err)
        if str(spec.path) not in message:
            message = f"{spec.path}: {message}"
        raise CompositionError(message, sbml_id=err.sbml_id) from err


def outputs_for(spec_path: Path) -> tuple[Path, Path, Path]:
    """``<name>.xml``, ``<name>_flat.xml``, ``<name>_flat_provenance.tsv`` beside the spec."""
    stem = spec_path.with_suffix("")
    return (stem.with_name(f"{stem.name}.xml"), stem.with_name(f"{stem.name}_flat.xml"),
            stem.with_name(f"{stem.name}_flat_provenance.tsv"))


def build_folder(folder: str | os.PathLike[str], *, check: bool = False) -> list[Path]:
    """(Re)build every ``*.yaml`` spec of ``folder`` into its outputs.

    With ``check``, write nothing and return the outputs that are missing or
    differ byte for byte from what the specs give (stale); otherwise write them
    and return the paths written.
    """
    out: list[Path] = []
    for spec_path in sorted(Path(folder).glob("*.yaml")):
        composition = compose_spec(spec_path)
        comp_path, flat_path, prov_path = outputs_for(spec_path)
        texts = {comp_path: composition.comp_sbml, flat_path: composition.flat_sbml,
                 prov_path: composition.provenance_tsv()}
        if check:
            out.extend(differing(texts))
            continue
        for target, text in texts.items():
            atomic_write_text(target, text)
            out.append(target)
    return out
