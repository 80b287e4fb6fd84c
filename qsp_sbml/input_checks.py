"""One validation report for every kind of input file ``qsp-sbml validate`` accepts.

An input is an SBML model (core or comp), a PEtab problem YAML, a composition
spec YAML, a trial design YAML or a virtual-population spec YAML (recognised by
its keys).  Each is
checked by the code that reads it for real (nothing is checked twice in two
ways): the guarded SBML loader, :meth:`PetabProblem.from_yaml`,
:func:`~qsp_sbml.compose.compose_spec` (builds the composition in memory),
:func:`~qsp_sbml.trial.runner.load_design` (the trial kind's own validation) and
:func:`~qsp_sbml.population.spec.build_vpop` (a two-subject dry run, which also
loads the model, reads every table the spec names and simulates the selection
biomarker; whether enough candidates are plausible is left to the real run).  Errors become ERROR
issues naming file, line or row, column and id (:func:`issue_from_error`);
warnings raised while reading (a nominal value outside its bounds, missing
units, ...) become WARNING issues.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from qsp_sbml.errors import QspError
from qsp_sbml.validate import Issue, Severity, ValidationReport, issue_from_error

__all__ = ["KINDS", "input_kind", "validate_input"]

#: The kinds of input :func:`validate_input` knows.
KINDS = ("sbml", "petab", "composition", "population", "trial", "gsa", "fhir-mapping")

_YAML_SUFFIXES = (".yaml", ".yml")
_TABLE_FILE = re.compile(r"^(\S+?\.(?:tsv|csv|yaml|yml|xml)): ")


def input_kind(path: str | os.PathLike[str]) -> str:
    """One of :data:`KINDS`; raises :class:`QspError` if unknown.

    YAML files are told apart by their keys: ``kind: gsa`` (sensitivity analysis), ``format_version`` (PEtab),
    ``modules`` (composition spec), ``arms``/``endpoints``/``type`` (trial
    design), only vpop keys (population spec), ``kind: fhir-mapping`` (FHIR mapping).
    """
    import yaml

    from qsp_sbml.errors import SbmlError
    from qsp_sbml.population.spec import SPEC_KEYS

    p = Path(path)
    if p.suffix.lower() not in _YAML_SUFFIXES:
        return "sbml"
    if not p.is_file():
        raise SbmlError(f"{p}: no such file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise SbmlError(f"{p}: not valid YAML: {err}") from None
    if isinstance(data, dict):
        if data.get("kind") == "gsa":
            return "gsa"
        if data.get("kind") == "fhir-mapping":
            return "fhir-mapping"
        if "format_version" in data:
            return "petab"
        if "modules" in data:
            return "composition"
        if "arms" in data or "endpoints" in data or "type" in data:
            return "trial"
        if data and all(str(k) in SPEC_KEYS for k in data):
            return "population"
    raise SbmlError(f"{p}: cannot tell which kind of YAML this is (a PEtab problem has format_version, a "
                    "composition spec has modules, a trial design arms or type, a population spec only the keys "
                    f"{list(SPEC_KEYS)})")


def _warning_issue(message: str, category: type[Warning], default_file: str) -> Issue:
    issue = issue_from_error(ValueError(message))
    match = _TABLE_FILE.match(message)
    file = match.group(1) if match else default_file
    check = "warning-" + "".join("-" + c.lower() if c.isupper() else c for c in category.__name__).lstrip("-")
    return replace(issue, severity=Severity.WARNING, check=check, where=file, file=file)


def _run(kind: str, path: Path, strict_units: bool) -> ValidationReport:
    if kind == "sbml":
        from qsp_sbml.loading import validate_sbml

        return validate_sbml(path, strict_units=strict_units)
    if kind == "petab":
        from qsp_sbml.petab import PetabProblem

        PetabProblem.from_yaml(path)
    elif kind == "composition":
        from qsp_sbml.compose import compose_spec

        compose_spec(path)
    elif kind == "gsa":
        from qsp_sbml.sensitivity.run import validate_spec

        validate_spec(path)
    elif kind == "fhir-mapping":
        from qsp_sbml.rwe.mapping import read_mapping

        read_mapping(path)
    elif kind == "trial":
        from qsp_sbml.trial.runner import load_design

        load_design(path)
    elif kind == "population":
        from qsp_sbml.errors import PopulationError
        from qsp_sbml.population.spec import build_vpop

        try:
            build_vpop(path, 2, seed=0)
        except PopulationError as err:
            # how many of 2 candidates are plausible is a property of the draw, not of the spec
            if "'selection.plausible': only" not in str(err):
                raise
            return ValidationReport([Issue(Severity.INFO, "the selection was checked up to the simulation of "
                                           "candidates; how many are plausible depends on n and the seed",
                                           check="population-dry-run", where=str(path), file=str(path))])
    return ValidationReport()


def validate_input(path: str | os.PathLike[str], *, strict_units: bool = False) -> tuple[str, ValidationReport]:
    """Check one input file; return its kind and the report (never raises for bad input).

    Examples
    --------
    >>> from qsp_sbml import resources
    >>> kind, report = validate_input(resources.PETAB_PK_IV)
    >>> kind, report.has_errors()
    ('petab', False)
    """
    p = Path(path)
    try:
        kind = input_kind(p)
    except QspError as err:
        return "unknown", ValidationReport([issue_from_error(err)])
    report = ValidationReport()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            report.extend(_run(kind, p, strict_units))
        except (QspError, ValueError, OSError) as err:
            nested: Any = getattr(err, "report", None)
            if nested is not None:
                report.extend(nested)
                if not nested.has_errors():
                    report.append(issue_from_error(err))
            else:
                report.append(issue_from_error(err))
    seen = {i.message for i in report}
    for w in caught:
        text = str(w.message)
        if text not in seen and issubclass(w.category, UserWarning):
            seen.add(text)
            report.append(_warning_issue(text, w.category, str(p)))
    return kind, report
