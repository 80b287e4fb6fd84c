"""Dosing regimens as data.

A :class:`Regimen` is a tuple of :class:`Dose` records, each possibly repeated.
Three ways in: Python objects, a NONMEM-like table (:meth:`Regimen.from_table`)
and a compact text form (:meth:`Regimen.parse`, grammar in
``qsp_sbml._regimen_text``).  :class:`Dose` and :class:`Route` are defined in ``qsp_sbml._dose``, below
both readers, and exported here.  A regimen expands into concrete administrations
(:meth:`Regimen.administrations`), which the simulator applies as a timeline and
:func:`qsp_sbml.simulate.sbml_inputs.add_dosing_events` writes as SBML events.

Examples
--------
>>> reg = Regimen.parse("100 mg po q12h x 3 to A_gut")
>>> [(a.time, a.amount, a.target) for a in reg.administrations()]
[(0.0, 100.0, 'A_gut'), (12.0, 100.0, 'A_gut'), (24.0, 100.0, 'A_gut')]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qsp_sbml import C
from qsp_sbml._dose import ROUTE_ALIASES, Dose, Route, as_route, pydantic_message  # noqa: F401 -- ROUTE_ALIASES: re-exported
from qsp_sbml._regimen_text import format_regimen_text, parse_regimen_text
from qsp_sbml.errors import RegimenError, UnitError

__all__ = ["Administration", "Dose", "Regimen", "Route"]


@dataclass(frozen=True)
class Administration:
    """One concrete administration, in the regimen's units (see :meth:`Regimen.administrations`)."""

    #: Time of administration.
    time: float
    #: Amount given.
    amount: float
    #: Amount unit, None for model units.
    unit: str | None
    #: Time unit, None for model units.
    time_unit: str | None
    #: Route.
    route: Route
    #: Target id, None for the model's default.
    target: str | None
    #: Infusion duration (0 for a bolus or a depot dose).
    duration: float
    #: Index of the :class:`Dose` it came from.
    dose_index: int


