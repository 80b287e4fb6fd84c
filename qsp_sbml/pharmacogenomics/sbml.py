"""Find the clearance parameters an SBML model tags with an enzyme, and genotype them.

Two conventions mark a parameter as "the clearance of gene G":

1. **Port** (our PBPK modules): a ``comp`` port whose ``idRef`` is a parameter with id
   ``m_<GENE>`` (port id ``m_<GENE>_port``), a dimensionless activity multiplier of the intrinsic
   clearance by that enzyme, 1 for the reference genotype.  ``models/pbpk/wholebody_pbpk.xml``
   declares ``m_CYP1A2``, ``m_CYP2C9``, ``m_CYP2C19``, ``m_CYP2D6``, ``m_CYP3A4``, ``m_UGT1A1``,
   ``m_UGT1A4``, ``m_UGT1A6``, ``m_UGT1A9``, ``m_UGT2B7`` and ``m_other``; only genes with a CPIC table
   here (CYP2C9, CYP2C19, CYP2D6) are reported.
2. **Annotation** (any model): a parameter whose ``<annotation>`` holds ::

       <qsp:pharmacogenomics xmlns:qsp="https://qsp-sbml.org/ns/pharmacogenomics/1"
                             qsp:gene="CYP2D6" qsp:role="multiplier"/>

   ``role="multiplier"`` (default): a dimensionless multiplier as above; ``role="clearance"``: the
   enzyme's intrinsic clearance itself, which is scaled by the multiplier.

:func:`genotype_parameters` returns the multipliers; :func:`genotype_values` the new parameter
values (current value x multiplier), ready for ``Model.simulate(parameters=...)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libsbml

from qsp_sbml.errors import SbmlError
from qsp_sbml.pharmacogenomics._tables import GenotypeError, gene_tables
from qsp_sbml.pharmacogenomics.clearance import clearance_multiplier

__all__ = ["ANNOTATION_NS", "EnzymeTag", "enzyme_parameters", "enzyme_tags", "genotype_parameters", "genotype_values"]

#: XML namespace of the pharmacogenomics annotation.
ANNOTATION_NS = "https://qsp-sbml.org/ns/pharmacogenomics/1"

#: An SBML file path, an SBML string or a libSBML document.
type SbmlSource = str | os.PathLike[str] | Any


@dataclass(frozen=True)
class EnzymeTag:
    """A parameter tagged with the gene whose genotype scales it."""

    gene: str
    parameter: str
    #: ``"multiplier"`` or ``"clearance"``.
    role: str
    #: ``"port"`` or ``"annotation"``.
    via: str
    #: Current value of the parameter in the model.
    value: float


def _document(sbml: SbmlSource) -> tuple[libsbml.SBMLDocument, str]:
    if isinstance(sbml, libsbml.SBMLDocument):
        return sbml, "<SBMLDocument>"
    if isinstance(sbml, str) and sbml.lstrip().startswith("<"):
        doc, name = libsbml.readSBMLFromString(str(sbml)), "<SBML string>"
    elif isinstance(sbml, str | os.PathLike):
        path = Path(sbml)
        if not path.is_file():
            raise SbmlError(f"{path}: no such file")
        doc, name = libsbml.readSBMLFromFile(str(path)), str(path)
    else:
        raise TypeError(f"expected a path, an SBML string or an SBMLDocument, got {type(sbml).__name__}")
    errors = [
        doc.getError(i) for i in range(doc.getNumErrors())
        if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]
    if errors:
        first = errors[0]
        raise SbmlError(f"{name}: line {first.getLine()}: {first.getMessage().strip()}")
    if doc.getModel() is None:
        raise SbmlError(f"{name}: the document has no model")
    return doc, name


def _annotation_tag(param: libsbml.Parameter, name: str) -> tuple[str, str] | None:
    ann = param.getAnnotation()
    if ann is None:
        return None
    for i in range(ann.getNumChildren()):
        child = ann.getChild(i)
        if child.getName() != "pharmacogenomics" or child.getURI() != ANNOTATION_NS:
            continue
        gene = child.getAttrValue("gene", ANNOTATION_NS)
        role = child.getAttrValue("role", ANNOTATION_NS) or "multiplier"
        where = f"{name}: parameter {param.getId()!r}"
        if not gene:
            raise SbmlError(f"{where}: pharmacogenomics annotation without qsp:gene", sbml_id=param.getId())
        if gene not in gene_tables():
            raise SbmlError(
                f"{where}: annotated gene {gene!r} has no CPIC table; known: {', '.join(sorted(gene_tables()))}",
                sbml_id=param.getId(),
            )
        if role not in ("multiplier", "clearance"):
            raise SbmlError(f"{where}: qsp:role must be 'multiplier' or 'clearance', got {role!r}",
                            sbml_id=param.getId())
        return gene, role
    return None


def enzyme_tags(sbml: SbmlSource) -> list[EnzymeTag]:
    """Every parameter tagged with a gene (port or annotation convention), in document order."""
    doc, name = _document(sbml)
    model = doc.getModel()
    tags: list[EnzymeTag] = []
    ported: set[str] = set()
    comp = model.getPlugin("comp")
    if comp is not None:
        for i in range(comp.getNumPorts()):
            ported.add(comp.getPort(i).getIdRef())
    for i in range(model.getNumParameters()):
        param = model.getParameter(i)
        pid = param.getId()
        annotated = _annotation_tag(param, name)
        if annotated is not None:
            tags.append(EnzymeTag(annotated[0], pid, annotated[1], "annotation", param.getValue()))
        elif pid.startswith("m_") and pid in ported and pid[2:] in gene_tables():
            tags.append(EnzymeTag(pid[2:], pid, "multiplier", "port", param.getValue()))
    seen: dict[str, str] = {}
    for tag in tags:
        if tag.gene in seen:
            raise SbmlError(
                f"{name}: gene {tag.gene} is tagged on two parameters, {seen[tag.gene]!r} and {tag.parameter!r}; "
                "tag one clearance parameter per gene",
                sbml_id=tag.parameter,
            )
        seen[tag.gene] = tag.parameter
    return tags


def enzyme_parameters(sbml: SbmlSource) -> dict[str, str]:
    """Gene -> id of the parameter the model tags with it.

    Examples
    --------
    >>> enzyme_parameters("models/pbpk/wholebody_pbpk.xml")  # doctest: +SKIP
    {'CYP2C9': 'm_CYP2C9', 'CYP2C19': 'm_CYP2C19', 'CYP2D6': 'm_CYP2D6'}
    """
    return {t.gene: t.parameter for t in enzyme_tags(sbml)}


def _tags_for(sbml: SbmlSource, genotypes: Mapping[str, str]) -> list[tuple[EnzymeTag, str]]:
    tags = {t.gene: t for t in enzyme_tags(sbml)}
    out = []
    for gene, diplotype in genotypes.items():
        if gene not in tags:
            raise GenotypeError(
                f"the model has no parameter tagged with {gene} (tagged: {', '.join(sorted(tags)) or 'none'}); "
                f"tag one with a port m_{gene} or a qsp:pharmacogenomics annotation",
                gene=gene, diplotype=diplotype,
            )
        out.append((tags[gene], diplotype))
    return out


def genotype_parameters(
    sbml: SbmlSource, genotypes: Mapping[str, str], drug: str | None = None
) -> dict[str, float]:
    """Parameter id -> clearance multiplier for each ``gene: diplotype`` in ``genotypes``.

    Examples
    --------
    >>> genotype_parameters("models/pbpk/wholebody_pbpk.xml", {"CYP2D6": "*4/*4"})  # doctest: +SKIP
    {'m_CYP2D6': 0.0}
    """
    return {tag.parameter: clearance_multiplier(tag.gene, dip, drug) for tag, dip in _tags_for(sbml, genotypes)}


def genotype_values(
    sbml: SbmlSource, genotypes: Mapping[str, str], drug: str | None = None
) -> dict[str, float]:
    """Parameter id -> new value (current value x multiplier), for ``Model.simulate(parameters=...)``."""
    return {
        tag.parameter: tag.value * clearance_multiplier(tag.gene, dip, drug)
        for tag, dip in _tags_for(sbml, genotypes)
    }
