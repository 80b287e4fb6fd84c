"""A number from a row of one of the PBPK module's TSV tables, checked, with the error naming file, line and column."""

from __future__ import annotations

import math


def table_number(row: dict[str, str], col: str, where: str, default: float | None = None, *,
                 positive: bool = True, error: type[Exception] = ValueError) -> float:
    """``row[col]`` as a finite number > 0 (>= 0 when ``positive`` is false); ``default`` when empty.

    ``where`` names the file and line; ``error`` is the caller's error class.

    >>> table_number({"dose": "5"}, "dose", "t.tsv:2")
    5.0
    >>> table_number({"dose": ""}, "dose", "t.tsv:2")
    Traceback (most recent call last):
    ValueError: t.tsv:2, column dose: a number is required
    """
    text = (row.get(col) or "").strip()
    if not text:
        if default is None:
            raise error(f"{where}, column {col}: a number is required")
        return default
    try:
        x = float(text)
    except ValueError:
        raise error(f"{where}, column {col}: {text!r} is not a number") from None
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        raise error(f"{where}, column {col}: {text!r} must be a finite number {'>' if positive else '>='} 0")
    return x
