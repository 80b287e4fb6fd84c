"""Star-allele diplotypes -> CPIC activity score -> CPIC phenotype.

Diplotypes are written as CPIC does: two star alleles separated by ``/``, for example ``*1/*4``.
CYP2D6 also takes copy numbers, ``*1x2/*4`` (two copies of ``*1`` on one chromosome) and
``*1x≥3`` (three or more copies; taken as three, a lower bound), and the gene deletion ``*5``.
The activity value of a duplicated allele is the single-copy value times the copy number (CPIC
rule; ``*4x2`` = 0, ``*10x2`` = 0.5, ``*41x3`` = 0.75).

Phenotype assignment (CPIC standard terms):

* CYP2D6 (Caudle et al. 2020): AS 0 poor, 0 < AS < 1.25 intermediate, 1.25 <= AS <= 2.25 normal,
  AS > 2.25 ultrarapid metabolizer.
* CYP2C9 (Theken et al. 2020): AS 0-0.5 poor, 1-1.5 intermediate, 2 normal metabolizer.
* CYP2C19 (Lima et al. 2021), CYP3A5 (Birdwell et al. 2015), SLCO1B1 (Cooper-DeHoff et al. 2022):
  from the combination of the two alleles' function classes (see ``_FUNCTION_RULES``).

An allele without a CPIC activity value or with uncertain/unknown function gives "Indeterminate".

:class:`Allele` and :func:`parse_allele` are defined with the tables they check against
(``qsp_sbml.pharmacogenomics._tables``, whose frequency-table check uses them too) and exported here.
"""

from __future__ import annotations

import math

from qsp_sbml.pharmacogenomics._tables import Allele, GenotypeError, gene_table, gene_tables, parse_allele

__all__ = ["Allele", "activity_score", "allele_activity", "parse_allele", "parse_diplotype", "phenotype",
           "supported_genes"]


def parse_diplotype(gene: str, diplotype: str, *, where: str | None = None) -> tuple[Allele, Allele]:
    """Split ``"*1/*4"`` into two :class:`Allele`; errors name the gene, diplotype and allele.

    Examples
    --------
    >>> [str(a) for a in parse_diplotype("CYP2D6", "*1x2/*4")]
    ['*1x2', '*4']
    """
    gene_table(gene)
    if not isinstance(diplotype, str):
        raise GenotypeError(f"{gene} diplotype must be a string like '*1/*2', got {diplotype!r}",
                            gene=gene, diplotype=str(diplotype), where=where)
    text = diplotype.strip()
    if not text:
        raise GenotypeError(f"{gene} diplotype {diplotype!r}: empty diplotype (expected e.g. '*1/*2')",
                            gene=gene, diplotype=diplotype, where=where)
    parts = text.split("/")
    if len(parts) != 2:
        raise GenotypeError(
            f"{gene} diplotype {diplotype!r}: expected two star alleles separated by one '/', e.g. '*1/*2'",
            gene=gene, diplotype=diplotype, where=where,
        )
    for i, part in enumerate(parts, start=1):
        if not part.strip():
            raise GenotypeError(f"{gene} diplotype {diplotype!r}: allele {i} is empty (expected e.g. '*1/*2')",
                                gene=gene, diplotype=diplotype, where=where)
    first, second = (parse_allele(gene, p, where=where, diplotype=diplotype) for p in parts)
    return first, second


def allele_activity(gene: str, allele: Allele | str) -> float:
    """CPIC activity value of one (possibly duplicated) allele; ``nan`` when CPIC gives none.

    Examples
    --------
    >>> allele_activity("CYP2D6", "*41x3")
    0.75
    """
    table = gene_table(gene)
    if table.scoring != "activity_score":
        raise GenotypeError(
            f"CPIC assigns {gene} phenotypes from allele function, not an activity score; use phenotype()",
            gene=gene,
        )
    a = parse_allele(gene, allele) if isinstance(allele, str) else allele
    value = table.alleles[a.base]
    return math.nan if value is None else float(value) * a.copies


def activity_score(gene: str, diplotype: str) -> float:
    """CPIC activity score of a diplotype (sum of the two allele activity values).

    Returns ``nan`` when an allele has no CPIC activity value (uncertain function).

    Raises
    ------
    GenotypeError
        Unknown gene or allele, malformed diplotype, or a gene CPIC scores by function only
        (CYP2C19, CYP3A5, SLCO1B1).

    Examples
    --------
    >>> activity_score("CYP2D6", "*1x2/*4")
    2.0
    >>> activity_score("CYP2D6", "*1/*10")
    1.25
    >>> activity_score("CYP2C9", "*1/*3")
    1.0
    """
    a, b = parse_diplotype(gene, diplotype)
    return allele_activity(gene, a) + allele_activity(gene, b)


