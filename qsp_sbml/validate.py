"""Validation results as data: :class:`Issue`, :class:`Severity`, :class:`ValidationReport`.

Checks are plain callables returning issues; :func:`run_checks` collects them.
Loading raises :class:`~qsp_sbml.errors.ValidationError` carrying the whole report.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any, TypeVar

from qsp_sbml.errors import ValidationError

__all__ = ["Check", "Issue", "Severity", "ValidationReport", "issue_from_error", "run_checks"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Severity(IntEnum):
    """How bad an issue is; values match :mod:`logging` levels."""

    INFO = 20
    WARNING = 30
    ERROR = 40
    CRITICAL = 50


@dataclass(frozen=True)
class Issue:
    """One finding of a check.

    Examples
    --------
    >>> Issue(Severity.ERROR, "duplicate id 'p'", check="sbml-10301", where="m.xml:3").format()
    "error: m.xml:3: duplicate id 'p' [sbml-10301]"
    """

    #: How bad it is.
    severity: Severity
    #: What is wrong, naming the offending id or value.
    message: str
    #: Name of the check (for libSBML findings ``sbml-<error id>``).
    check: str
    #: Location: ``file:line``, a table row, or an SBML id path.
    where: str | None = None
    #: SBML id of the offending element, when known.
    sbml_id: str | None = None
    #: What to do about it.
    hint: str | None = None
    #: The input file, when known.
    file: str | None = None
    #: Physical line in ``file`` (1-based), when known.
    line: int | None = None
    #: 1-based data row of a table (the header is not counted), when known.
    row: int | None = None
    #: Table column or spec key, when known.
    column: str | None = None

    def format(self) -> str:
        """One line for humans."""
        loc = f"{self.where}: " if self.where else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.severity.name.lower()}: {loc}{self.message} [{self.check}]{hint}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        out = asdict(self)
        out["severity"] = self.severity.name.lower()
        return out


_LINE = re.compile(r"\bline (\d+)")
_ROW = re.compile(r"\brow (\d+)")
_COLUMN = re.compile(r"\b(?:column|key) (?:'([^']+)'|([A-Za-z_][\w.]*))")
_FILE = re.compile(r"([^\s(),'\"]+\.(?:xml|sbml|yaml|yml|tsv|csv|parquet|json|omex))(?=[:;,)\s]|$)")


def issue_from_error(err: BaseException) -> Issue:
    """One ERROR issue describing ``err`` (a :class:`~qsp_sbml.errors.QspError` or a builtin error).

    The location fields come from the error's attributes (PEtab, population,
    regimen and SBML errors carry them; a typed spec's error its first ``problems`` entry) or, failing
    that, from the message
    (``"line N"``, ``"row N"``, ``"column 'c'"``/``"key 'k'"``).

    Examples
    --------
    >>> from qsp_sbml.errors import PopulationError
    >>> issue = issue_from_error(PopulationError("not a number", source="c.tsv", row=2, column="CL"))
    >>> (issue.file, issue.row, issue.column)
    ('c.tsv', 2, 'CL')
    """
    message = str(err)
    attrs = {k: getattr(err, k, None) for k in ("file", "source", "line", "row", "column", "sbml_id", "field",
                                                 "filename")}
    problems = getattr(err, "problems", None)  # a typed spec's error (qsp_sbml.typed_yaml): file, line, field
    if problems:
        attrs["file"] = attrs["file"] or problems[0].source or None
        attrs["line"] = attrs["line"] if attrs["line"] is not None else problems[0].line
        attrs["column"] = attrs["column"] or problems[0].path or None
    file = attrs["file"] or attrs["source"] or attrs["filename"]
    line, row, column = attrs["line"], attrs["row"], attrs["column"] or attrs["field"]
    if not file and (match := _FILE.search(message)):
        file = match.group(1)
    if line is None and (match := _LINE.search(message)):
        line = int(match.group(1))
    if row is None and (match := _ROW.search(message)):
        row = int(match.group(1))
    if column is None and (match := _COLUMN.search(message)):
        column = match.group(1) or match.group(2)
    check = "error-" + "".join("-" + c.lower() if c.isupper() else c for c in type(err).__name__).lstrip("-")
    return Issue(Severity.ERROR, message, check=check, where=str(file) if file else None,
                 sbml_id=attrs["sbml_id"], file=str(file) if file else None,
                 line=int(line) if line is not None else None, row=int(row) if row is not None else None,
                 column=str(column) if column is not None else None)


class ValidationReport(list[Issue]):
    """A list of :class:`Issue` with helpers."""

    def errors(self) -> list[Issue]:
        """Issues of severity ERROR or worse."""
        return [i for i in self if i.severity >= Severity.ERROR]

    def warnings(self) -> list[Issue]:
        """Issues of severity WARNING."""
        return [i for i in self if i.severity == Severity.WARNING]

    def has_errors(self) -> bool:
        """Whether any issue is an error."""
        return any(i.severity >= Severity.ERROR for i in self)

    def log(self, log: logging.Logger = logger, min_level: Severity = Severity.WARNING) -> None:
        """Log every issue at or above ``min_level``."""
        for issue in self:
            if issue.severity >= min_level:
                log.log(int(issue.severity), "%s", issue.format())

    def raise_if_errors(self, *, source: str | None = None) -> None:
        """Raise :class:`ValidationError` when the report holds errors."""
        if self.has_errors():
            raise ValidationError(self, source=source)

    def to_dicts(self) -> list[dict[str, Any]]:
        """JSON-ready list."""
        return [i.to_dict() for i in self]


Check = Callable[[T], Iterable[Issue]]


def run_checks(obj: T, checks: Sequence[Check[T]]) -> ValidationReport:
    """Run ``checks`` on ``obj``; stop after a check that reports a CRITICAL issue.

    Examples
    --------
    >>> def positive(x):
    ...     if x <= 0:
    ...         yield Issue(Severity.ERROR, f"{x} is not positive", check="positive")
    >>> run_checks(-1, [positive]).has_errors()
    True
    """
    report = ValidationReport()
    for check in checks:
        report.extend(check(obj))
        if any(i.severity is Severity.CRITICAL for i in report):
            break
    return report
