"""A cohort table from FHIR records: one row per patient, covariates at a reference date, CPIC genotypes.

The covariate table has the columns :func:`qsp_sbml.population.covariates.read_covariates` reads
(``subject_id, age, sex, weight_kg, height_cm`` and optional ``serum_creatinine_mg_dl``...) and the
genotype table those of :func:`qsp_sbml.pharmacogenomics.table.read_genotypes` (``subject`` and one column
per gene), so a record feeds ``qsp-sbml vpop`` (``covariates: {file: ...}``) or a :class:`Cohort` for
``simulate-cohort`` directly.

Age is in decimal years at the reference date: days since the birth date / 365.2425 (the mean Gregorian
year).  Each covariate takes the patient's latest result at or before the end of the reference date;
later and older results are listed as skipped with the resource that was used instead.  A patient is
skipped (listed, with the reason) when a required column has no value, the sex is neither male nor
female (the covariate models are two-sex), the birth date is missing or partial, or the patient died on
or before the reference date (``Patient.deceasedDateTime``; ``deceasedBoolean`` true or a partial date of
death also skips: the patient is not known to be alive then).

Every resource read is accounted for: it is in the table (a kept Patient, the result a cell holds) or it
is listed as skipped with its reason, including the results of a skipped patient (``patient-skipped``),
the results of a column left out because some patient lacks it (``column-left-out``) and the dosing
records, which a cohort table does not hold (``not-used``; ``qsp-sbml fhir twin`` reads them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from qsp_sbml.errors import FhirError
from qsp_sbml.population.covariates import COVARIATE_RANGES
from qsp_sbml.rwe.mapping import FhirMapping
from qsp_sbml.rwe.patients import Measurement, PatientRecord, extract_patients
from qsp_sbml.rwe.records import FhirRecords, Finding

#: Resource types a cohort table does not read (dosing history: see :func:`qsp_sbml.rwe.twin_data`).
_DOSING_TYPES = ("Medication", "MedicationAdministration", "MedicationStatement", "MedicationRequest")

__all__ = ["REQUIRED", "CohortExtraction", "age_years", "extract_cohort"]

#: Columns every row must have.
REQUIRED = ("age", "sex", "weight_kg", "height_cm")
_DAYS_PER_YEAR = 365.2425


def age_years(birth: dt.date, at: dt.date) -> float:
    """Decimal age in years: days / 365.2425.

    Examples
    --------
    >>> round(age_years(dt.date(1970, 1, 1), dt.date(2020, 1, 1)), 4)
    49.9997
    """
    return (at - birth).days / _DAYS_PER_YEAR


@dataclass
class CohortExtraction:
    """The covariate and genotype tables of the patients kept, and what was skipped."""

    #: ``subject_id, age, sex`` then one column per covariate of the mapping (NaN: no result).
    covariates: pd.DataFrame
    #: ``subject`` then one column per gene ("" when not typed).
    genotypes: pd.DataFrame
    #: Resources and patients not used, each with its reason.
    skipped: list[Finding] = field(default_factory=list)
    #: The reference date.
    reference_date: dt.date | None = None
    #: Covariate columns left out because some kept patients have no value: column -> number of them.
    incomplete: dict[str, int] = field(default_factory=dict)

    def to_cohort(self) -> object:
        """A :class:`qsp_sbml.population.Cohort` (covariates and genotypes, no parameters)."""
        from qsp_sbml.population.cohort import Cohort

        genotypes = self.genotypes.drop(columns=["subject"]) if len(self.genotypes.columns) > 1 else None
        return Cohort.from_parts(
            covariates=self.covariates,
            genotypes=genotypes,
            provenance={"source": "FHIR", "reference_date": str(self.reference_date)},
        )


def _latest(items: list[Measurement], name: str, until: dt.datetime, skipped: list[Finding]) -> Measurement | None:
    chosen = None
    for m in items:
        if m.name != name:
            continue
        when = m.time if isinstance(m.time, dt.datetime) else dt.datetime.combine(m.time, dt.time(), dt.UTC)
        if when >= until:
            skipped.append(
                Finding(m.file, m.resource, "after-reference", f"{name} measured after the reference date", "skipped")
            )
            continue
        if chosen is None or when > chosen[0]:
            if chosen is not None:
                skipped.append(
                    Finding(
                        chosen[1].file,
                        chosen[1].resource,
                        "superseded",
                        f"a later {name} ({m.resource}) is used",
                        "skipped",
                    )
                )
            chosen = (when, m)
        else:
            skipped.append(
                Finding(m.file, m.resource, "superseded", f"a later {name} ({chosen[1].resource}) is used", "skipped")
            )
    return chosen[1] if chosen else None


def extract_cohort(
    records: FhirRecords,
    mapping: FhirMapping,
    *,
    reference_date: dt.date,
    required: Sequence[str] = REQUIRED,
    drop_incomplete: bool = True,
) -> CohortExtraction:
    """Covariates at ``reference_date`` and genotypes of every patient in ``records``.

    A patient without a value for a ``required`` column is skipped (listed with the reason).  With
    ``drop_incomplete`` (the default) a covariate column that some kept patient has no value for is left
    out of the table, so that every cell is a number the covariate readers accept; the columns left out
    and how many patients lack them are in :attr:`CohortExtraction.incomplete` (add the column to
    ``required`` to keep it and skip those patients instead).

    Raises
    ------
    FhirError
        Any error finding (invalid resources, units, impossible values, conflicts), all listed.
    """
    patients = extract_patients(records, mapping)
    records.raise_if_errors()
    until = dt.datetime.combine(reference_date + dt.timedelta(days=1), dt.time(), dt.UTC)
    skipped: list[Finding] = [
        Finding(r.file, r.key, "not-used", f"{r.type}: dosing records are not part of a cohort table", "skipped")
        for r in records.resources
        if r.type in _DOSING_TYPES
    ]
    rows, genotype_rows = [], []
    used: list[dict[str, Measurement]] = []
    genes = sorted({g for p in patients.values() for g in p.genotypes})
    for pid, rec in patients.items():
        row, chosen, reason = _row(rec, mapping, reference_date, until, skipped)
        if reason is None:
            missing = [c for c in required if row.get(c) is None or row.get(c) != row.get(c)]
            if missing:
                reason = f"no {', '.join(missing)} at or before {reference_date}"
        if reason is not None:
            skipped.append(Finding(rec.file, f"Patient/{pid}", "patient-skipped", reason, "skipped"))
            skipped.extend(
                Finding(
                    m.file, m.resource, "patient-skipped", f"{m.name} of Patient/{pid}, which is skipped", "skipped"
                )
                for m in chosen.values()
            )
            for g, (_, gres) in rec.genotypes.items():
                skipped.append(
                    Finding(
                        rec.file, gres, "patient-skipped", f"{g} genotype of Patient/{pid}, which is skipped", "skipped"
                    )
                )
            continue
        rows.append(row)
        used.append(chosen)
        genotype_rows.append({"subject": pid, **{g: rec.genotypes.get(g, ("", ""))[0] for g in genes}})
    columns = ["subject_id", "age", "sex", *mapping.covariates]
    covariates = pd.DataFrame(rows, columns=columns)
    incomplete = {c: int(covariates[c].isna().sum()) for c in mapping.covariates if covariates[c].isna().any()}
    if drop_incomplete:
        covariates = covariates.drop(columns=list(incomplete))
        for chosen in used:
            skipped.extend(
                Finding(
                    m.file,
                    m.resource,
                    "column-left-out",
                    f"{m.name} is left out of the table: {incomplete[m.name]} patient(s) have no value",
                    "skipped",
                )
                for m in chosen.values()
                if m.name in incomplete
            )
    genotypes = pd.DataFrame(genotype_rows, columns=["subject", *genes])
    return CohortExtraction(
        covariates=covariates,
        genotypes=genotypes,
        skipped=[*records.skipped(), *skipped],
        reference_date=reference_date,
        incomplete=incomplete,
    )


def _row(
    rec: PatientRecord, mapping: FhirMapping, reference_date: dt.date, until: dt.datetime, skipped: list[Finding]
) -> tuple[dict[str, object], dict[str, Measurement], str | None]:
    """The patient's row, the result each covariate cell holds, and why the patient is skipped (or None)."""
    row: dict[str, object] = {"subject_id": rec.id}
    chosen: dict[str, Measurement] = {}
    for name in mapping.covariates:
        meas = _latest(rec.covariates, name, until, skipped)
        row[name] = meas.value if meas is not None else float("nan")
        if meas is not None:
            chosen[name] = meas
    if rec.sex not in ("male", "female"):
        return row, chosen, f"gender {rec.sex!r} is neither male nor female (the covariate models are two-sex)"
    row["sex"] = rec.sex
    if rec.birth_date is None:
        return row, chosen, "no birthDate"
    try:
        birth = dt.date.fromisoformat(rec.birth_date)
    except ValueError:
        return row, chosen, f"birthDate {rec.birth_date!r} is partial: the age is not known to the day"
    if birth > reference_date:
        return row, chosen, f"born {birth}, after the reference date {reference_date}"
    died = _died_before(rec, until)
    if died is not None:
        return row, chosen, died
    age = row["age"] = age_years(birth, reference_date)
    low, high = COVARIATE_RANGES["age"]
    if not low <= age <= high:
        raise FhirError(
            f"{rec.file}: Patient/{rec.id}: age {age:.1f} years at {reference_date} (born {birth}) "
            f"is outside {low:g}-{high:g} [impossible-value]"
        )
    return row, chosen, None


def _died_before(rec: PatientRecord, until: dt.datetime) -> str | None:
    """Why a patient is not alive at the reference date (``until`` is the end of that day), or None."""
    death = rec.deceased
    if death is None or death is False:
        return None
    if death is True:
        return "deceased (deceasedBoolean), date not given: not known to be alive at the reference date"
    if isinstance(death, str):
        return f"deceasedDateTime {death!r} is partial: not known to be alive at the reference date"
    when = death if isinstance(death, dt.datetime) else dt.datetime.combine(death, dt.time(), dt.UTC)
    if when < until:
        return f"died {death.isoformat()}, on or before the reference date"
    return None
