"""Diplotype -> multiplier on the intrinsic clearance of the enzyme (or transporter).

Saturating activity-score model, normalised to the reference (normal metabolizer) score:

.. math::

    CL_{int}(AS) = CL_{int,ref}\\,\\frac{AS\\,K_{max}}{AS + K_{50}},\\qquad
    m(AS) = \\frac{AS/(AS + K_{50})}{AS_{ref}/(AS_{ref} + K_{50})}

so that :math:`m(AS_{ref}) = 1` and :math:`K_{max}` cancels (the plateau of ``m`` is
:math:`(AS_{ref} + K_{50})/AS_{ref}`).  ``K50=None`` is the limit :math:`K_{50}\\to\\infty`,
:math:`m = AS/AS_{ref}`.  Gene/drug parameters (``fm``, ``K50``) and their sources are in
``qsp_sbml/resources/pharmacogenomics/clearance.yaml``.

Function-scored genes (CYP2C19, CYP3A5, SLCO1B1) have no activity score, so the saturating form does
not apply: ``m`` is a cited value per CPIC phenotype (``phenotype_multipliers`` in the same file).
"""

from __future__ import annotations

import functools
import math

from qsp_sbml.pharmacogenomics._tables import (
    ClearanceRecord,
    GenotypeError,
    clearance_records,
    declared_reference_activity,
    gene_table,
    phenotype_multipliers,
)
from qsp_sbml.pharmacogenomics.diplotype import activity_score, parse_diplotype, phenotype

__all__ = ["clearance_multiplier", "clearance_ratio", "clearance_record", "fit_k50", "saturating_multiplier"]


@functools.cache
def reference_activity(gene: str) -> float:
    """Activity score of the gene's reference diplotype (from ``clearance.yaml``, else the table)."""
    declared = declared_reference_activity(gene)
    if declared is not None:
        return declared
    return activity_score(gene, gene_table(gene).reference)


def saturating_multiplier(activity: float, reference: float, k50: float | None) -> float:
    """``m(AS)`` of the normalised saturating form (``k50=None``: linear, ``AS/AS_ref``).

    Examples
    --------
    >>> saturating_multiplier(2.0, 2.0, 0.5)
    1.0
    >>> saturating_multiplier(1.0, 2.0, None)
    0.5
    """
    if not (math.isfinite(activity) and activity >= 0):
        raise GenotypeError(f"activity score must be a finite number >= 0, got {activity!r}")
    if not reference > 0:
        raise GenotypeError(f"reference activity score must be > 0, got {reference!r}")
    if k50 is None:
        return activity / reference
    if not k50 > 0:
        raise GenotypeError(f"K50 must be > 0, got {k50!r}")
    return (activity / (activity + k50)) / (reference / (reference + k50))


def fit_k50(ratio: float, activity: float, reference: float) -> float:
    """K50 that makes ``saturating_multiplier(activity, reference, K50) == ratio``.

    Closed form of ``AS (AS_ref + K50) = r AS_ref (AS + K50)``:
    ``K50 = AS AS_ref (r - 1) / (AS - r AS_ref)``.  A ratio outside what any K50 > 0 can give
    (between ``AS/AS_ref`` and 1 for ``AS < AS_ref``, between 1 and ``AS/AS_ref`` above) raises.

    Examples
    --------
    >>> round(fit_k50(0.8, 1.0, 2.0), 6)
    0.666667
    """
    lo, hi = sorted((activity / reference, 1.0))
    if activity <= 0 or activity == reference or not (lo < ratio < hi):
        raise GenotypeError(
            f"no K50 > 0 gives m({activity}) = {ratio} relative to AS_ref = {reference}: the saturating form "
            f"spans ({lo:.4g}, {hi:.4g}) at this activity score"
        )
    return activity * reference * (ratio - 1.0) / (activity - ratio * reference)


def clearance_record(gene: str, drug: str) -> ClearanceRecord:
    """The cited ``fm``/``K50`` record of ``gene`` with ``drug``."""
    gene_table(gene)
    records = clearance_records()
    if (gene, drug) not in records:
        known = sorted(d for g, d in records if g == gene)
        raise GenotypeError(
            f"no clinical PK record for {gene} with drug {drug!r} (clearance.yaml); "
            f"drugs with {gene} records: {', '.join(known) or 'none'}",
            gene=gene,
        )
    return records[(gene, drug)]


def clearance_multiplier(gene: str, diplotype: str, drug: str | None = None) -> float:
    """Multiplier on the enzyme's intrinsic clearance for ``diplotype`` (1 for the reference genotype).

    Activity-score genes (CYP2D6, CYP2C9): the normalised saturating form of the CPIC activity
    score with the drug's ``K50`` (linear in the activity score when ``drug`` is ``None`` or its
    record gives no ``K50``).  Function-scored genes (CYP2C19, CYP3A5, SLCO1B1): the cited multiplier
    of the diplotype's CPIC phenotype (``phenotype_multipliers`` in ``clearance.yaml``: the gene dose
    for normal/no-function combinations, clinical PK for CYP2C19 rapid/ultrarapid metabolizers).

    Raises
    ------
    GenotypeError
        Bad gene/diplotype, an Indeterminate phenotype, a phenotype without a multiplier, or a
        ``drug`` without a record for the gene.

    Examples
    --------
    >>> clearance_multiplier("CYP2D6", "*1/*1")
    1.0
    >>> clearance_multiplier("CYP2D6", "*4/*5", drug="metoprolol")
    0.0
    >>> clearance_multiplier("CYP3A5", "*1/*3")
    0.5
    >>> clearance_multiplier("CYP2C19", "*17/*17")
    1.359
    """
    table = gene_table(gene)
    record = clearance_record(gene, drug) if drug is not None else None
    if table.scoring == "activity_score":
        score = activity_score(gene, diplotype)
        if math.isnan(score):
            raise GenotypeError(
                f"{gene} {diplotype!r} is Indeterminate (an allele without a CPIC activity value); "
                "no clearance multiplier", gene=gene, diplotype=diplotype,
            )
        return saturating_multiplier(score, reference_activity(gene), record.k50 if record else None)
    term = phenotype(gene, diplotype)
    values = phenotype_multipliers().get(gene, {})
    if term not in values:
        a, b = parse_diplotype(gene, diplotype)
        raise GenotypeError(
            f"{gene} {diplotype!r} ({term}; allele functions {table.function(a.base)}/{table.function(b.base)}): "
            f"no clearance multiplier is defined for this phenotype (clearance.yaml gives {gene}: "
            f"{', '.join(values) or 'none'})",
            gene=gene, diplotype=diplotype,
        )
    return values[term]


def clearance_ratio(gene: str, diplotype: str, drug: str) -> float:
    """Whole-body clearance relative to the reference genotype: ``(1 - fm) + fm * m``.

    Examples
    --------
    >>> round(clearance_ratio("CYP2D6", "*4/*4", "metoprolol"), 4)
    0.1695
    """
    record = clearance_record(gene, drug)
    return (1.0 - record.fm) + record.fm * clearance_multiplier(gene, diplotype, drug)
