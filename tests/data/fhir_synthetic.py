"""SYNTHETIC FHIR R4 resources for tests and the tutorial -- no real patient data.

Every name, date and value here was made up for testing.  The codes are real (LOINC, SNOMED CT routes,
UCUM units) so that the records look like a hospital's; the medication code system
``http://example.org/synthetic-drugs`` is a made-up one, so that no drug code is asserted here.

``python -m tests.data.fhir_synthetic OUT.json`` writes the tutorial's one-patient theophylline record.
"""

from __future__ import annotations

import json
import sys
from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
DRUGS = "http://example.org/synthetic-drugs"
ORAL, IV = "26643006", "47625008"


def patient(pid: str, *, birth: str | None = "1970-05-02", gender: str | None = "female") -> dict[str, Any]:
    """A Patient."""
    res: dict[str, Any] = {"resourceType": "Patient", "id": pid, "name": [{"family": "Synthetic", "given": [pid]}]}
    if birth is not None:
        res["birthDate"] = birth
    if gender is not None:
        res["gender"] = gender
    return res


def observation(
    oid: str,
    pid: str,
    code: str,
    value: float | None,
    unit: str | None,
    when: str,
    *,
    system: str = LOINC,
    status: str = "final",
    ucum: bool = True,
) -> dict[str, Any]:
    """A quantitative Observation."""
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
    }
    if value is not None:
        q: dict[str, Any] = {"value": value}
        if unit is not None:
            q.update({"unit": unit, "system": UCUM, "code": unit} if ucum else {"unit": unit})
        res["valueQuantity"] = q
    return res


def genotype(oid: str, pid: str, gene: str, diplotype: str, when: str = "2019-04-01") -> dict[str, Any]:
    """A genotype Observation (HL7 Genomics Reporting IG 'genotype' profile shape)."""
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "84413-4", "display": "Genotype display name"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueCodeableConcept": {"text": diplotype},
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "48018-6"}]},
                "valueCodeableConcept": {"coding": [{"system": "http://www.genenames.org/geneId", "display": gene}]},
            }
        ],
    }


def administration(
    aid: str,
    pid: str,
    when: str | None,
    dose_mg: float | None,
    *,
    route: str | None = ORAL,
    drug: str = "theophylline",
    status: str = "completed",
    unit: str | None = "mg",
    rate_mg_h: float | None = None,
) -> dict[str, Any]:
    """A MedicationAdministration."""
    dosage: dict[str, Any] = {}
    if dose_mg is not None:
        dosage["dose"] = {"value": dose_mg, **({"unit": unit, "system": UCUM, "code": unit} if unit else {})}
    if route is not None:
        dosage["route"] = {"coding": [{"system": SNOMED, "code": route}]}
    if rate_mg_h is not None:
        dosage["rateQuantity"] = {"value": rate_mg_h, "unit": "mg/h", "system": UCUM, "code": "mg/h"}
    res: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": aid,
        "status": status,
        "medicationCodeableConcept": {"coding": [{"system": DRUGS, "code": drug}]},
        "subject": {"reference": f"Patient/{pid}"},
        "dosage": dosage,
    }
    if when is not None:
        res["effectiveDateTime"] = when
    return res


def request(
    rid: str, pid: str, start: str, end: str, dose_mg: float, *, every_h: float, drug: str = "theophylline"
) -> dict[str, Any]:
    """A MedicationRequest: ``dose_mg`` orally every ``every_h`` hours from ``start`` until ``end``."""
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": DRUGS, "code": drug}]},
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": start,
        "dosageInstruction": [
            {
                "route": {"coding": [{"system": SNOMED, "code": ORAL}]},
                "timing": {
                    "repeat": {
                        "boundsPeriod": {"start": start, "end": end},
                        "frequency": 1,
                        "period": every_h,
                        "periodUnit": "h",
                    }
                },
                "doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg", "system": UCUM, "code": "mg"}}],
            }
        ],
    }


def bundle(*resources: dict[str, Any], bid: str = "synthetic") -> dict[str, Any]:
    """A collection Bundle; entries carry ``urn:uuid`` fullUrls like bulk tools write."""
    return {
        "resourceType": "Bundle",
        "id": bid,
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{r['resourceType'].lower()}-{r['id']}", "resource": r} for r in resources],
    }


#: The tutorial patient: 320 mg oral theophylline q12h x 4, levels (LOINC 4049-3, ug/mL) over two days.
THEO_DOSES = [
    ("2024-03-04T08:00:00Z", 320.0),
    ("2024-03-04T20:00:00Z", 320.0),
    ("2024-03-05T08:00:00Z", 320.0),
    ("2024-03-05T20:00:00Z", 320.0),
]
THEO_LEVELS = [
    ("2024-03-04T07:30:00Z", 0.0),
    ("2024-03-04T10:00:00Z", 7.9),
    ("2024-03-04T19:30:00Z", 5.1),
    ("2024-03-05T09:30:00Z", 11.6),
    ("2024-03-05T19:45:00Z", 7.4),
    ("2024-03-06T08:00:00Z", 7.9),
]


def theophylline_patient(pid: str = "theo-1") -> dict[str, Any]:
    """The tutorial's record (synthetic): demographics, weight, height, creatinine, doses and theophylline levels."""
    res = [
        patient(pid, birth="1961-09-14", gender="male"),
        observation(f"{pid}-wt", pid, "29463-7", 71.5, "kg", "2024-03-04T07:00:00Z"),
        observation(f"{pid}-ht", pid, "8302-2", 176.0, "cm", "2024-03-04T07:00:00Z"),
        observation(f"{pid}-scr", pid, "2160-0", 0.94, "mg/dL", "2024-03-04T07:15:00Z"),
    ]
    res += [administration(f"{pid}-dose-{k}", pid, when, mg) for k, (when, mg) in enumerate(THEO_DOSES)]
    res += [observation(f"{pid}-level-{k}", pid, "4049-3", v, "ug/mL", when) for k, (when, v) in enumerate(THEO_LEVELS)]
    return bundle(*res, bid=f"synthetic-{pid}")


if __name__ == "__main__":
    with open(sys.argv[1], "w", encoding="utf-8") as fh:
        json.dump(theophylline_patient(), fh, indent=1)
        fh.write("\n")
