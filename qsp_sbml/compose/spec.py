"""Composition spec files (YAML) and the rebuild of a folder of them.

A spec::

    kind: composition              # declares the file's kind (qsp-sbml validate needs it)
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

It is read by :mod:`qsp_sbml.typed_yaml` into :class:`CompositionSpecFile` (a pydantic model: unknown
fields, wrong types and missing keys are errors); every error names the file, the line and the field::

    pkpd.yaml, line 9, field overrides.pd.EC50: Input should be a valid number, ... (got 'high')
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from qsp_sbml._io import atomic_write_text, differing
from qsp_sbml.compose.assemble import Composition, Link, assemble, parse_link
from qsp_sbml.errors import CompositionError
from qsp_sbml.typed_yaml import At, Finite, SpecModel, parse, read_yaml

__all__ = [
    "ComposeSpec",
    "CompositionSpecFile",
    "ExchangeCheck",
    "build_folder",
    "compose_spec",
    "load_spec",
    "outputs_for",
]

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


class _Exchange(SpecModel):
    #: Regimen text (flat ids) given in both simulators.
    regimen: str | None = None
    #: End time (model time), > 0.
    end: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    #: Flat ids compared.
    selections: Annotated[list[str], Field(min_length=1)]
    #: Number of output intervals.
    points: Annotated[int, Field(ge=1)] = 50


class CompositionSpecFile(SpecModel):
    """The fields of a composition spec file (see the module docstring)."""

    #: ``composition``: the file's declared kind.
    kind: Literal["composition"] | None = None
    #: Top-level model id (default: the file name).
    name: str | None = None
    #: Written into the model's notes.
    notes: str = ""
    #: Submodel id -> SBML file, relative to the spec.
    modules: Annotated[dict[str, str], Field(min_length=1)]
    #: ``A.output -> B.input`` or ``{from: A.output, to: B.input}``.
    links: list[str] = Field(default_factory=list)
    #: ``submodel.parameter`` -> value.
    overrides: dict[str, Finite] = Field(default_factory=dict)
    #: COPASI-vs-RoadRunner check of the composed model.
    exchange: _Exchange | None = None

    @field_validator("name")
    @classmethod
    def _name_is_an_sid(cls, v: str | None) -> str | None:
        if v is not None and not _SID.match(v):
            raise ValueError(f"must be an SBML id (letters, digits, '_'), got {v!r}")
        return v

    @field_validator("modules")
    @classmethod
    def _module_files(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        base: Path = info.context["base"] if info.context else Path()
        for sub, file in v.items():
            if not _SID.match(sub) or "__" in sub:
                raise At(sub, f"{sub!r} is not an SBML id without '__'")
            if not file:
                raise At(sub, "expected a file path")
            full = (base / file).resolve()
            if not full.is_file():
                raise At(sub, f"no such file {file} (looked at {full})")
        return v

    @field_validator("overrides")
    @classmethod
    def _override_keys(cls, v: dict[str, float]) -> dict[str, float]:
        for key in v:
            if key.count(".") != 1:
                raise At(key, f"{key!r} must be 'submodel.parameter'")
        return v

    @field_validator("links", mode="before")
    @classmethod
    def _links(cls, v: object) -> object:
        """A mapping link ``{from: A.x, to: B.y}`` becomes ``"A.x -> B.y"``; every link must parse."""
        if not isinstance(v, list):
            return v
        out = []
        for i, raw in enumerate(v):
            if isinstance(raw, dict):
                if set(raw) != {"from", "to"}:
                    raise At(f"[{i}]", f"a mapping link has keys 'from' and 'to', got {sorted(map(str, raw))}")
                raw = f"{raw['from']} -> {raw['to']}"
            if not isinstance(raw, str):
                raise At(f"[{i}]", f"a link is 'A.output -> B.input' or {{from: A.output, to: B.input}}, got {raw!r}")
            try:
                parse_link(raw)
            except CompositionError as err:
                raise At(f"[{i}]", str(err)) from None
            out.append(raw)
        return out


def load_spec(path: str | os.PathLike[str]) -> ComposeSpec:
    """Read and check a composition spec; module paths are resolved against its folder.

    Raises
    ------
    CompositionError
        Unreadable YAML, an unknown or missing field, a value of the wrong type, a module file that
        does not exist; the message names the file, the line and the field.
    """
    spec_path = Path(path)
    doc = read_yaml(spec_path, error=CompositionError, what="composition spec")
    raw = parse(CompositionSpecFile, doc, error=CompositionError)
    name = raw.name
    if name is None:
        name = spec_path.stem
        if not _SID.match(name):
            raise CompositionError(f"{doc.where('')}: the file name {name!r} is not an SBML id; give 'name:'")
    modules = {sub: (spec_path.parent / file).resolve() for sub, file in raw.modules.items()}
    links = []
    for i, item in enumerate(raw.links):
        where = doc.where(f"links[{i}]")
        links.append(parse_link(item, where))
    exchange = None
    if raw.exchange is not None:
        ex = raw.exchange
        exchange = ExchangeCheck(float(ex.end), list(ex.selections), ex.regimen, ex.points)
    return ComposeSpec(spec_path, name, modules, links, dict(raw.overrides), raw.notes, exchange)


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
