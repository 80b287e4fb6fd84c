"""Pharmacogenomics: star-allele diplotype -> CPIC activity score -> phenotype -> clearance scaling.

CPIC allele tables for CYP2D6 (incl. duplications ``*1x2`` and the deletion ``*5``), CYP2C19,
CYP2C9, CYP3A5 and SLCO1B1 (``qsp_sbml/resources/pharmacogenomics/alleles.yaml``); allele
frequencies by biogeographic group for Hardy-Weinberg genotype sampling (``frequencies.yaml``);
clinical-PK clearance scaling (``clearance.yaml``); and the tagging of an SBML model's clearance
parameters with their enzyme (``m_<GENE>`` ports or a ``qsp:pharmacogenomics`` annotation).

Examples
--------
>>> from qsp_sbml.pharmacogenomics import activity_score, phenotype
>>> activity_score("CYP2D6", "*1/*4")
1.0
>>> phenotype("CYP2D6", "*1/*4")
'Intermediate Metabolizer'
"""

from qsp_sbml.pharmacogenomics._tables import GenotypeError
from qsp_sbml.pharmacogenomics.clearance import (
    clearance_multiplier,
    clearance_ratio,
    fit_k50,
    saturating_multiplier,
)
from qsp_sbml.pharmacogenomics.diplotype import activity_score, parse_diplotype, phenotype, supported_genes
from qsp_sbml.pharmacogenomics.sampling import allele_frequencies, groups, sample_genotypes
from qsp_sbml.pharmacogenomics.sbml import enzyme_parameters, genotype_parameters, genotype_values
from qsp_sbml.pharmacogenomics.table import read_genotypes

__all__ = [
    "GenotypeError",
    "activity_score",
    "allele_frequencies",
    "clearance_multiplier",
    "clearance_ratio",
    "enzyme_parameters",
    "fit_k50",
    "genotype_parameters",
    "genotype_values",
    "groups",
    "parse_diplotype",
    "phenotype",
    "read_genotypes",
    "sample_genotypes",
    "saturating_multiplier",
    "supported_genes",
]