def _as_phenotype(gene: str, score: float) -> str:
    if math.isnan(score):
        return "Indeterminate"
    if gene == "CYP2D6":  # Caudle et al. 2020
        if score == 0:
            return "Poor Metabolizer"
        if score < 1.25:
            return "Intermediate Metabolizer"
        return "Normal Metabolizer" if score <= 2.25 else "Ultrarapid Metabolizer"
    if gene == "CYP2C9":  # Theken et al. 2020
        if score <= 0.5:
            return "Poor Metabolizer"
        return "Intermediate Metabolizer" if score < 2 else "Normal Metabolizer"
    raise GenotypeError(f"no activity-score phenotype thresholds are defined for {gene}", gene=gene)


_UNCERTAIN = frozenset({"uncertain", "unknown"})


def _cyp2c19(f: frozenset[str], pair: tuple[str, str]) -> str:  # Lima et al. 2021, Table 1
    if f & _UNCERTAIN:
        return "Indeterminate"
    table = {
        ("increased", "increased"): "Ultrarapid Metabolizer",
        ("increased", "normal"): "Rapid Metabolizer",
        ("normal", "normal"): "Normal Metabolizer",
        ("decreased", "increased"): "Likely Intermediate Metabolizer",
        ("decreased", "normal"): "Likely Intermediate Metabolizer",
        ("decreased", "decreased"): "Likely Intermediate Metabolizer",
        ("increased", "no"): "Intermediate Metabolizer",
        ("no", "normal"): "Intermediate Metabolizer",
        ("decreased", "no"): "Likely Poor Metabolizer",
        ("no", "no"): "Poor Metabolizer",
    }
    return table[pair]


def _cyp3a5(f: frozenset[str], pair: tuple[str, str]) -> str:  # Birdwell et al. 2015; CPIC table
    table = {
        ("normal", "normal"): "Normal Metabolizer",
        ("no", "normal"): "Intermediate Metabolizer",
        ("no", "no"): "Poor Metabolizer",
        ("normal", "unknown"): "Possible Intermediate Metabolizer",
    }
    return table.get(pair, "Indeterminate")


def _slco1b1(f: frozenset[str], pair: tuple[str, str]) -> str:  # Cooper-DeHoff et al. 2022
    if "no" in f and f & _UNCERTAIN:
        return "Possible Decreased Function"
    if f & _UNCERTAIN:
        return "Indeterminate"
    table = {
        ("increased", "increased"): "Increased Function",
        ("increased", "normal"): "Normal Function",
        ("normal", "normal"): "Normal Function",
        ("increased", "no"): "Decreased Function",
        ("no", "normal"): "Decreased Function",
        ("no", "no"): "Poor Function",
    }
    return table.get(pair, "Indeterminate")


_FUNCTION_RULES = {"CYP2C19": _cyp2c19, "CYP3A5": _cyp3a5, "SLCO1B1": _slco1b1}


def phenotype(gene: str, diplotype: str) -> str:
    """CPIC standard phenotype term of a diplotype.

    Metabolizer terms for the enzymes (``"Poor Metabolizer"`` ... ``"Ultrarapid Metabolizer"``,
    CYP2C19 also ``"Rapid"``, ``"Likely Intermediate"``, ``"Likely Poor"``), function terms for the
    transporter SLCO1B1 (``"Poor Function"`` ... ``"Increased Function"``), ``"Indeterminate"``
    when an allele's function is uncertain.

    Examples
    --------
    >>> phenotype("CYP2D6", "*1/*1x2")
    'Ultrarapid Metabolizer'
    >>> phenotype("CYP2C19", "*1/*17")
    'Rapid Metabolizer'
    >>> phenotype("SLCO1B1", "*1/*5")
    'Decreased Function'
    """
    table = gene_table(gene)
    a, b = parse_diplotype(gene, diplotype)
    if table.scoring == "activity_score":
        return _as_phenotype(gene, allele_activity(gene, a) + allele_activity(gene, b))
    rule = _FUNCTION_RULES.get(gene)
    if rule is None:
        raise GenotypeError(f"no function-combination phenotype rules are defined for {gene}", gene=gene)
    functions = (table.function(a.base), table.function(b.base))
    pair = (min(functions), max(functions))
    return rule(frozenset(functions), pair)


def supported_genes() -> list[str]:
    """Genes with a CPIC allele-function table shipped here (``CYP2D6``, ``CYP2C19``, ...)."""
    return sorted(gene_tables())
