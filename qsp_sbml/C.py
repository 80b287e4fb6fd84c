"""Column names of the tables qsp_sbml reads and writes."""

from __future__ import annotations

__all__ = [
    "ADDL",
    "AMT",
    "CMT",
    "DOSING_COLUMNS",
    "DUR",
    "II",
    "RATE",
    "ROUTE",
    "TARGET",
    "TIME",
    "UNIT",
]

#: Time of a dosing record (NONMEM ``TIME``).
TIME = "time"
#: Amount of a dose (NONMEM ``AMT``).
AMT = "amt"
#: Unit of the amount, e.g. ``mg``.
UNIT = "unit"
#: SBML id receiving the dose.
TARGET = "target"
#: NONMEM-style alias of ``target``.
CMT = "cmt"
#: Zero-order infusion rate (amount per time); 0 or empty for a bolus.
RATE = "rate"
#: Infusion duration (alternative to ``rate``).
DUR = "dur"
#: Inter-dose interval for repeats.
II = "ii"
#: Number of additional doses after the first.
ADDL = "addl"
#: Route of administration.
ROUTE = "route"

DOSING_COLUMNS = (TIME, AMT, UNIT, TARGET, CMT, RATE, DUR, II, ADDL, ROUTE)
