"""Exception and warning hierarchy of qsp_sbml.

Every error raised on purpose by the package is a :class:`QspError` and also
subclasses the matching builtin (``ValueError``, ``RuntimeError``,
``ImportError``), so callers that already catch builtins keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qsp_sbml.validate import ValidationReport

__all__ = [
    "CalibrationError",
    "CompositionError",
    "ConvergenceWarning",
    "FhirError",
    "MissingDependencyError",
    "NativeCrashError",
    "PetabError",
    "PetabWarning",
    "PopulationError",
    "QspError",
    "RegimenError",
    "SbmlError",
    "SimulationError",
    "SimulationWarning",
    "TrialDesignError",
    "UnitError",
    "UnitWarning",
    "UnsupportedFeatureError",
    "ValidationError",
]


class QspError(Exception):
    """Base class for all errors raised by qsp_sbml."""


class SbmlError(QspError, ValueError):
    """An SBML document is malformed, inconsistent or cannot be used.

    Parameters
    ----------
    message
        What is wrong and what to do about it.
    sbml_id
        The SBML id of the offending element, when there is one.
    """

    def __init__(self, message: str, *, sbml_id: str | None = None) -> None:
        self.sbml_id = sbml_id
        super().__init__(message)


class ValidationError(SbmlError):
    """Validation found errors; ``report`` holds every issue found.

    The message lists the errors (up to ten) with their location.
    """

    def __init__(self, report: ValidationReport, *, source: str | None = None) -> None:
        self.report = report
        self.source = source
        errors = report.errors()
        head = f"{source}: " if source else ""
        lines = [f"{head}{len(errors)} error(s) found:"]
        lines += [f"  - {issue.format()}" for issue in errors[:10]]
        if len(errors) > 10:
            lines.append(f"  ... and {len(errors) - 10} more (see .report)")
        first_id = next((i.sbml_id for i in errors if i.sbml_id), None)
        super().__init__("\n".join(lines), sbml_id=first_id)


class UnsupportedFeatureError(SbmlError):
    """The model uses an SBML construct the simulator cannot execute.

    Parameters
    ----------
    feature
        The construct, e.g. ``"algebraic rule"``, ``"delay()"``, ``"fast reaction"``.
    """

    def __init__(self, message: str, *, feature: str, sbml_id: str | None = None) -> None:
        self.feature = feature
        super().__init__(message, sbml_id=sbml_id)


class NativeCrashError(SbmlError):
    """A native library crashed while handling the input (caught by the guard)."""


class CompositionError(SbmlError):
    """Modules cannot be linked: a port is missing, units differ, ids clash."""


class UnitError(QspError, ValueError):
    """A quantity cannot be converted to the units the model uses."""


class RegimenError(QspError, ValueError):
    """A dosing regimen is malformed or does not fit the model.

    Parameters
    ----------
    where
        Location in the input: ``"line 3"``, ``"row 2, column amt"`` or a text position.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class PetabError(QspError, ValueError):
    """A PEtab problem is malformed or inconsistent with its model.

    Parameters
    ----------
    message
        What is wrong and what to do about it.
    table
        The PEtab table (``"measurement"``, ``"observable"``, ``"condition"``,
        ``"parameter"``, ``"experiment"``, ``"mapping"``) or ``"yaml"``.
    row
        1-based data row of the table (the header is not counted).
    column
        The column name.
    file
        The table's file, when known (the message then starts with it).
    line
        The physical line of ``row`` in ``file`` (the header is line 1).
    """

    def __init__(
        self, message: str, *, table: str | None = None, row: int | None = None, column: str | None = None,
        file: str | None = None, line: int | None = None,
    ) -> None:
        self.table = table
        self.row = row
        self.column = column
        self.file = file
        self.line = line
        self.detail = message
        where = []
        if table:
            where.append(f"{table} table")
        if row is not None:
            where.append(f"row {row}" + (f" (line {line})" if line is not None else ""))
        if column:
            where.append(f"column {column!r}")
        text = f"{', '.join(where)}: {message}" if where else message
        super().__init__(f"{file}: {text}" if file else text)


class SimulationError(QspError, RuntimeError):
    """The integrator failed; carries the time of failure when known."""

    def __init__(
        self, message: str, *, subject_id: str | None = None, time: float | None = None
    ) -> None:
        self.subject_id = subject_id
        self.time = time
        super().__init__(message)


class CalibrationError(QspError, ValueError):
    """A calibration cannot run as asked (e.g. unbounded parameters, a bad option)."""


class MissingDependencyError(QspError, ImportError):
    """An optional dependency is needed for the requested feature."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{package!r} is needed for this feature: pip install 'qsp-sbml[{extra}]'"
        )


class UnitWarning(UserWarning):
    """Units are missing or inconsistent (an error with ``strict_units=True``)."""


class ConvergenceWarning(UserWarning):
    """A steady state or an optimiser did not converge."""


class SimulationWarning(UserWarning):
    """Something in a simulation needs the user's attention."""


class PetabWarning(UserWarning):
    """A PEtab problem is usable but suspicious (e.g. a nominal value outside its bounds)."""


class PopulationError(QspError, ValueError):
    """A covariate table or population specification is invalid.

    Parameters
    ----------
    message
        What is wrong and what to do about it.
    source
        The file (or ``"sampled"``/``"table"``) the covariates came from.
    row
        1-based data row (the header is not counted).
    column
        The column name.
    value
        The offending value.
    """

    def __init__(self, message: str, *, source: str | None = None, row: int | None = None,
                 column: str | None = None, value: object = None) -> None:
        self.source = source
        self.row = row
        self.column = column
        self.value = value
        where = [w for w in (source, f"row {row}" if row is not None else None,
                             f"column {column!r}" if column else None) if w]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class TrialDesignError(QspError, ValueError):
    """A trial design, its data or an analysis request is invalid.

    Parameters
    ----------
    message
        What is wrong and what to do about it.
    field
        The offending field or column (``"arm"``, ``"event"``, ``"allocation"``...).
    value
        The offending value, when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None, value: object = None) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field}: {message}" if field else message)


class FhirError(QspError, ValueError):
    """A FHIR record cannot be read into covariates, observations or a regimen.

    Parameters
    ----------
    message
        What is wrong, one finding per line, each naming the file and the resource
        (``Observation/obs-7``).
    findings
        The findings behind the error (:class:`qsp_sbml.rwe.Finding`), when there are several.
    """

    def __init__(self, message: str, *, findings: tuple[object, ...] = ()) -> None:
        self.findings = findings
        super().__init__(message)
