"""Patients, their coded observations and their genotypes, read from FHIR records through a mapping.

* ``Patient``: sex (``gender`` male/female), birth date (age is computed at a reference date by
  :mod:`qsp_sbml.rwe.cohort`) and ``deceased[x]`` (a cohort at a reference date leaves out the dead).
* ``Observation`` with a code the mapping lists: the value converted to the mapping's unit
  (:mod:`qsp_sbml.rwe.quantities`), range-checked, with its time (``effectiveDateTime``, ``effectiveInstant``
  or ``effectivePeriod.start``).  Only results with status ``final``, ``amended`` or ``corrected`` are used.
* Genotype ``Observation`` (HL7 Genomics Reporting IG "genotype" profile: code LOINC 84413-4, component
  48018-6 naming the gene): the diplotype, written as the IG example does (``CYP2D6*7.001 / CYP2D6*1.001``)
  or as CPIC does (``*1/*4``), is normalised to CPIC's form and parsed by
  :func:`qsp_sbml.pharmacogenomics.parse_diplotype`.  PharmVar sub-alleles (``*1.001``) take their core
  allele (``*1``): PharmVar defines a core allele by the function-defining variants its sub-alleles share
  (Gaedigk et al. 2018, "The Pharmacogene Variation (PharmVar) Consortium", Clin Pharmacol Ther 103:399).

Every Observation is used, listed as skipped with its reason, or reported as an error with its id:
unknown codes (skipped), missing units, units that do not convert, impossible values, two results of one
quantity at one time that disagree, and two genotypes of one gene that disagree (errors).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from typing import Any

from qsp_sbml.errors import UnitError
from qsp_sbml.rwe.mapping import Coded, FhirMapping
from qsp_sbml.rwe.quantities import convert, unit_of
from qsp_sbml.rwe.records import FhirRecords, Finding, Resource

__all__ = ["Measurement", "PatientRecord", "extract_patients", "normalise_diplotype", "to_datetime"]

_USED_STATUS = ("final", "amended", "corrected")
_SUBALLELE = re.compile(r"^\*(\d+[A-Za-z]?)\.\d+$")


@dataclass(frozen=True)
class Measurement:
    """One coded result, in the mapping's unit."""

    #: Covariate column or observable (SBML id).
    name: str
    #: When it was measured (a date when the record gives no time of day).
    time: dt.datetime | dt.date
    #: Value in ``unit``.
    value: float
    #: The mapping's unit.
    unit: str
    #: ``Observation/id``.
    resource: str
    #: File it came from.
    file: str


@dataclass
class PatientRecord:
    """What the record says about one patient."""

    #: Patient id.
    id: str
    #: File of the Patient resource.
    file: str
    #: ``male``, ``female``, or the FHIR gender when it is neither (``other``, ``unknown``, None).
    sex: str | None
    #: Birth date as written (``YYYY-MM-DD``; partial dates are kept as text).
    birth_date: str | None
    #: Covariate results.
    covariates: list[Measurement] = field(default_factory=list)
    #: Observable results (drug concentrations, scores).
    observables: list[Measurement] = field(default_factory=list)
    #: Gene -> (CPIC diplotype, ``Observation/id``).
    genotypes: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: ``Patient.deceased[x]``: the date-time of death, ``True`` (deceased, date not given), the text of a
    #: partial date, or None (not recorded as deceased).
    deceased: dt.datetime | dt.date | bool | str | None = None


