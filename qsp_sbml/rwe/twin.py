"""One patient's observations and dosing history from FHIR, for the N-of-1 twin.

:func:`twin_data` gives what :mod:`qsp_sbml.trial.n_of_1` reads from files: the observations as
``time_h, output, value`` (the mapping's ``observables``, in the mapping's units) and the dosing history
as a :class:`~qsp_sbml.dosing.Regimen` (text form for the design's ``history``).  Times are hours after
``t0``: the first dose unless given.  Observations before ``t0`` are listed as skipped (the twin's
history starts at the first dose), never moved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qsp_sbml._io import atomic_write_text
from qsp_sbml.dosing import Regimen
from qsp_sbml.errors import FhirError
from qsp_sbml.rwe.mapping import FhirMapping
from qsp_sbml.rwe.medications import extract_doses, regimen_from_events
from qsp_sbml.rwe.patients import extract_patients
from qsp_sbml.rwe.records import FhirRecords, Finding

__all__ = ["DESIGN_SOURCE_KEYS", "TwinData", "design_source", "twin_data"]

#: Keys of an N-of-1 design's ``patient: {fhir: ...}`` block.
DESIGN_SOURCE_KEYS = ("fhir", "mapping", "id", "t0")


@dataclass
class TwinData:
    """One patient's observations and dosing history, times in hours after ``t0``."""

    #: Patient id.
    patient: str
    #: Time origin (UTC).
    t0: dt.datetime
    #: ``time_h, output, value, resource`` sorted by time then output.
    observations: pd.DataFrame
    #: The doses given.
    regimen: Regimen
    #: Resources not used, with the reason.
    skipped: list[Finding] = field(default_factory=list)

    def write(self, directory: str | Path) -> tuple[Path, Path]:
        """Write ``patient.csv`` (``time_h, output, value``) and ``history.txt`` (regimen text)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        header = f"# patient {self.patient}; time 0 = {self.t0.isoformat()}; source: FHIR\n"
        csv = self.observations[["time_h", "output", "value"]].to_csv(index=False, float_format="%.17g")
        patient = atomic_write_text(out / "patient.csv", header + csv)
        history = atomic_write_text(out / "history.txt", self.regimen.to_text() + "\n")
        return patient, history


def twin_data(
    records: FhirRecords, mapping: FhirMapping, *, patient: str | None = None, t0: dt.datetime | None = None
) -> TwinData:
    """Observations and dosing history of ``patient`` (the only patient when None).

    Raises
    ------
    FhirError
        Error findings, an unknown or ambiguous patient, no doses, or no observations after ``t0``.
    """
    if not mapping.observables or not mapping.medications:
        raise FhirError("a twin needs a mapping with observables (what was measured) and medications (what was given)")
    patients = extract_patients(records, mapping)
    doses = extract_doses(records, mapping)
    records.raise_if_errors()
    if patient is None:
        if len(patients) != 1:
            raise FhirError(
                f"the input has {len(patients)} patients ({', '.join(sorted(patients)[:10])}); choose one with patient="
            )
        patient = next(iter(patients))
    if patient not in patients:
        raise FhirError(f"no Patient/{patient} in the input (patients: {', '.join(sorted(patients)[:10])})")
    events = doses.get(patient, [])
    if not events:
        raise FhirError(f"Patient/{patient}: no doses of a mapped medication in the input")
    origin = t0 or events[0].start
    skipped = list(records.skipped())
    rows = []
    for m in patients[patient].observables:
        if not isinstance(m.time, dt.datetime):
            raise FhirError(
                f"{m.file}: {m.resource}: {m.name} has a date without a time of day; a twin needs the "
                "time of each observation"
            )
        time_h = (m.time - origin).total_seconds() / 3600.0
        if time_h < 0:
            skipped.append(
                Finding(
                    m.file,
                    m.resource,
                    "before-t0",
                    f"{m.name} measured before the time origin {origin.isoformat()}",
                    "skipped",
                )
            )
            continue
        rows.append({"time_h": time_h, "output": m.name, "value": m.value, "resource": m.resource})
    if not rows:
        raise FhirError(
            f"Patient/{patient}: no observations of {', '.join(mapping.observables)} after {origin.isoformat()}"
        )
    obs = pd.DataFrame(rows).sort_values(["time_h", "output"], kind="stable").reset_index(drop=True)
    regimen = regimen_from_events(events, t0=origin, mapping=mapping)
    return TwinData(patient=patient, t0=origin, observations=obs, regimen=regimen, skipped=skipped)


def design_source(spec: object, base: Path) -> TwinData:
    """The twin data named by an N-of-1 design's ``patient: {fhir: ..., mapping: ..., id: ...}`` block.

    ``fhir`` is a Bundle file, a folder of bundles or an NDJSON file and ``mapping`` a mapping file, both
    relative to the design's folder ``base``; ``id`` chooses the patient when the record holds several and
    ``t0`` (ISO date-time with zone) sets the time origin (default: the first dose).

    Raises
    ------
    FhirError
        A malformed block, or any finding of the record (all listed).
    """
    from collections.abc import Mapping

    if not isinstance(spec, Mapping):
        raise FhirError("patient: must be a file path or a mapping {fhir: RECORD, mapping: MAPPING.yaml}")
    unknown = sorted(set(map(str, spec)) - set(DESIGN_SOURCE_KEYS))
    if unknown:
        raise FhirError(f"patient.{unknown[0]}: unknown field (use fhir, mapping, id, t0)")
    paths = {}
    for key in ("fhir", "mapping"):
        value = spec.get(key)
        if not isinstance(value, str) or not value:
            raise FhirError(f"patient.{key}: must be a path relative to the design file")
        paths[key] = (base / value).resolve()
    t0 = None
    if spec.get("t0") is not None:
        try:
            t0 = dt.datetime.fromisoformat(str(spec["t0"]))
        except ValueError:
            raise FhirError(f"patient.t0: {spec['t0']!r} is not an ISO date-time") from None
        if t0.tzinfo is None:
            raise FhirError("patient.t0: give a time zone (e.g. 2024-03-04T08:00:00+00:00)")
    from qsp_sbml.rwe.mapping import read_mapping
    from qsp_sbml.rwe.records import read_fhir

    pid = spec.get("id")
    return twin_data(
        read_fhir(paths["fhir"]), read_mapping(paths["mapping"]), patient=None if pid is None else str(pid), t0=t0
    )
