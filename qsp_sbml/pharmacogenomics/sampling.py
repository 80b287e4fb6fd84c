"""Allele frequencies by biogeographic group and Hardy-Weinberg genotype sampling."""

from __future__ import annotations

import re

import numpy as np

from qsp_sbml.pharmacogenomics._tables import GenotypeError, frequency_tables, gene_table
from qsp_sbml.pharmacogenomics.diplotype import parse_allele

__all__ = ["allele_frequencies", "canonical_diplotype", "groups", "sample_genotypes"]


def groups(gene: str) -> list[str]:
    """Biogeographic groups with an allele-frequency table for ``gene``.

    Examples
    --------
    >>> "European" in groups("CYP2D6")
    True
    """
    gene_table(gene)
    return sorted(g for (name, g) in frequency_tables() if name == gene)


def allele_frequencies(gene: str, group: str) -> dict[str, float]:
    """Allele -> frequency (sums to 1) for ``gene`` in ``group``, remainder rule applied.

    The remainder rule of each gene (``frequencies.yaml``) says where 100 % minus the listed
    alleles goes: to the reference allele ``*1``, or spread by renormalising.
    """
    gene_table(gene)
    try:
        table = frequency_tables()[(gene, group)]
    except KeyError:
        raise GenotypeError(
            f"no {gene} allele frequencies for group {group!r}; groups: {', '.join(groups(gene))}", gene=gene
        ) from None
    return dict(table.frequencies)


def _sort_key(allele: str) -> tuple[int, str, int]:
    m = re.match(r"^\*([0-9]+)([A-Za-z]?)", allele)
    number, suffix = (int(m[1]), m[2]) if m else (10**9, allele)
    copies = re.search(r"x[^0-9]*([0-9]+)$", allele)
    return number, suffix, int(copies[1]) if copies else 1


def canonical_diplotype(gene: str, diplotype: str) -> str:
    """The diplotype with the lower-numbered allele first (CPIC order), e.g. ``*4/*1`` -> ``*1/*4``.

    Examples
    --------
    >>> canonical_diplotype("CYP2D6", "*4/*1x2")
    '*1x2/*4'
    """
    from qsp_sbml.pharmacogenomics.diplotype import parse_diplotype

    a, b = (str(x) for x in parse_diplotype(gene, diplotype))
    first, second = sorted((a, b), key=_sort_key)
    return f"{first}/{second}"


def sample_genotypes(
    gene: str, group: str, n: int, seed: int | np.random.Generator | None = None
) -> list[str]:
    """Draw ``n`` diplotypes under Hardy-Weinberg equilibrium from the group's allele frequencies.

    Each subject gets two alleles drawn independently from the allele-frequency table; the
    diplotype is written in CPIC order (lower-numbered allele first).  The same ``seed`` gives the
    same list.

    Parameters
    ----------
    gene
        ``"CYP2D6"``, ``"CYP2C19"``, ``"CYP2C9"``, ``"CYP3A5"`` or ``"SLCO1B1"``.
    group
        Biogeographic group, see :func:`groups`.
    n
        Number of subjects (>= 0).
    seed
        Integer seed, a NumPy ``Generator``, or ``None`` (fresh entropy).

    Examples
    --------
    >>> sample_genotypes("CYP2C19", "European", 3, seed=1) == sample_genotypes("CYP2C19", "European", 3, seed=1)
    True
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise GenotypeError(f"n must be an integer >= 0, got {n!r}", gene=gene)
    freqs = allele_frequencies(gene, group)
    alleles = sorted(freqs, key=_sort_key)
    for allele in alleles:
        parse_allele(gene, allele)
    p = np.array([freqs[a] for a in alleles], dtype=float)
    p = p / p.sum()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    draws = rng.choice(len(alleles), size=(int(n), 2), p=p)
    draws.sort(axis=1)  # alleles are sorted in CPIC order, so the lower index comes first
    return [f"{alleles[i]}/{alleles[j]}" for i, j in draws]
