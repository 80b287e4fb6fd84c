"""Dosing history from FHIR: MedicationAdministration, MedicationStatement, MedicationRequest -> :class:`Regimen`.

Which resource types count is the mapping's ``medication_sources`` (default: MedicationAdministration only,
the record of what was given; statements and requests are what a patient reports or a prescriber ordered).

* **MedicationAdministration** (status ``completed`` or ``in-progress``): one administration at
  ``effectiveDateTime`` (or ``effectivePeriod.start``) of ``dosage.dose``; an intravenous dose with
  ``dosage.rateQuantity`` or an ``effectivePeriod`` with an end is an infusion (rate, or end - start).
* **MedicationStatement** / **MedicationRequest** (status ``active`` or ``completed``): each ``Dosage``
  (``dosage`` / ``dosageInstruction``) with ``doseAndRate.doseQuantity`` and a ``timing``: explicit
  ``timing.event`` times, or ``timing.repeat`` with ``frequency`` per ``period`` ``periodUnit``
  (s, min, h, d, wk) from ``boundsPeriod.start`` (a statement may take ``effective[x]``) for ``count`` doses,
  or the doses strictly before ``boundsPeriod.end`` / after ``boundsDuration`` (a course of 7 d twice daily is
  14 doses).  An infusion takes ``rateQuantity`` or ``timing.repeat.duration``.

A dose without an amount or a time, a unit that is not an amount, a route that is not coded (SNOMED CT
route codes) and has no default in the mapping, and timing elements that would need a guess (``timeOfDay``,
``dayOfWeek``, ``when``, ``asNeeded``, months or years as period units, ranges) are errors naming the
resource; two administrations of one drug at one time that disagree are a conflict.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from qsp_sbml.dosing import Dose, Regimen, Route, as_route
from qsp_sbml.errors import RegimenError, UnitError
from qsp_sbml.rwe.mapping import SNOMED, SNOMED_ROUTES, FhirMapping
from qsp_sbml.rwe.patients import to_datetime
from qsp_sbml.rwe.quantities import unit_of
from qsp_sbml.rwe.records import FhirRecords, Finding, Resource
from qsp_sbml.units import TIME_UNITS, parse_amount_unit, split_rate_unit

__all__ = ["DoseEvent", "extract_doses", "regimen_from_events"]

_STATUS = {
    "MedicationAdministration": ("completed", "in-progress"),
    "MedicationStatement": ("active", "completed"),
    "MedicationRequest": ("active", "completed"),
}
_UNSUPPORTED_REPEAT = (
    "timeOfDay",
    "dayOfWeek",
    "when",
    "frequencyMax",
    "periodMax",
    "countMax",
    "offset",
    "boundsRange",
    "durationMax",
)
_IV = {Route.IV_BOLUS, Route.IV_INFUSION}  # an "iv" target receives boluses and infusions
_PERIOD_UNITS = {"s": "s", "min": "min", "h": "h", "d": "d", "wk": "wk"}


class _Skip(Exception):
    """A resource is not used (carries the finding)."""

    def __init__(self, finding: Finding) -> None:
        self.finding = finding


@dataclass(frozen=True)
class DoseEvent:
    """Doses of one drug from one resource: the first at ``start``, ``count`` of them ``interval_h`` apart."""

    #: Patient id.
    patient: str
    #: Drug name (the mapping's key).
    drug: str
    #: ``Type/id`` of the resource.
    resource: str
    #: File it came from.
    file: str
    #: Time of the first dose (UTC-aware).
    start: dt.datetime
    #: Amount per dose.
    amount: float
    #: Amount unit (``mg``, ``umol``...).
    unit: str
    #: Route.
    route: Route
    #: Infusion duration in hours (None for a bolus or an extravascular dose).
    duration_h: float | None = None
    #: Hours between doses (None for a single dose).
    interval_h: float | None = None
    #: Number of doses.
    count: int = 1


def extract_doses(records: FhirRecords, mapping: FhirMapping) -> dict[str, list[DoseEvent]]:
    """Dose events by patient id, sorted by time; findings are added to ``records``."""
    out: dict[str, list[DoseEvent]] = {}
    for res in records.resources:
        if res.type not in _STATUS:
            continue
        if res.type not in mapping.medication_sources:
            records.findings.append(
                Finding(
                    res.file,
                    res.key,
                    "not-used",
                    f"{res.type} is not a medication source of the mapping ({', '.join(mapping.medication_sources)})",
                    "skipped",
                )
            )
            continue
        try:
            events = _events(res, records, mapping)
        except _Skip as skip:
            records.findings.append(skip.finding)
            continue
        for event in events:
            out.setdefault(event.patient, []).append(event)
    for pid, events in out.items():
        events.sort(key=lambda e: (e.start, e.resource))
        out[pid] = _deduplicate(events, records)
    return out


def _error(res: Resource, kind: str, message: str) -> _Skip:
    return _Skip(Finding(res.file, res.key, kind, message))


def _drug(res: Resource, records: FhirRecords, mapping: FhirMapping) -> str:
    m = res.model
    concept = m.medicationCodeableConcept
    if concept is None and m.medicationReference is not None:
        med = records.resolve(m.medicationReference.reference, contained_in=res)
        if med is None or med.type != "Medication":
            raise _error(
                res,
                "invalid",
                f"medicationReference {m.medicationReference.reference!r} is not a Medication in the input",
            )
        concept = med.model.code
    codes = [(c.system, c.code) for c in (concept.coding or ())] if concept is not None else []
    drugs = {d for s, c in codes if (d := mapping.medication_for(s, c))}
    if not drugs:
        shown = ", ".join(f"{s}|{c}" for s, c in codes) or "no coding"
        raise _Skip(Finding(res.file, res.key, "unknown-code", f"medication {shown} is not in the mapping", "skipped"))
    if len(drugs) > 1:
        raise _error(res, "conflict", f"its medication codes map to more than one drug: {sorted(drugs)}")
    return drugs.pop()


def _patient(res: Resource, records: FhirRecords) -> str:
    ref = res.model.subject.reference if res.model.subject is not None else None
    target = records.resolve(ref)
    if target is None or target.type != "Patient":
        raise _error(res, "invalid", f"subject {ref!r} is not a Patient in the input")
    return target.id


def _when(res: Resource, value: Any, what: str) -> dt.datetime:
    when = to_datetime(value)
    if when is None:
        raise _error(res, "no-time", f"no {what}")
    if not isinstance(when, dt.datetime):
        raise _error(res, "no-time", f"{what} {when} has no time of day; a dose needs one")
    return when


def _route(res: Resource, concept: Any, drug: str, mapping: FhirMapping) -> Route:
    if concept is not None:
        for c in concept.coding or ():
            if c.system == SNOMED and c.code in SNOMED_ROUTES:
                return SNOMED_ROUTES[c.code]
        shown = ", ".join(f"{c.system}|{c.code}" for c in concept.coding or ()) or concept.text
        raise _error(
            res,
            "unsupported",
            f"route {shown} is not a SNOMED CT route qsp-sbml maps "
            f"({', '.join(f'{k} {v.value}' for k, v in SNOMED_ROUTES.items())})",
        )
    default = mapping.medications[drug].default_route
    if default is None:
        raise _error(res, "invalid", f"no route, and the mapping gives no default_route for {drug}")
    return as_route(default)


def _amount(res: Resource, q: Any, what: str) -> tuple[float, str]:
    if q is None or q.value is None:
        raise _error(res, "no-dose", f"no {what}")
    unit = unit_of(q)
    if not unit:
        raise _error(res, "missing-unit", f"{what} {q.value} has no unit")
    try:
        parse_amount_unit(unit)
    except UnitError as err:
        raise _error(res, "unit", f"{what}: {err}") from None
    value = float(q.value)
    if not math.isfinite(value) or value <= 0:
        raise _error(res, "impossible-value", f"{what} {q.value} {unit} must be > 0")
    return value, unit


def _rate_duration(res: Resource, amount: float, unit: str, rate: Any) -> float:
    """Infusion duration (h) from an amount and a rate Quantity (``mg/h``)."""
    rate_unit = unit_of(rate)
    if rate.value is None or not rate_unit:
        raise _error(res, "missing-unit", "rateQuantity needs a value and a unit such as mg/h")
    try:
        num, den = split_rate_unit(rate_unit)
        q_num, q_dose = parse_amount_unit(num), parse_amount_unit(unit)
        seconds = TIME_UNITS[den.lower()] if den.lower() in TIME_UNITS else None
    except UnitError as err:
        raise _error(res, "unit", f"rateQuantity: {err}") from None
    if seconds is None or q_num.kind != q_dose.kind or float(rate.value) <= 0:
        raise _error(res, "unit", f"rateQuantity {rate.value} {rate_unit} does not convert to {unit} per time")
    per_second = float(rate.value) * q_num.factor / seconds
    return amount * q_dose.factor / per_second / 3600.0


def _events(res: Resource, records: FhirRecords, mapping: FhirMapping) -> list[DoseEvent]:
    m = res.model
    if m.status not in _STATUS[res.type]:
        raise _Skip(
            Finding(
                res.file,
                res.key,
                "status",
                f"status {m.status!r} is not a dose given ({', '.join(_STATUS[res.type])})",
                "skipped",
            )
        )
    drug = _drug(res, records, mapping)
    patient = _patient(res, records)
    if res.type == "MedicationAdministration":
        return [_administration(res, patient, drug, mapping)]
    dosages = m.dosage if res.type == "MedicationStatement" else m.dosageInstruction
    if not dosages:
        raise _error(res, "no-dose", "no dosage")
    return [_dosage(res, d, patient, drug, mapping) for d in dosages]


def _administration(res: Resource, patient: str, drug: str, mapping: FhirMapping) -> DoseEvent:
    m = res.model
    if m.dosage is None:
        raise _error(res, "no-dose", "no dosage.dose")
    amount, unit = _amount(res, m.dosage.dose, "dosage.dose")
    period = m.effectivePeriod
    start = _when(
        res,
        m.effectiveDateTime if m.effectiveDateTime is not None else (period.start if period else None),
        "effectiveDateTime or effectivePeriod.start",
    )
    route = _route(res, m.dosage.route, drug, mapping)
    duration = None
    if m.dosage.rateRatio is not None:
        raise _error(res, "unsupported", "dosage.rateRatio is not read; give rateQuantity (amount per time)")
    if route in (Route.IV_BOLUS, Route.IV_INFUSION):
        if m.dosage.rateQuantity is not None:
            duration = _rate_duration(res, amount, unit, m.dosage.rateQuantity)
        elif period is not None and period.end is not None:
            end = _when(res, period.end, "effectivePeriod.end")
            duration = (end - start).total_seconds() / 3600.0
            if duration <= 0:
                raise _error(res, "impossible-value", "effectivePeriod.end is not after its start")
    return DoseEvent(
        patient=patient,
        drug=drug,
        resource=res.key,
        file=res.file,
        start=start,
        amount=amount,
        unit=unit,
        route=Route.IV_INFUSION if duration else route,
        duration_h=duration,
    )


def _dosage(res: Resource, d: Any, patient: str, drug: str, mapping: FhirMapping) -> DoseEvent:
    if d.asNeededBoolean or d.asNeededCodeableConcept is not None:
        raise _error(res, "unsupported", "an as-needed dosage does not say when doses were taken")
    if not d.doseAndRate:
        raise _error(res, "no-dose", "no doseAndRate.doseQuantity")
    dr = d.doseAndRate[0]
    if dr.doseRange is not None or dr.rateRange is not None or dr.rateRatio is not None:
        raise _error(res, "unsupported", "a dose or rate range is not a dose; give doseQuantity / rateQuantity")
    amount, unit = _amount(res, dr.doseQuantity, "doseAndRate.doseQuantity")
    route = _route(res, d.route, drug, mapping)
    timing = d.timing
    if timing is None:
        raise _error(res, "no-time", "no timing")
    if timing.code is not None and timing.repeat is None:
        raise _error(res, "unsupported", "timing.code without timing.repeat is not read (give frequency and period)")
    rep = timing.repeat
    duration = None
    if dr.rateQuantity is not None:
        duration = _rate_duration(res, amount, unit, dr.rateQuantity)
    elif rep is not None and rep.duration is not None:
        if rep.durationUnit not in _PERIOD_UNITS:
            raise _error(res, "unsupported", f"timing.repeat.durationUnit {rep.durationUnit!r}")
        duration = float(rep.duration) * TIME_UNITS[_PERIOD_UNITS[rep.durationUnit]] / 3600.0
    if duration is not None and route not in (Route.IV_BOLUS, Route.IV_INFUSION):
        raise _error(res, "unsupported", f"an infusion rate or duration on route {route.value}")
    route = Route.IV_INFUSION if duration else route
    common: dict[str, Any] = {
        "patient": patient,
        "drug": drug,
        "resource": res.key,
        "file": res.file,
        "amount": amount,
        "unit": unit,
        "route": route,
        "duration_h": duration,
    }
    if timing.event and rep is None:
        times = sorted(_when(res, e, "timing.event") for e in timing.event)
        if len(times) == 1:
            return DoseEvent(start=times[0], **common)
        steps = {round((b - a).total_seconds(), 6) for a, b in zip(times, times[1:], strict=False)}
        if len(steps) != 1:
            raise _error(res, "unsupported", "timing.event times are not evenly spaced; record one resource per dose")
        return DoseEvent(start=times[0], interval_h=steps.pop() / 3600.0, count=len(times), **common)
    if rep is None:
        raise _error(res, "no-time", "timing has neither event nor repeat")
    for name in _UNSUPPORTED_REPEAT:
        if getattr(rep, name, None):
            raise _error(res, "unsupported", f"timing.repeat.{name} is not read (it would need a guess)")
    if rep.period is None or rep.periodUnit not in _PERIOD_UNITS:
        raise _error(
            res,
            "unsupported",
            f"timing.repeat needs period and periodUnit in {sorted(_PERIOD_UNITS)} (got {rep.period} {rep.periodUnit})",
        )
    interval_h = float(rep.period) * TIME_UNITS[_PERIOD_UNITS[rep.periodUnit]] / 3600.0 / float(rep.frequency or 1)
    bounds = rep.boundsPeriod
    start_value = bounds.start if bounds is not None else None
    if start_value is None and res.type == "MedicationStatement":
        m = res.model
        start_value = m.effectiveDateTime or (m.effectivePeriod.start if m.effectivePeriod else None)
    start = _when(res, start_value, "start (timing.repeat.boundsPeriod.start)")
    if rep.count is not None:
        count = int(rep.count)
    else:
        if bounds is not None and bounds.end is not None:
            span_h = (_when(res, bounds.end, "boundsPeriod.end") - start).total_seconds() / 3600.0
        elif rep.boundsDuration is not None and rep.boundsDuration.code in _PERIOD_UNITS:
            span_h = float(rep.boundsDuration.value) * TIME_UNITS[_PERIOD_UNITS[rep.boundsDuration.code]] / 3600.0
        else:
            raise _error(
                res,
                "unsupported",
                "an open-ended course: give timing.repeat.count, boundsPeriod.end or boundsDuration (s, min, h, d, wk)",
            )
        count = math.ceil(span_h / interval_h - 1e-9)
    if count < 1:
        raise _error(res, "impossible-value", "the course has no dose (count < 1 or end before start)")
    return DoseEvent(start=start, interval_h=interval_h if count > 1 else None, count=count, **common)


def _deduplicate(events: list[DoseEvent], records: FhirRecords) -> list[DoseEvent]:
    keep: list[DoseEvent] = []
    seen: dict[tuple[str, dt.datetime], DoseEvent] = {}
    for e in events:
        other = seen.get((e.drug, e.start))
        if other is None:
            seen[e.drug, e.start] = e
            keep.append(e)
        elif (other.amount, other.unit, other.route, other.duration_h, other.interval_h, other.count) == (
            e.amount,
            e.unit,
            e.route,
            e.duration_h,
            e.interval_h,
            e.count,
        ):
            records.findings.append(
                Finding(
                    e.file,
                    e.resource,
                    "duplicate",
                    f"same {e.drug} dose at the same time as {other.resource}",
                    "skipped",
                )
            )
        else:
            records.findings.append(
                Finding(
                    e.file,
                    e.resource,
                    "conflict",
                    f"{e.drug} {e.amount:g} {e.unit} at "
                    f"{e.start.isoformat()} disagrees with {other.amount:g} {other.unit} "
                    f"({other.resource})",
                )
            )
    return keep


def regimen_from_events(events: list[DoseEvent], *, t0: dt.datetime, mapping: FhirMapping) -> Regimen:
    """The events as a :class:`Regimen`, times in hours after ``t0``, targets from the mapping.

    Raises
    ------
    RegimenError
        A dose before ``t0``.
    """
    doses = []
    mw = None
    for e in events:
        med = mapping.medications[e.drug]
        mw = mw or med.molecular_weight
        time_h = (e.start - t0).total_seconds() / 3600.0
        if time_h < 0:
            raise RegimenError(
                f"{e.resource}: dose at {e.start.isoformat()} is before the time origin {t0.isoformat()}"
            )
        target = (
            next((v for k, v in med.targets.items() if as_route(k) is e.route), None)
            or next((v for k, v in med.targets.items() if _IV & {as_route(k), e.route} == {as_route(k), e.route}), None)
            or med.target
        )
        fields: dict[str, Any] = {
            "amount": e.amount,
            "unit": e.unit,
            "time": time_h,
            "time_unit": "h",
            "route": e.route,
            "target": target,
            "interval": e.interval_h,
            "count": e.count,
        }
        if e.duration_h:
            fields["duration"] = e.duration_h
        doses.append(Dose(**fields))
    return Regimen(doses=tuple(doses), molecular_weight=mw)
