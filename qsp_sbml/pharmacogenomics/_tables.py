"""Load and check the CPIC tables shipped in ``qsp_sbml/resources/pharmacogenomics/``, and read star-allele notation."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from qsp_sbml.errors import QspError

__all__ = [
    "DATA_DIR",
    "FUNCTIONS",
    "Allele",
    "ClearanceRecord",
    "FrequencyTable",
    "GeneTable",
    "GenotypeError",
    "clearance_records",
    "declared_reference_activity",
    "frequency_tables",
    "gene_table",
    "gene_tables",
    "parse_allele",
    "phenotype_multipliers",
]

#: Folder of the allele, frequency and clearance tables.
DATA_DIR = Path(__file__).resolve().parent.parent / "resources" / "pharmacogenomics"
#: CPIC allele clinical-function classes (lower case, as in ``alleles.yaml``).
FUNCTIONS: tuple[str, ...] = ("increased", "normal", "decreased", "no", "uncertain", "unknown")


class GenotypeError(QspError, ValueError):
    """A gene, allele, diplotype or pharmacogenomic table entry is unknown or malformed.

    Parameters
    ----------
    message
        What is wrong and what to do about it (names the gene, allele or diplotype).
    gene, allele, diplotype
        The offending item, when there is one.
    where
        Location in a table: ``"alleles.yaml: CYP2D6 *4"``, ``"row 3, column 'diplotype'"``.
    """

    def __init__(
        self,
        message: str,
        *,
        gene: str | None = None,
        allele: str | None = None,
        diplotype: str | None = None,
        where: str | None = None,
    ) -> None:
        self.gene = gene
        self.allele = allele
        self.diplotype = diplotype
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class GeneTable:
    """CPIC allele table of one gene."""

    #: HGNC gene symbol.
    gene: str
    #: ``"activity_score"`` (CYP2D6, CYP2C9) or ``"function"`` (CYP2C19, CYP3A5, SLCO1B1).
    scoring: str
    #: Reference (normal) diplotype, ``"*1/*1"``.
    reference: str
    #: Allele -> activity value (``None`` = CPIC n/a) for activity-score genes, or -> function class.
    alleles: Mapping[str, Any]
    #: Whether ``*AxN`` copy-number notation is defined for the gene (CYP2D6).
    copy_number: bool
    #: The whole-gene deletion allele (CYP2D6 ``*5``), which cannot be duplicated.
    deletion: str | None
    #: Citation of the table.
    source: str

    def function(self, allele: str) -> str:
        """CPIC function class of a single-copy allele."""
        value = self.alleles[allele]
        if self.scoring == "function":
            return str(value)
        if value is None:
            return "uncertain"
        if value == 0:
            return "no"
        if value < 1:
            return "decreased"
        return "normal" if value == 1 else "increased"


@dataclass(frozen=True)
class FrequencyTable:
    """Allele frequencies of one gene in one biogeographic group."""

    gene: str
    group: str
    #: Allele -> probability (sums to 1 after the remainder rule).
    frequencies: Mapping[str, float]
    #: Allele -> percent as printed in the source.
    printed: Mapping[str, float]
    #: ``"*1"`` or ``"renormalise"``.
    remainder: str
    source: str


@dataclass(frozen=True)
class ClearanceRecord:
    """Clearance-scaling parameters of one gene with one drug."""

    gene: str
    drug: str
    #: Fraction of the reference genotype's clearance through the enzyme.
    fm: float
    #: Half-saturation activity score of the saturating form; ``None`` = linear limit.
    k50: float | None
    #: Published ratios the parameters were fitted to (dicts with ``clearance_ratio``, ``tolerance``).
    observed: tuple[Mapping[str, Any], ...]
    source: str


def _read(name: str) -> dict[str, Any]:
    path = DATA_DIR / name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GenotypeError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise GenotypeError(f"{path}: expected a mapping of genes at the top level")
    return data


@functools.cache
def gene_tables() -> dict[str, GeneTable]:
    """All CPIC allele tables, keyed by gene (checked on first use)."""
    tables: dict[str, GeneTable] = {}
    for gene, entry in _read("alleles.yaml").items():
        where = f"alleles.yaml: {gene}"
        scoring = entry.get("scoring")
        if scoring not in ("activity_score", "function"):
            raise GenotypeError(f"scoring must be 'activity_score' or 'function', got {scoring!r}", where=where)
        alleles = dict(entry.get("alleles") or {})
        for allele, value in alleles.items():
            if not str(allele).startswith("*"):
                raise GenotypeError(f"allele {allele!r} must start with '*'", where=where, gene=gene)
            if scoring == "function" and value not in FUNCTIONS:
                raise GenotypeError(
                    f"allele {allele}: function {value!r} is not one of {list(FUNCTIONS)}", where=where, gene=gene
                )
            if scoring == "activity_score" and value is not None and not (
                isinstance(value, int | float) and math.isfinite(value) and value >= 0
            ):
                raise GenotypeError(
                    f"allele {allele}: activity value {value!r} must be a number >= 0 or null", where=where, gene=gene
                )
        tables[gene] = GeneTable(
            gene=gene,
            scoring=scoring,
            reference=str(entry.get("reference", "*1/*1")),
            alleles=alleles,
            copy_number=bool(entry.get("copy_number", False)),
            deletion=entry.get("deletion"),
            source=" ".join(str(entry.get("source", "")).split()),
        )
    return tables


def gene_table(gene: str) -> GeneTable:
    """The CPIC table of ``gene``; a :class:`GenotypeError` names the known genes otherwise."""
    tables = gene_tables()
    if not isinstance(gene, str) or gene not in tables:
        raise GenotypeError(f"unknown gene {gene!r}; known genes: {', '.join(sorted(tables))}", gene=str(gene))
    return tables[gene]


@functools.cache
def frequency_tables() -> dict[tuple[str, str], FrequencyTable]:
    """All allele-frequency tables keyed by ``(gene, group)``, remainder rule applied."""
    out: dict[tuple[str, str], FrequencyTable] = {}
    for gene, entry in _read("frequencies.yaml").items():
        table = gene_table(gene)
        remainder = str(entry.get("remainder", "*1"))
        for group, spec in (entry.get("groups") or {}).items():
            where = f"frequencies.yaml: {gene} / {group}"
            printed = {str(a): float(p) for a, p in (spec.get("alleles") or {}).items()}
            for allele, pct in printed.items():
                _check_frequency_allele(table, allele, where)
                if not (math.isfinite(pct) and 0 <= pct <= 100):
                    raise GenotypeError(f"allele {allele}: {pct!r} is not a percentage", where=where, allele=allele)
            total = sum(printed.values())
            if total > 100.5:
                raise GenotypeError(f"listed alleles sum to {total:.2f} % (> 100 %)", where=where, gene=gene)
            freqs = {a: p / 100.0 for a, p in printed.items() if p > 0}
            if remainder == "renormalise":
                freqs = {a: f / (total / 100.0) for a, f in freqs.items()}
            elif remainder in table.alleles:
                freqs[remainder] = freqs.get(remainder, 0.0) + max(0.0, 1.0 - total / 100.0)
                scale = sum(freqs.values())
                freqs = {a: f / scale for a, f in freqs.items()}
            else:
                raise GenotypeError(
                    f"remainder must be 'renormalise' or an allele of {gene}, got {remainder!r}", where=where
                )
            out[(gene, str(group))] = FrequencyTable(
                gene=gene,
                group=str(group),
                frequencies=freqs,
                printed=printed,
                remainder=remainder,
                source=" ".join(str(entry.get("source", "")).split()),
            )
    return out


def _check_frequency_allele(table: GeneTable, allele: str, where: str) -> None:
    parse_allele(table.gene, allele, where=where)


@functools.cache
def clearance_records() -> dict[tuple[str, str], ClearanceRecord]:
    """Clearance-scaling records keyed by ``(gene, drug)``."""
    out: dict[tuple[str, str], ClearanceRecord] = {}
    for gene, entry in _read("clearance.yaml").items():
        gene_table(gene)
        for drug, spec in (entry.get("drugs") or {}).items():
            where = f"clearance.yaml: {gene} / {drug}"
            fm = spec.get("fm")
            if not (isinstance(fm, int | float) and 0 <= fm <= 1):
                raise GenotypeError(f"fm must be a number in [0, 1], got {fm!r}", where=where)
            k50 = spec.get("K50")
            if k50 is not None and not (isinstance(k50, int | float) and k50 > 0):
                raise GenotypeError(f"K50 must be a number > 0 or null, got {k50!r}", where=where)
            out[(gene, str(drug))] = ClearanceRecord(
                gene=gene,
                drug=str(drug),
                fm=float(fm),
                k50=None if k50 is None else float(k50),
                observed=tuple(spec.get("observed") or ()),
                source=" ".join(str(spec.get("source", "")).split()),
            )
    return out


#: CPIC standard phenotype terms a ``phenotype_multipliers`` entry may use.
PHENOTYPE_TERMS: frozenset[str] = frozenset({
    "Poor Metabolizer", "Likely Poor Metabolizer", "Intermediate Metabolizer", "Likely Intermediate Metabolizer",
    "Possible Intermediate Metabolizer", "Normal Metabolizer", "Rapid Metabolizer", "Ultrarapid Metabolizer",
    "Poor Function", "Decreased Function", "Possible Decreased Function", "Normal Function", "Increased Function",
})


@functools.cache
def phenotype_multipliers() -> dict[str, dict[str, float]]:
    """Gene -> {CPIC phenotype: multiplier on the enzyme's CLint} for function-scored genes.

    From the ``phenotype_multipliers`` of ``clearance.yaml``; every entry needs ``m`` (a number >= 0)
    and a ``basis`` (its source or derivation).
    """
    out: dict[str, dict[str, float]] = {}
    for gene, entry in _read("clearance.yaml").items():
        table = gene_table(gene)
        spec = (entry or {}).get("phenotype_multipliers")
        if spec is None:
            continue
        where = f"clearance.yaml: {gene} / phenotype_multipliers"
        if table.scoring != "function":
            raise GenotypeError(f"{gene} is scored by activity score; phenotype multipliers are for "
                                "function-scored genes only", where=where, gene=gene)
        values: dict[str, float] = {}
        for term, item in spec.items():
            if term not in PHENOTYPE_TERMS:
                raise GenotypeError(f"{term!r} is not a CPIC phenotype term ({sorted(PHENOTYPE_TERMS)})",
                                    where=where, gene=gene)
            m = item.get("m") if isinstance(item, dict) else None
            if not (isinstance(m, int | float) and math.isfinite(m) and m >= 0):
                raise GenotypeError(f"{term}: m must be a number >= 0, got {m!r}", where=where, gene=gene)
            if not (isinstance(item, dict) and str(item.get("basis", "")).strip()):
                raise GenotypeError(f"{term}: every multiplier needs a basis (source or derivation)",
                                    where=where, gene=gene)
            values[str(term)] = float(m)
        out[gene] = values
    return out


def declared_reference_activity(gene: str) -> float | None:
    """The ``reference_activity`` that ``clearance.yaml`` declares for ``gene``, or None."""
    entry = _read("clearance.yaml").get(gene) or {}
    value = entry.get("reference_activity")
    return None if value is None else float(value)


# -- star-allele notation ---------------------------------------------------------------------------------------------
# Here, with the tables it checks against, because checking frequencies.yaml needs it too; re-exported by
# qsp_sbml.pharmacogenomics.diplotype.

_ALLELE_RE = re.compile(r"^(?P<base>\*[0-9]+[A-Za-z]?)(?:x(?P<copies>[^/]*))?$")
_COPIES_RE = re.compile(r"^(?P<ge>≥|>=)?(?P<n>[0-9]+)$")


@dataclass(frozen=True)
class Allele:
    """One chromosome's star allele, with its copy number."""

    #: Single-copy allele name, ``"*1"``.
    base: str
    #: Number of gene copies on the chromosome (1 unless ``xN``).
    copies: int = 1
    #: ``True`` for ``x≥N`` (N is a lower bound).
    at_least: bool = False

    def __str__(self) -> str:
        if self.copies == 1:
            return self.base
        return f"{self.base}x{'≥' if self.at_least else ''}{self.copies}"


def parse_allele(gene: str, text: str, *, where: str | None = None, diplotype: str | None = None) -> Allele:
    """Parse one star allele of ``gene`` (``"*4"``, ``"*1x2"``, ``"*2x≥3"``).

    Raises
    ------
    GenotypeError
        Unknown gene, not a star allele, unknown allele, or a copy number the gene does not allow.

    Examples
    --------
    >>> parse_allele("CYP2D6", "*1x2")
    Allele(base='*1', copies=2, at_least=False)
    """
    table = gene_table(gene)
    context = f"{gene} diplotype {diplotype!r}: " if diplotype is not None else f"{gene}: "
    raw = text.strip() if isinstance(text, str) else text
    if not isinstance(raw, str) or not raw:
        raise GenotypeError(f"{context}empty allele", gene=gene, allele=str(text), diplotype=diplotype, where=where)
    match = _ALLELE_RE.match(raw)
    if match is None:
        raise GenotypeError(
            f"{context}{raw!r} is not a star allele "
            "(expected '*<number>', optionally 'x<copies>', e.g. '*4' or '*1x2')",
            gene=gene, allele=raw, diplotype=diplotype, where=where,
        )
    base = match["base"]
    if base not in table.alleles:
        raise GenotypeError(
            f"{context}unknown allele {base!r} (not in the CPIC {gene} allele table, "
            "qsp_sbml/resources/pharmacogenomics/alleles.yaml)",
            gene=gene, allele=base, diplotype=diplotype, where=where,
        )
    if match["copies"] is None:
        return Allele(base)
    return Allele(base, *_copies(table, base, match["copies"], context, diplotype, where))


def _copies(
    table: GeneTable, base: str, spec: str, context: str, diplotype: str | None, where: str | None
) -> tuple[int, bool]:
    allele = f"{base}x{spec}"
    if not table.copy_number:
        raise GenotypeError(
            f"{context}{allele!r}: copy-number notation is defined for CYP2D6 only, not {table.gene}",
            gene=table.gene, allele=allele, diplotype=diplotype, where=where,
        )
    m = _COPIES_RE.match(spec)
    if m is None or int(m["n"]) < 2:
        raise GenotypeError(
            f"{context}{allele!r}: the copy number must be an integer >= 2 (e.g. 'x2', 'x3', 'x≥3')",
            gene=table.gene, allele=allele, diplotype=diplotype, where=where,
        )
    if base == table.deletion:
        raise GenotypeError(
            f"{context}{allele!r}: {base} is the gene deletion and has no copies to duplicate",
            gene=table.gene, allele=allele, diplotype=diplotype, where=where,
        )
    return int(m["n"]), m["ge"] is not None
