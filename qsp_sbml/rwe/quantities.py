"""Units of FHIR Quantities (UCUM codes) converted to the units a mapping asks for.

Amounts (``mg``, ``umol``...) and times are read by :mod:`qsp_sbml.units`; this module adds what a
clinical record needs on top: body mass and length (with the customary pound and inch), volumes, and
concentrations as amount per volume (``mg/dL``, ``umol/L``), mass <-> moles through a molecular weight,
and catalytic activity per volume (``U/L``).  A unit that is not listed is an error, never guessed.

UCUM definitions used (The Unified Code for Units of Measure, ucum.org, table "customary units"):
``[lb_av]`` = 0.45359237 kg and ``[in_i]`` = 2.54 cm exactly (international pound and inch, 1959);
``[IU]`` and ``U`` are kept apart: an activity in ``[IU]/L`` is accepted for ``U/L`` only when the
mapping says so (``1 [IU] = 1 U`` holds for the enzyme assays of LOINC's aminotransferase codes, which
define the unit as micromole of substrate per minute).

Examples
--------
>>> round(convert(1.2, "mg/dL", "umol/L", molecular_weight=113.12), 3)
106.082
>>> round(convert(154.0, "[lb_av]", "kg"), 6)
69.853225
"""

from __future__ import annotations

import math
import re

from qsp_sbml.errors import UnitError
from qsp_sbml.units import AMOUNT_UNITS, amount_factor, parse_amount_unit

__all__ = ["UCUM", "convert", "dimension", "unit_of"]

#: The UCUM code system.
UCUM = "http://unitsofmeasure.org"

#: Body mass (base kg) beyond the amount units of qsp_sbml.units.
_MASS = {"[lb_av]": 0.45359237, "lb": 0.45359237, "[oz_av]": 0.028349523125}
#: Length, base cm.
_LENGTH = {"m": 100.0, "cm": 1.0, "mm": 0.1, "[in_i]": 2.54, "in": 2.54, "[ft_i]": 30.48}
#: Volume, base L.
_VOLUME = {"L": 1.0, "l": 1.0, "dL": 0.1, "dl": 0.1, "mL": 1e-3, "ml": 1e-3, "uL": 1e-6, "ul": 1e-6, "µL": 1e-6}
#: Catalytic activity, base U (µmol/min).
_ACTIVITY = {"U": 1.0, "mU": 1e-3, "kU": 1e3}
_RATIO = re.compile(r"^\s*([^/\s]+)\s*/\s*([^/\s]+)\s*$")


def dimension(unit: str) -> tuple[str, float]:
    """The dimension of a UCUM unit and its factor to the dimension's base.

    Returns ``("mass", kg)``, ``("length", cm)``, ``("amount/volume", ...)`` and so on; a mass per
    volume gives ``("gram/volume", g/L)`` and a mole per volume ``("mole/volume", mol/L)``.

    Raises
    ------
    UnitError
        The unit is not one this module knows.
    """
    u = unit.strip()
    if u in _MASS:
        return "mass", _MASS[u]
    if u in AMOUNT_UNITS and AMOUNT_UNITS[u][0] == "gram":
        return "mass", AMOUNT_UNITS[u][1] / 1e3
    if u in _LENGTH:
        return "length", _LENGTH[u]
    if u in _ACTIVITY:
        return "activity", _ACTIVITY[u]
    if u in ("1", "%"):
        return "dimensionless", 1.0 if u == "1" else 0.01
    match = _RATIO.match(u)
    if match:
        num, den = match.group(1), match.group(2)
        if den in _VOLUME:
            if num in _ACTIVITY or num == "[IU]":
                return ("activity/volume" if num != "[IU]" else "iu/volume"), _ACTIVITY.get(num, 1.0) / _VOLUME[den]
            try:
                q = parse_amount_unit(num)
            except UnitError:
                pass
            else:
                return f"{q.kind}/volume", q.factor / _VOLUME[den]
    raise UnitError(f"unit {unit!r} is not a unit qsp-sbml converts (mass, length, amount or activity per volume)")


def convert(
    value: float, unit: str, target: str, *, molecular_weight: float | None = None, iu_is_u: bool = False
) -> float:
    """Convert ``value`` from the UCUM ``unit`` to ``target``.

    Mass and mole concentrations convert through ``molecular_weight`` (g/mol), using
    :func:`qsp_sbml.units.amount_factor`.  ``iu_is_u`` accepts ``[IU]/L`` for ``U/L``.

    Raises
    ------
    UnitError
        Unknown units, different dimensions, or a mass <-> mole conversion without a molecular weight.
    """
    if not math.isfinite(value):
        raise UnitError(f"value {value!r} is not a finite number")
    if unit.strip() == target.strip():
        return float(value)
    src_dim, src_f = dimension(unit)
    dst_dim, dst_f = dimension(target)
    if iu_is_u:
        src_dim = "activity/volume" if src_dim == "iu/volume" else src_dim
        dst_dim = "activity/volume" if dst_dim == "iu/volume" else dst_dim
    if src_dim == dst_dim:
        return float(value) * src_f / dst_f
    if {src_dim, dst_dim} == {"gram/volume", "mole/volume"}:
        s_num, s_den = _RATIO.match(unit.strip()).groups()  # type: ignore[union-attr]
        d_num, d_den = _RATIO.match(target.strip()).groups()  # type: ignore[union-attr]
        try:
            factor = amount_factor(
                s_num, parse_amount_unit(d_num), molecular_weight=molecular_weight, what=f"{unit} -> {target}"
            )
        except UnitError as err:
            raise UnitError(f"{err}; give molecular_weight in the mapping") from None
        return float(value) * factor * _VOLUME[d_den] / _VOLUME[s_den]
    raise UnitError(f"cannot convert {unit!r} ({src_dim}) to {target!r} ({dst_dim})")


def unit_of(quantity: object) -> str | None:
    """The unit of a FHIR Quantity: its UCUM ``code`` (system UCUM or none given), else its ``unit`` text.

    A ``code`` from another code system is not read as UCUM (``KG`` of a local system is not ``kg``).
    """
    code, system, text = (getattr(quantity, k, None) for k in ("code", "system", "unit"))
    if code and system in (None, UCUM):
        return str(code)
    return str(text) if text else None