class Regimen(BaseModel):
    """A dosing regimen: an ordered tuple of :class:`Dose` records."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The doses.
    doses: tuple[Dose, ...] = ()
    #: Molecular weight (g/mol) used to convert mass to moles and back.
    molecular_weight: float | None = Field(default=None, gt=0)

    def __add__(self, other: Regimen) -> Regimen:
        """Concatenate two regimens."""
        mw = self.molecular_weight or other.molecular_weight
        return Regimen(doses=self.doses + other.doses, molecular_weight=mw)

    @classmethod
    def of(cls, *doses: Dose, molecular_weight: float | None = None) -> Regimen:
        """Build a regimen from doses."""
        return cls(doses=tuple(doses), molecular_weight=molecular_weight)

    @classmethod
    def parse(
        cls,
        text: str,
        *,
        target: str | None = None,
        targets: Mapping[str, str] | None = None,
        molecular_weight: float | None = None,
    ) -> Regimen:
        """Parse the compact text form, e.g. ``"400 mg sc at 0,2,4 wk then q4wk"``.

        ``target`` applies to every dose without a ``to <id>`` clause; ``targets``
        maps route names (``po``, ``iv``, ``sc``...) to ids.  The grammar is
        documented in ``qsp_sbml._regimen_text``.
        """
        doses = parse_regimen_text(text)
        route_targets = {as_route(k): v for k, v in (targets or {}).items()}
        resolved = []
        for dose in doses:
            if dose.target is None:
                chosen = route_targets.get(dose.route, target)
                if chosen is not None:
                    dose = dose.model_copy(update={"target": chosen})
            resolved.append(dose)
        return cls(doses=tuple(resolved), molecular_weight=molecular_weight)

    @classmethod
    def from_table(
        cls,
        table: pd.DataFrame | str | Path,
        *,
        time_unit: str | None = None,
        unit: str | None = None,
        molecular_weight: float | None = None,
    ) -> Regimen:
        """Read a NONMEM-like dosing table (TSV/CSV file or DataFrame).

        Columns (case-insensitive): ``time``, ``amt``, ``target`` or ``cmt``, and
        optionally ``rate``, ``dur``, ``ii``, ``addl``, ``unit``, ``route``.
        ``addl`` is the number of additional doses (NONMEM), so ``count = addl + 1``.
        A positive ``rate`` or ``dur`` makes an IV infusion.  Errors name the row
        (1-based data row) and column.
        """
        source = "table"
        if isinstance(table, (str, Path)):
            path = Path(table)
            source = str(path)
            if not path.exists():
                raise RegimenError(f"dosing table {path} does not exist")
            sep = "," if path.suffix.lower() == ".csv" else "\t"
            try:
                table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
            except (pd.errors.ParserError, UnicodeDecodeError) as err:
                raise RegimenError(f"cannot read dosing table {path}: {err}") from err
        df = table.rename(columns=lambda c: str(c).strip().lower())
        missing = [c for c in (C.TIME, C.AMT) if c not in df.columns]
        if C.TARGET not in df.columns and C.CMT not in df.columns:
            missing.append(f"{C.TARGET} (or {C.CMT})")
        if missing:
            raise RegimenError(f"{source}: missing required column(s): {', '.join(missing)}")
        unknown = [c for c in df.columns if c not in C.DOSING_COLUMNS]
        if unknown:
            raise RegimenError(
                f"{source}: unknown column(s) {unknown}; allowed: {', '.join(C.DOSING_COLUMNS)}"
            )
        doses = []
        for k, row in enumerate(df.to_dict("records"), start=1):
            doses.append(_dose_from_row({str(c): v for c, v in row.items()}, k, source, time_unit=time_unit, unit=unit))
        return cls(doses=tuple(doses), molecular_weight=molecular_weight)

    def to_text(self) -> str:
        """The compact text form; :meth:`parse` reads it back to the same doses.

        Examples
        --------
        >>> Regimen.parse("500 mg iv over 30 min q8h x 3 to A").to_text()
        '500 mg infusion over 0.5 h every 8 h x 3 from 0 h to A'
        """
        return format_regimen_text(self.doses)

    def to_table(self) -> pd.DataFrame:
        """The regimen as a NONMEM-like table (inverse of :meth:`from_table`)."""
        rows = []
        for dose in self.doses:
            if dose.count is None:
                raise RegimenError("an open-ended dose cannot be written as a table row")
            rows.append(
                {
                    C.TIME: dose.time,
                    C.AMT: dose.amount,
                    C.UNIT: dose.unit or "",
                    C.TARGET: dose.target or "",
                    C.ROUTE: dose.route.value,
                    C.RATE: dose.rate if dose.rate is not None else 0.0,
                    C.DUR: dose.duration if dose.duration is not None else 0.0,
                    C.II: dose.interval or 0.0,
                    C.ADDL: dose.count - 1,
                }
            )
        return pd.DataFrame(rows, columns=[C.TIME, C.AMT, C.UNIT, C.TARGET, C.ROUTE, C.RATE, C.DUR, C.II, C.ADDL])

    def administrations(self, end: float | None = None) -> list[Administration]:
        """All administrations sorted by time (stable), in each dose's own units.

        ``end`` (in the doses' time units) bounds open-ended repeats.
        """
        out = []
        for index, dose in enumerate(self.doses):
            duration = dose.infusion_duration or 0.0
            for t in dose.times(end):
                out.append(
                    Administration(
                        time=t,
                        amount=dose.amount,
                        unit=dose.unit,
                        time_unit=dose.time_unit,
                        route=dose.route,
                        target=dose.target,
                        duration=duration,
                        dose_index=index,
                    )
                )
        out.sort(key=lambda a: a.time)
        return out

    def with_targets(self, targets: Mapping[str | Route, str]) -> Regimen:
        """Fill missing targets from a route -> id mapping."""
        by_route = {as_route(k): v for k, v in targets.items()}
        doses = tuple(
            d if d.target is not None or d.route not in by_route
            else d.model_copy(update={"target": by_route[d.route]})
            for d in self.doses
        )
        return self.model_copy(update={"doses": doses})


def _number(value: Any, *, row: int, column: str, source: str, default: float | None = None) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() in ("", ".")):
        return default
    if isinstance(value, float) and math.isnan(value):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RegimenError(f"{value!r} is not a number", where=f"{source} row {row}, column {column}") from None
    if not math.isfinite(number):
        raise RegimenError(f"{value!r} is not a finite number", where=f"{source} row {row}, column {column}")
    return number


def _dose_from_row(
    row: Mapping[str, Any], k: int, source: str, *, time_unit: str | None, unit: str | None
) -> Dose:
    where = f"{source} row {k}"
    time = _number(row.get(C.TIME), row=k, column=C.TIME, source=source)
    amount = _number(row.get(C.AMT), row=k, column=C.AMT, source=source)
    if time is None:
        raise RegimenError("time is empty", where=f"{where}, column {C.TIME}")
    if amount is None:
        raise RegimenError("amt is empty", where=f"{where}, column {C.AMT}")
    target = str(row.get(C.TARGET) or row.get(C.CMT) or "").strip() or None
    if target is None:
        raise RegimenError("target is empty", where=f"{where}, column {C.TARGET}")
    rate = _number(row.get(C.RATE), row=k, column=C.RATE, source=source, default=0.0) or 0.0
    dur = _number(row.get(C.DUR), row=k, column=C.DUR, source=source, default=0.0) or 0.0
    ii = _number(row.get(C.II), row=k, column=C.II, source=source, default=0.0) or 0.0
    addl = _number(row.get(C.ADDL), row=k, column=C.ADDL, source=source, default=0.0) or 0.0
    if addl < 0 or addl != int(addl):
        raise RegimenError(f"addl must be a whole number >= 0, got {addl!r}", where=f"{where}, column {C.ADDL}")
    if addl > 0 and ii <= 0:
        raise RegimenError("addl > 0 needs ii > 0", where=f"{where}, column {C.II}")
    route_text = str(row.get(C.ROUTE) or "").strip()
    infusion = rate > 0 or dur > 0
    try:
        route = as_route(route_text) if route_text else (Route.IV_INFUSION if infusion else Route.IV_BOLUS)
    except ValueError as err:
        raise RegimenError(str(err), where=f"{where}, column {C.ROUTE}") from None
    if infusion and route is Route.IV_BOLUS:
        route = Route.IV_INFUSION
    row_unit = str(row.get(C.UNIT) or "").strip() or unit
    fields: dict[str, Any] = {
        "amount": amount,
        "unit": row_unit,
        "time": time,
        "time_unit": time_unit,
        "route": route,
        "target": target,
        "interval": ii if ii > 0 else None,
        "count": int(addl) + 1,
    }
    if route.is_infusion:
        if dur > 0:
            fields["duration"] = dur
        else:
            fields["rate"] = rate if rate > 0 else None
    try:
        return Dose(**fields)
    except ValidationError as err:
        fields_hit = [str(e["loc"][0]) for e in err.errors() if e["loc"]]
        columns = [_FIELD_COLUMN.get(f, f) for f in fields_hit]
        at = f"{where}, column {columns[0]}" if columns else where
        raw = row.get(columns[0]) if columns else None
        got = f" (got {raw!r})" if raw not in (None, "") else ""
        raise RegimenError(pydantic_message(err) + got, where=at) from None
    except UnitError as err:
        raise RegimenError(pydantic_message(err), where=f"{where}, column {C.UNIT}") from None


#: Dose field -> dosing-table column, so that errors name the column the user wrote.
_FIELD_COLUMN = {"amount": C.AMT, "time": C.TIME, "interval": C.II, "count": C.ADDL, "duration": C.DUR,
                 "rate": C.RATE, "unit": C.UNIT, "target": C.TARGET, "route": C.ROUTE, "time_unit": C.TIME}


def as_regimen(value: Regimen | Dose | Iterable[Dose] | str | None) -> Regimen | None:
    """Accept a regimen, a dose, doses or regimen text."""
    if value is None or isinstance(value, Regimen):
        return value
    if isinstance(value, Dose):
        return Regimen.of(value)
    if isinstance(value, str):
        return Regimen.parse(value)
    return Regimen(doses=tuple(value))


__all__ += ["as_regimen", "as_route"]
