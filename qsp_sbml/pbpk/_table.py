"""A number from a row of one of the PBPK module's TSV tables, checked, with the error naming file, line and column."""

from __future__ import annotations

import csv
import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path


def numbered_rows(path: Path, required: Sequence[str], *, what: str,
                  error: type[Exception] = ValueError) -> list[tuple[int, dict[str, str]]]:
    """Data rows of a TSV table with their file line numbers (blank and ``#`` lines skipped).

    Refused with ``error`` naming the file (and line): unreadable, no header, a missing ``required`` column,
    a row whose field count differs from the header's, no data row.  ``what`` names the table's rows in
    the messages (for example ``"observations"``).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: cannot read the table of {what} ({err})") from None
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise error(f"{path}: no header and no {what}")
    header_line, header = numbered[0]
    columns = next(csv.reader([header], delimiter="\t"))
    missing = [c for c in required if c not in columns]
    if missing:
        raise error(f"{path}:{header_line}: missing column(s) {missing}; required: {list(required)}")
    rows = []
    for n, line in numbered[1:]:
        cells = next(csv.reader([line], delimiter="\t"))
        if len(cells) != len(columns):
            raise error(f"{path}:{n}: {len(cells)} fields, the header has {len(columns)}")
        rows.append((n, dict(zip(columns, (c.strip() for c in cells), strict=True))))
    if not rows:
        raise error(f"{path}: no {what}")
    return rows


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


def check_cells(row: dict[str, str], where: str, *, error: type[Exception] = ValueError,
                choices: Mapping[str, Collection[str]] | None = None, non_empty: Sequence[str] = (),
                drugs: Collection[str] | None = None) -> None:
    """Refuse a row with a cell outside its column's choices, an empty required cell or an unknown drug.

    ``choices`` maps a column to its allowed values; ``non_empty`` columns must have a value; with ``drugs``,
    column ``drug`` must name one of them.  ``where`` names the file and line; ``error`` is the caller's class.

    >>> check_cells({"sex": "m"}, "t.tsv:2", choices={"sex": ("male", "female")})
    Traceback (most recent call last):
    ValueError: t.tsv:2, column sex: 'm' is not one of ['male', 'female']
    """
    for col, allowed in (choices or {}).items():
        if row[col] not in allowed:
            raise error(f"{where}, column {col}: {row[col]!r} is not one of {list(allowed)}")
    if drugs is not None and row["drug"] not in drugs:
        raise error(f"{where}, column drug: no drug record {row['drug']!r}; known: {sorted(drugs)}")
    for col in non_empty:
        if not row[col]:
            raise error(f"{where}, column {col}: must not be empty")
