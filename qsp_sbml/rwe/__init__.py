"""Real-world data in: FHIR R4 records to covariates, genotypes, observations and dosing history.

Needs the ``rwe`` extra (``fhir.resources``).  Read records with :func:`read_fhir`, choose what feeds what
with a mapping (:func:`read_mapping`, :func:`default_mapping`), then build a cohort table
(:func:`extract_cohort`) or one patient's twin data (:func:`twin_data`).
"""

from qsp_sbml.rwe.cohort import CohortExtraction, extract_cohort
from qsp_sbml.rwe.mapping import FhirMapping, default_mapping, read_mapping
from qsp_sbml.rwe.medications import DoseEvent, extract_doses, regimen_from_events
from qsp_sbml.rwe.patients import Measurement, PatientRecord, extract_patients
from qsp_sbml.rwe.records import FhirRecords, Finding, read_fhir
from qsp_sbml.rwe.twin import TwinData, twin_data

__all__ = [
    "CohortExtraction",
    "DoseEvent",
    "FhirMapping",
    "FhirRecords",
    "Finding",
    "Measurement",
    "PatientRecord",
    "TwinData",
    "default_mapping",
    "extract_cohort",
    "extract_doses",
    "extract_patients",
    "read_fhir",
    "read_mapping",
    "regimen_from_events",
    "twin_data",
]
