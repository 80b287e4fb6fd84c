"""Units of doses and times, converted to the units the model declares.

The model's units are the truth: a dose given in ``mg`` goes into a species
whose substance unit is ``umol`` after conversion by the molecular weight, and a
``q12h`` interval becomes 0.5 in a model whose time unit is ``day``.  When the
model declares no unit for a quantity, values pass through unchanged with a
:class:`~qsp_sbml.errors.UnitWarning`.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass

import libsbml

from qsp_sbml.errors import UnitError, UnitWarning

__all__ = [
    "AMOUNT_UNITS",
    "TIME_UNITS",
    "Quantity",
    "amount_factor",
    "parse_amount_unit",
    "parse_time_unit",
    "sbml_unit",
    "time_factor",
]

#: Amount units: name -> (base kind, factor to the base).
AMOUNT_UNITS: dict[str, tuple[str, float]] = {
    "kg": ("gram", 1e3),
    "g": ("gram", 1.0),
    "mg": ("gram", 1e-3),
    "ug": ("gram", 1e-6),
    "µg": ("gram", 1e-6),
    "mcg": ("gram", 1e-6),
    "ng": ("gram", 1e-9),
    "pg": ("gram", 1e-12),
    "mol": ("mole", 1.0),
    "mmol": ("mole", 1e-3),
    "umol": ("mole", 1e-6),
    "µmol": ("mole", 1e-6),
    "nmol": ("mole", 1e-9),
    "pmol": ("mole", 1e-12),
}

#: Time units: name -> seconds.
TIME_UNITS: dict[str, float] = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
    "w": 604800.0,
    "wk": 604800.0,
    "week": 604800.0,
    "weeks": 604800.0,
}


@dataclass(frozen=True)
class Quantity:
    """A unit reduced to a base kind and a factor, e.g. mg -> ('gram', 1e-3)."""

    #: ``gram``, ``mole``, ``item``, ``second``, ``dimensionless`` or ``unknown``.
    kind: str
    #: Multiply a value in this unit by ``factor`` to get the base kind.
    factor: float
    #: The unit as written.
    name: str


def parse_amount_unit(unit: str) -> Quantity:
    """Parse an amount unit such as ``mg`` or ``umol``.

    Examples
    --------
    >>> parse_amount_unit("mg")
    Quantity(kind='gram', factor=0.001, name='mg')
    """
    key = unit.strip()
    if key not in AMOUNT_UNITS:
        key = key.lower()
    if key not in AMOUNT_UNITS:
        known = ", ".join(sorted(AMOUNT_UNITS))
        raise UnitError(f"unknown amount unit {unit!r}; use one of: {known}")
    kind, factor = AMOUNT_UNITS[key]
    return Quantity(kind, factor, unit)


def parse_time_unit(unit: str) -> Quantity:
    """Parse a time unit such as ``h`` or ``wk``.

    Examples
    --------
    >>> parse_time_unit("wk").factor
    604800.0
    """
    key = unit.strip().lower()
    if key not in TIME_UNITS:
        known = ", ".join(sorted(TIME_UNITS))
        raise UnitError(f"unknown time unit {unit!r}; use one of: {known}")
    return Quantity("second", TIME_UNITS[key], unit)


_BASE_KINDS = {
    libsbml.UNIT_KIND_GRAM: ("gram", 1.0),
    libsbml.UNIT_KIND_KILOGRAM: ("gram", 1e3),
    libsbml.UNIT_KIND_MOLE: ("mole", 1.0),
    libsbml.UNIT_KIND_ITEM: ("item", 1.0),
    libsbml.UNIT_KIND_SECOND: ("second", 1.0),
    libsbml.UNIT_KIND_DIMENSIONLESS: ("dimensionless", 1.0),
    libsbml.UNIT_KIND_LITRE: ("litre", 1.0),
}


def sbml_unit(model: libsbml.Model, unit_ref: str) -> Quantity:
    """Reduce an SBML unit reference (a base kind or a unit definition id).

    Returns kind ``unknown`` for an empty reference or a compound unit.
    """
    if not unit_ref:
        return Quantity("unknown", 1.0, "")
    kind_code = libsbml.UnitKind_forName(unit_ref)
    if kind_code != libsbml.UNIT_KIND_INVALID and model.getUnitDefinition(unit_ref) is None:
        if kind_code in _BASE_KINDS:
            kind, factor = _BASE_KINDS[kind_code]
            return Quantity(kind, factor, unit_ref)
        return Quantity("unknown", 1.0, unit_ref)
    definition = model.getUnitDefinition(unit_ref)
    if definition is None:
        return Quantity("unknown", 1.0, unit_ref)
    kinds = [definition.getUnit(i) for i in range(definition.getNumUnits())]
    dims = [u for u in kinds if u.getKind() != libsbml.UNIT_KIND_DIMENSIONLESS]
    factor = 1.0
    for u in kinds:
        factor *= (u.getMultiplier() * 10.0 ** u.getScale()) ** u.getExponentAsDouble()
    if len(dims) == 1 and dims[0].getExponentAsDouble() == 1 and dims[0].getKind() in _BASE_KINDS:
        kind, base = _BASE_KINDS[dims[0].getKind()]
        return Quantity(kind, factor * base, unit_ref)
    if not dims:
        return Quantity("dimensionless", factor, unit_ref)
    return Quantity("unknown", factor, unit_ref)


def amount_factor(
    given: str | None,
    model_unit: Quantity,
    *,
    molecular_weight: float | None = None,
    what: str = "dose",
) -> float:
    """Factor that converts an amount in ``given`` units to the model's unit.

    ``molecular_weight`` (g/mol) bridges mass and moles.  A missing unit on
    either side passes the value through: silently when ``given`` is ``None``
    (the user gave model units), with a :class:`UnitWarning` otherwise.

    Examples
    --------
    >>> umol = Quantity("mole", 1e-6, "umol")
    >>> round(amount_factor("mg", umol, molecular_weight=180.16), 4)
    5.5506
    """
    if given is None or given == "":
        return 1.0
    src = parse_amount_unit(given)
    if model_unit.kind == "unknown" or model_unit.kind == "dimensionless":
        warnings.warn(
            f"{what}: the model declares no amount unit here; the amount in {given!r} is "
            "used as it is, in model units",
            UnitWarning,
            stacklevel=3,
        )
        return 1.0
    value = src.factor
    if src.kind == model_unit.kind:
        return value / model_unit.factor
    if {src.kind, model_unit.kind} == {"gram", "mole"}:
        if molecular_weight is None or not math.isfinite(molecular_weight) or molecular_weight <= 0:
            raise UnitError(
                f"{what}: converting {given!r} to the model's {model_unit.name!r} needs a "
                "positive molecular_weight (g/mol)"
            )
        moles_or_grams = value / molecular_weight if src.kind == "gram" else value * molecular_weight
        return moles_or_grams / model_unit.factor
    raise UnitError(
        f"{what}: cannot convert {given!r} ({src.kind}) to the model's unit "
        f"{model_unit.name!r} ({model_unit.kind})"
    )


def time_factor(given: str | None, model_time: Quantity, *, what: str = "time") -> float:
    """Factor that converts a time in ``given`` units to the model's time unit.

    Examples
    --------
    >>> hour = Quantity("second", 3600.0, "hour")
    >>> time_factor("d", hour)
    24.0
    """
    if given is None or given == "":
        return 1.0
    src = parse_time_unit(given)
    if model_time.kind != "second":
        warnings.warn(
            f"{what}: the model declares no time unit; times in {given!r} are used as "
            "they are, in model units",
            UnitWarning,
            stacklevel=3,
        )
        return 1.0
    return src.factor / model_time.factor


_RATE = re.compile(r"^\s*([^/\s]+)\s*/\s*([^/\s]+)\s*$")


def split_rate_unit(unit: str) -> tuple[str, str]:
    """Split ``'mg/h'`` into ``('mg', 'h')``."""
    match = _RATE.match(unit)
    if not match:
        raise UnitError(f"rate unit {unit!r} must look like 'mg/h'")
    return match.group(1), match.group(2)
