"""Read a cohort's genotypes from a table, checking every cell."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from qsp_sbml.pharmacogenomics._tables import GenotypeError, gene_tables
from qsp_sbml.pharmacogenomics.diplotype import parse_diplotype

__all__ = ["read_genotypes"]


def read_genotypes(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a TSV/CSV of diplotypes: a ``subject`` column and one column per gene.

    Every cell is parsed; a bad cell raises :class:`GenotypeError` naming the file, the 1-based
    data row, the column (gene) and the offending diplotype or allele.  Empty cells stay empty
    (gene not typed for that subject).

    Returns
    -------
    pandas.DataFrame
        One row per subject (index ``subject``), one string column per gene.
    """
    path = Path(path)
    if not path.is_file():
        raise GenotypeError(f"{path}: no such file")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, comment="#")
    if "subject" not in frame.columns:
        raise GenotypeError(f"{path}: missing column 'subject' (columns: {', '.join(frame.columns)})")
    genes = [c for c in frame.columns if c != "subject"]
    for column in genes:
        if column not in gene_tables():
            raise GenotypeError(
                f"{path}: column {column!r} is not a gene with a CPIC table ({', '.join(sorted(gene_tables()))})",
                gene=column,
            )
    for row, record in enumerate(frame.to_dict("records"), start=1):
        for gene in genes:
            cell = record[gene].strip()
            if cell:
                parse_diplotype(gene, cell, where=f"{path}: row {row}, column {gene!r}")
    if frame["subject"].duplicated().any():
        dup = frame["subject"][frame["subject"].duplicated()].iloc[0]
        raise GenotypeError(f"{path}: subject {dup!r} appears twice")
    return frame.set_index("subject")