def to_datetime(value: Any) -> dt.datetime | dt.date | None:
    """A FHIR date/dateTime/instant value as a ``datetime`` (UTC-aware) or a ``date``; None if absent."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return value
    text = str(value)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None  # a partial date ("1970", "1970-05") has no day


def normalise_diplotype(gene: str, text: str) -> str:
    """``"CYP2D6*7.001 / CYP2D6*1.001"`` -> ``"*7/*1"``; CPIC text passes unchanged.

    Examples
    --------
    >>> normalise_diplotype("CYP2D6", "CYP2D6*7.001 / CYP2D6*1.001")
    '*7/*1'
    >>> normalise_diplotype("CYP2C19", "*1/*2")
    '*1/*2'
    """
    parts = [p.strip() for p in text.split("/")]
    out = []
    for part in parts:
        part = part.removeprefix(gene).strip()
        match = _SUBALLELE.match(part)
        out.append(f"*{match.group(1)}" if match else part)
    return "/".join(out)


def _codings(concept: Any) -> list[tuple[str | None, str | None]]:
    if concept is None:
        return []
    return [(c.system, c.code) for c in (concept.coding or ())]


def _patient_of(res: Resource, records: FhirRecords) -> str | None:
    subject = getattr(res.model, "subject", None)
    ref = getattr(subject, "reference", None) if subject is not None else None
    target = records.resolve(ref)
    if target is not None and target.type == "Patient":
        return target.id
    return None


def _time(model: Any) -> dt.datetime | dt.date | None:
    for name in ("effectiveDateTime", "effectiveInstant"):
        value = getattr(model, name, None)
        if value is not None:
            return to_datetime(value)
    period = getattr(model, "effectivePeriod", None)
    if period is not None and period.start is not None:
        return to_datetime(period.start)
    return None


def extract_patients(records: FhirRecords, mapping: FhirMapping) -> dict[str, PatientRecord]:
    """Patients with their mapped observations and genotypes; findings are added to ``records``."""
    patients: dict[str, PatientRecord] = {}
    for res in records.of_type("Patient"):
        m = res.model
        gender = m.gender
        birth = (
            None
            if m.birthDate is None
            else (m.birthDate.isoformat() if isinstance(m.birthDate, dt.date) else str(m.birthDate))
        )
        deceased: dt.datetime | dt.date | bool | str | None = None
        if m.deceasedDateTime is not None:
            deceased = to_datetime(m.deceasedDateTime) or str(m.deceasedDateTime)
        elif m.deceasedBoolean:
            deceased = True
        patients[res.id] = PatientRecord(id=res.id, file=res.file, sex=gender, birth_date=birth, deceased=deceased)
    for res in records.of_type("Observation"):
        _observation(res, records, mapping, patients)
    for rec in patients.values():
        _check_conflicts(rec.covariates, records)
        _check_conflicts(rec.observables, records)
    return patients


def _observation(res: Resource, records: FhirRecords, mapping: FhirMapping, patients: dict[str, PatientRecord]) -> None:
    m = res.model
    add = records.findings.append
    codes = _codings(m.code)
    names = {n for s, c in codes if (n := mapping.covariate_for(s, c) or mapping.observable_for(s, c))}
    is_genotype = any(mapping.is_genotype(s, c) for s, c in codes)
    if not names and not is_genotype:
        shown = ", ".join(f"{s}|{c}" for s, c in codes) or (m.code.text or "no coding")
        add(Finding(res.file, res.key, "unknown-code", f"code {shown} is not in the mapping", "skipped"))
        return
    if len(names) + is_genotype > 1:
        add(Finding(res.file, res.key, "conflict", f"its codes map to more than one entry: {sorted(names)}"))
        return
    if m.status not in _USED_STATUS:
        add(
            Finding(
                res.file,
                res.key,
                "status",
                f"status {m.status!r} is not a result to use ({', '.join(_USED_STATUS)})",
                "skipped",
            )
        )
        return
    pid = _patient_of(res, records)
    if pid is None or pid not in patients:
        ref = m.subject.reference if m.subject is not None else None
        add(Finding(res.file, res.key, "invalid", f"subject {ref!r} is not a Patient in the input"))
        return
    if is_genotype:
        _genotype(res, mapping, patients[pid], records)
        return
    name = names.pop()
    entry = mapping.covariates.get(name) or mapping.observables[name]
    measured = _value(res, entry, name, records)
    if measured is None:
        return
    when = _time(m)
    if when is None:
        add(
            Finding(
                res.file,
                res.key,
                "no-time",
                "no effective time (effectiveDateTime, effectiveInstant or effectivePeriod.start)",
            )
        )
        return
    meas = Measurement(name=name, time=when, value=measured, unit=entry.unit, resource=res.key, file=res.file)
    (patients[pid].covariates if name in mapping.covariates else patients[pid].observables).append(meas)


def _value(res: Resource, entry: Coded, name: str, records: FhirRecords) -> float | None:
    m, add = res.model, records.findings.append
    q = m.valueQuantity
    if q is None:
        if m.dataAbsentReason is not None:
            reason = m.dataAbsentReason.text or ", ".join(str(c) for _, c in _codings(m.dataAbsentReason))
            add(Finding(res.file, res.key, "no-value", f"no value (dataAbsentReason: {reason})", "skipped"))
        else:
            add(Finding(res.file, res.key, "invalid", f"{name}: needs valueQuantity"))
        return None
    if q.value is None:
        add(Finding(res.file, res.key, "invalid", f"{name}: valueQuantity has no value"))
        return None
    if q.comparator is not None:
        add(
            Finding(
                res.file,
                res.key,
                "censored",
                f"{name}: a censored result ({q.comparator} {q.value}) is not a value",
                "skipped",
            )
        )
        return None
    unit = unit_of(q)
    if not unit:
        add(Finding(res.file, res.key, "missing-unit", f"{name}: valueQuantity {q.value} has no unit"))
        return None
    try:
        value = convert(
            float(q.value), unit, entry.unit, molecular_weight=entry.molecular_weight, iu_is_u=entry.iu_is_u
        )
    except UnitError as err:
        add(Finding(res.file, res.key, "unit", f"{name}: {err}"))
        return None
    if not entry.in_range(value):
        low, high = entry.range
        add(
            Finding(
                res.file,
                res.key,
                "impossible-value",
                f"{name} = {value:g} {entry.unit} (recorded {q.value} {unit}) is outside "
                f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}",
            )
        )
        return None
    return value


def _genotype(res: Resource, mapping: FhirMapping, rec: PatientRecord, records: FhirRecords) -> None:
    from qsp_sbml.pharmacogenomics import GenotypeError, parse_diplotype, supported_genes

    m, add = res.model, records.findings.append
    assert mapping.genotypes is not None  # noqa: S101 -- is_genotype checked it
    gene = None
    for comp in m.component or ():
        if any(f"{s}|{k}" == mapping.genotypes.gene_component for s, k in _codings(comp.code)):
            concept = comp.valueCodeableConcept
            if concept is not None:
                gene = concept.text or next((c.display for c in concept.coding or () if c.display), None)
            gene = gene or comp.valueString
    if not gene:
        add(
            Finding(
                res.file,
                res.key,
                "invalid",
                f"genotype without a gene (component {mapping.genotypes.gene_component} with the gene symbol)",
            )
        )
        return
    text = m.valueString
    value = m.valueCodeableConcept
    if not text and value is not None:
        text = value.text or next((c.code or c.display for c in value.coding or () if c.code or c.display), None)
    if not text:
        add(Finding(res.file, res.key, "invalid", f"{gene} genotype without a value"))
        return
    if gene not in supported_genes():
        add(Finding(res.file, res.key, "unknown-code", f"gene {gene!r} has no CPIC table here", "skipped"))
        return
    diplotype = normalise_diplotype(gene, text)
    try:
        parse_diplotype(gene, diplotype, where=res.key)
    except GenotypeError as err:
        add(Finding(res.file, res.key, "invalid", str(err)))
        return
    if gene in rec.genotypes and rec.genotypes[gene][0] != diplotype:
        add(
            Finding(
                res.file,
                res.key,
                "conflict",
                f"{gene} {diplotype} disagrees with {rec.genotypes[gene][0]} ({rec.genotypes[gene][1]})",
            )
        )
        return
    rec.genotypes[gene] = (diplotype, res.key)


def _check_conflicts(items: list[Measurement], records: FhirRecords) -> None:
    """Two results of one quantity at one time must agree; identical repeats are listed as skipped."""
    by_key: dict[tuple[str, Any], Measurement] = {}
    keep = []
    for meas in items:
        key = (meas.name, meas.time)
        other = by_key.get(key)
        if other is None:
            by_key[key] = meas
            keep.append(meas)
            continue
        if math.isclose(other.value, meas.value, rel_tol=1e-9, abs_tol=0.0):
            records.findings.append(
                Finding(
                    meas.file,
                    meas.resource,
                    "duplicate",
                    f"same {meas.name} at the same time as {other.resource}",
                    "skipped",
                )
            )
        else:
            records.findings.append(
                Finding(
                    meas.file,
                    meas.resource,
                    "conflict",
                    f"{meas.name} = {meas.value:g} {meas.unit} at {meas.time} disagrees with "
                    f"{other.value:g} {other.unit} ({other.resource})",
                )
            )
    items[:] = keep
