"""Read, check and flatten SBML, then hand a valid flat model to RoadRunner.

The pipeline (:func:`read_check_flatten`) runs in the guard process by default
(``qsp_sbml._guard``), so that a native crash becomes an error:

1. read with libSBML (XML and schema errors, with line numbers);
2. run libSBML's consistency checks (core and ``comp``) and our own
   (:mod:`qsp_sbml.sbml_checks`);
3. flatten ``comp`` with libSBML and check that the flat model is not empty;
4. check the flat model again, including units;
5. refuse constructs RoadRunner cannot run (:class:`UnsupportedFeatureError`);
6. compile it with RoadRunner and return the compiled state.

Nothing reaches RoadRunner unless libSBML reports no error.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import libsbml

from qsp_sbml._guard import run_guarded
from qsp_sbml.errors import SbmlError, UnitWarning, UnsupportedFeatureError, ValidationError
from qsp_sbml.sbml_checks import (
    check_comp_replacement_classes,
    libsbml_issues,
    risky_constructs,
    unsupported_features,
)
from qsp_sbml.validate import Issue, Severity, ValidationReport

if TYPE_CHECKING:
    from qsp_sbml.model import Model

__all__ = ["LoadResult", "load_model", "read_check_flatten", "validate_sbml"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadResult:
    """What the (guarded) pipeline returns: plain, picklable data."""

    #: Every issue found.
    report: ValidationReport
    #: The flat SBML (None when errors stopped the pipeline).
    flat_sbml: str | None
    #: RoadRunner's saved state of the compiled flat model (None when not compiled).
    state: bytes | None
    #: Whether the input used the comp package.
    hierarchical: bool


def _read(source: str, *, is_path: bool, base_dir: str | None) -> libsbml.SBMLDocument:
    if is_path:
        return libsbml.readSBMLFromFile(source)
    doc = libsbml.readSBMLFromString(source)
    if base_dir is not None:
        doc.setLocationURI(Path(base_dir, "model.xml").resolve().as_uri())
    return doc


_FIRST_TAG = re.compile(rb"<(?![?!])([A-Za-z_][\w:.-]*)")


def _root_element(source: str, *, is_path: bool) -> str | None:
    """Name of the first XML element (None when there is none)."""
    if is_path:
        with open(source, "rb") as handle:
            head = handle.read(65536)
    else:
        head = source[:65536].encode("utf-8", "replace")
    head = re.sub(rb"<!--.*?-->", b"", head, flags=re.S)
    match = _FIRST_TAG.search(head)
    return match.group(1).decode("utf-8", "replace") if match else None


def _empty(model: libsbml.Model) -> bool:
    return all(
        n == 0
        for n in (
            model.getNumCompartments(),
            model.getNumSpecies(),
            model.getNumParameters(),
            model.getNumReactions(),
            model.getNumRules(),
            model.getNumEvents(),
        )
    )


def read_check_flatten(
    source: str,
    is_path: bool,
    name: str,
    base_dir: str | None = None,
    strict_units: bool = False,
    compile_model: bool = True,
) -> LoadResult:
    """Run the whole load pipeline; returns data, never raises for bad SBML.

    Module-level and picklable so that it can run in the guard process.
    """
    report = ValidationReport()
    doc = _read(source, is_path=is_path, base_dir=base_dir)
    report.extend(libsbml_issues(doc, source=name, strict_units=strict_units))
    root = _root_element(source, is_path=is_path)
    if root is not None and root.split(":")[-1] != "sbml":
        report.insert(0, Issue(Severity.ERROR, f"the root element is <{root}>, not <sbml>: this is not an SBML file",
                               check="sbml-not-sbml", where=name, hint="pass an SBML (.xml) model file"))
    if report.has_errors():
        return LoadResult(report, None, None, False)
    if doc.getModel() is None:
        report.append(Issue(Severity.ERROR, "the document contains no <model>", check="sbml-no-model",
                            where=name, hint="an SBML file needs a <model> element"))
        return LoadResult(report, None, None, False)
    hierarchical = bool(doc.isPackageEnabled("comp"))

    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, not hierarchical)
    doc.checkConsistency()
    report.extend(libsbml_issues(doc, source=name, strict_units=strict_units))
    if hierarchical:
        report.extend(check_comp_replacement_classes(doc, source=name))
    if report.has_errors():
        return LoadResult(_dedupe(report), None, None, hierarchical)

    flat = doc
    if hierarchical:
        props = libsbml.ConversionProperties()
        props.addOption("flatten comp", True)
        props.addOption("leave_ports", False)
        props.addOption("performValidation", False)
        doc.getErrorLog().clearLog()
        status = doc.convert(props)
        flat_issues = libsbml_issues(doc, source=name, strict_units=strict_units)
        if status != libsbml.LIBSBML_OPERATION_SUCCESS or flat_issues.has_errors():
            report.extend(i for i in flat_issues if i.severity >= Severity.ERROR)
            report.append(Issue(Severity.ERROR, f"libSBML could not flatten the comp model (status {status})",
                                check="comp-flatten", where=name))
            return LoadResult(_dedupe(report), None, None, hierarchical)
        if doc.getModel() is None or _empty(doc.getModel()):
            report.append(Issue(Severity.ERROR, "flattening produced an empty model",
                                check="comp-flatten-empty", where=name,
                                hint="check that the top-level model instantiates its submodels"))
            return LoadResult(_dedupe(report), None, None, hierarchical)
        flat = libsbml.readSBMLFromString(libsbml.writeSBMLToString(doc))
        flat.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, True)
        flat.checkConsistency()
        report.extend(
            _relocate(libsbml_issues(flat, source=f"{name} (flattened)", strict_units=strict_units))
        )
        if report.has_errors():
            return LoadResult(_dedupe(report), None, None, hierarchical)

    report.extend(unsupported_features(flat, source=name))
    if report.has_errors():
        return LoadResult(_dedupe(report), None, None, hierarchical)
    report.extend(risky_constructs(flat, source=name))
    if report.has_errors():
        return LoadResult(_dedupe(report), None, None, hierarchical)

    flat_sbml = libsbml.writeSBMLToString(flat)
    state = None
    if compile_model:
        state = _compile_state(flat_sbml, name, report)
    return LoadResult(_dedupe(report), flat_sbml, state, hierarchical)


def _relocate(report: ValidationReport) -> ValidationReport:
    """Flat-model line numbers mean nothing to the user: keep only the source name."""
    return ValidationReport(replace(i, where=(i.where or "").rsplit(":", 1)[0], line=None) for i in report)


def _dedupe(report: ValidationReport) -> ValidationReport:
    seen: set[tuple[str, str, str | None]] = set()
    out = ValidationReport()
    for issue in report:
        key = (issue.check, issue.message, issue.where)
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out


def _compile_state(flat_sbml: str, name: str, report: ValidationReport) -> bytes | None:
    from qsp_sbml.simulate.model_cache import compiled_state
    from qsp_sbml.simulate.runner import set_log_level

    set_log_level("error")
    try:
        return compiled_state(flat_sbml)  # from the on-disk cache of compiled models when there
    except RuntimeError as err:
        report.append(Issue(Severity.ERROR, f"RoadRunner refused the model: {err}",
                            check="roadrunner-load", where=name))
        return None


def _classify(source: str | os.PathLike[str]) -> tuple[str, bool, str]:
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif isinstance(source, str) and source.lstrip().startswith("<"):
        return source, False, "<SBML string>"
    elif isinstance(source, str):
        path = Path(source)
    else:
        raise TypeError(f"expected a path or an SBML string, got {type(source).__name__}")
    if not path.exists():
        raise SbmlError(f"{path}: no such file (looked in {Path.cwd()})" if not path.is_absolute()
                        else f"{path}: no such file")
    if not path.is_file():
        raise SbmlError(f"{path}: not a file")
    # resolved once, here: libSBML finds a comp document's external files beside the absolute path, and the
    # guard process (started in another working directory) reads the same file
    return str(path.resolve()), True, str(path)


def validate_sbml(
    source: str | os.PathLike[str],
    *,
    strict_units: bool = False,
    guard: bool = True,
    base_dir: str | os.PathLike[str] | None = None,
) -> ValidationReport:
    """Run the load pipeline without compiling; return the report (never raises for bad SBML).

    Examples
    --------
    >>> report = validate_sbml('<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" '
    ...                        'level="3" version="2"><model id="m"/></sbml>', guard=False)
    >>> report.has_errors()
    False
    """
    text, is_path, name = _classify(source)
    base = str(Path(base_dir).resolve()) if base_dir is not None else None
    args = (text, is_path, name, base, strict_units, False)
    result = run_guarded(read_check_flatten, *args, what=name) if guard else read_check_flatten(*args)
    return result.report


def load_model(
    source: str | os.PathLike[str],
    *,
    strict_units: bool = False,
    guard: bool = True,
    base_dir: str | os.PathLike[str] | None = None,
) -> Model:
    """Load, validate and flatten an SBML model (file path or SBML string).

    Parameters
    ----------
    source
        Path to an SBML file, or the SBML text itself.
    strict_units
        Make unit inconsistencies errors instead of warnings.
    guard
        Read and compile in a child process so that a native crash raises
        :class:`~qsp_sbml.errors.NativeCrashError` instead of killing Python.
    base_dir
        For an SBML string: the folder against which external ``comp`` model
        files are resolved.

    Raises
    ------
    UnsupportedFeatureError
        Algebraic rules, ``delay()``, fast reactions, unsupported required packages.
    ValidationError
        libSBML or our checks found errors; ``.report`` has them all.

    Examples
    --------
    >>> from qsp_sbml import resources
    >>> model = load_model(resources.ONE_COMPARTMENT_IV, guard=False)
    >>> model.id
    'pk_one_compartment_iv'
    """
    from qsp_sbml.model import Model

    text, is_path, name = _classify(source)
    base = str(Path(base_dir).resolve()) if base_dir is not None else None
    args = (text, is_path, name, base, strict_units, True)
    result = run_guarded(read_check_flatten, *args, what=name) if guard else read_check_flatten(*args)
    report = result.report
    unsupported = [i for i in report if i.check.startswith("unsupported-")]
    if unsupported:
        first = unsupported[0]
        raise UnsupportedFeatureError(
            f"{name}: {first.message}" + (f" ({first.hint})" if first.hint else ""),
            feature=first.check.removeprefix("unsupported-"),
            sbml_id=first.sbml_id,
        )
    if report.has_errors() or result.flat_sbml is None:
        raise ValidationError(report, source=name)
    unit_issues = [i for i in report if i.check.startswith("sbml-units-")]
    if unit_issues:
        warnings.warn(
            f"{name}: {len(unit_issues)} unit warning(s), first: {unit_issues[0].message} "
            "(see Model.report; strict_units=True makes them errors)",
            UnitWarning,
            stacklevel=2,
        )
    logger.info("loaded %s (%d issue(s) below error level)", name, len(report))
    return Model(result.flat_sbml, source=name, report=report, state=result.state)
