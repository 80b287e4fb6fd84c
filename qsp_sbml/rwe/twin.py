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

__all__ = ["TwinData", "twin_data"]


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
