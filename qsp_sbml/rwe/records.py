"""FHIR R4 records in: a Bundle JSON file, a folder of bundles, or an NDJSON bulk export.

Every resource of a type qsp-sbml uses (Patient, Observation, Medication, MedicationAdministration,
MedicationStatement, MedicationRequest) is validated with the R4B models of ``fhir.resources`` (pydantic):
fhir.resources 8 ships R5 (its default), R4B (4.3.0) and STU3 but no 4.0.1 package; R4B is "strictly
backward compatible with R4" outside the medication-regulation and evidence resources it revised, none of
which is read here (HL7, FHIR R4B, "R4B explanation", hl7.org/fhir/R4B/r4b-explanation.html).  An element
R4 does not define (an R5 name such as ``MedicationAdministration.occurenceDateTime``) or a missing required
element is an error naming the file and the resource.  Resources of other types are listed as skipped.

Nothing is dropped silently: every problem becomes a :class:`Finding` with the file and the resource
(``Observation/obs-7``); ``severity="error"`` findings make the reader's caller refuse the input,
``severity="skipped"`` findings list what was not used and why.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qsp_sbml._optional import require
from qsp_sbml.errors import FhirError

__all__ = ["USED_TYPES", "FhirRecords", "Finding", "Resource", "read_fhir"]

#: Resource types read (validated); others are listed as skipped.
USED_TYPES = (
    "Patient",
    "Observation",
    "Medication",
    "MedicationAdministration",
    "MedicationStatement",
    "MedicationRequest",
)


@dataclass(frozen=True)
class Finding:
    """One problem with one resource, or one resource not used, and why."""

    #: The file the resource came from.
    file: str
    #: ``Type/id`` of the resource (or ``Type, entry N`` / ``line N`` when it has no id).
    resource: str
    #: Short class: ``invalid``, ``not-r4``, ``unknown-code``, ``missing-unit``, ``unit``, ``impossible-value``,
    #: ``conflict``, ``no-dose``, ``no-time``, ``unsupported``, ``not-used``, ``status``...
    kind: str
    #: What is wrong or why it was skipped.
    message: str
    #: ``error`` refuses the input; ``skipped`` is listed and not used.
    severity: Literal["error", "skipped"] = "error"

    def format(self) -> str:
        """``file: Type/id: message [kind]``."""
        return f"{self.file}: {self.resource}: {self.message} [{self.kind}]"

    def as_dict(self) -> dict[str, str]:
        """The finding as a table row."""
        return {
            "file": self.file,
            "resource": self.resource,
            "severity": self.severity,
            "kind": self.kind,
            "message": self.message,
        }


@dataclass(frozen=True)
class Resource:
    """One validated resource and where it came from."""

    #: ``Patient``, ``Observation``...
    type: str
    #: Its logical id (``""`` when it has none).
    id: str
    #: File it was read from.
    file: str
    #: The validated ``fhir.resources`` R4B model.
    model: Any
    #: ``Bundle.entry.fullUrl`` (for ``urn:uuid:`` references), when given.
    full_url: str | None = None

    @property
    def key(self) -> str:
        """``Type/id``."""
        return f"{self.type}/{self.id}"


@dataclass
class FhirRecords:
    """The resources read from one or more files, and the findings of reading them."""

    #: Validated resources of the used types, in file order.
    resources: list[Resource] = field(default_factory=list)
    #: Findings (errors and skipped resources).
    findings: list[Finding] = field(default_factory=list)
    #: The files read.
    files: list[str] = field(default_factory=list)
    _index_cache: tuple[int, dict[str, Resource]] | None = field(default=None, init=False, repr=False, compare=False)

    def of_type(self, kind: str) -> Iterator[Resource]:
        """The resources of one type."""
        return (r for r in self.resources if r.type == kind)

    def resolve(self, reference: str | None, *, contained_in: Resource | None = None) -> Resource | None:
        """The resource a reference points to: ``Type/id``, a bundle ``fullUrl`` or ``#contained``."""
        if not reference:
            return None
        if reference.startswith("#") and contained_in is not None:
            for item in contained_in.model.contained or ():
                if item.id == reference[1:]:
                    return Resource(type=item.get_resource_type(), id=item.id, file=contained_in.file, model=item)
            return None
        index = self._index()
        if reference in index:
            return index[reference]
        parts = reference.rstrip("/").split("/")  # an absolute URL: .../Patient/p1 (or .../Patient/p1/_history/2)
        if len(parts) >= 4 and parts[-2] == "_history":
            parts = parts[:-2]
        return index.get("/".join(parts[-2:])) if len(parts) >= 2 else None

    def _index(self) -> dict[str, Resource]:
        """Resources by ``Type/id`` and by ``fullUrl`` (rebuilt when resources were added)."""
        cached = self._index_cache
        if cached is not None and cached[0] == len(self.resources):
            return cached[1]
        index: dict[str, Resource] = {}
        for r in self.resources:
            index.setdefault(r.key, r)
            if r.full_url:
                index.setdefault(r.full_url, r)
        self._index_cache = (len(self.resources), index)
        return index

    def errors(self) -> list[Finding]:
        """The error findings."""
        return [f for f in self.findings if f.severity == "error"]

    def skipped(self) -> list[Finding]:
        """The skipped findings."""
        return [f for f in self.findings if f.severity == "skipped"]

    def raise_if_errors(self) -> None:
        """Raise :class:`FhirError` listing every error finding."""
        errors = self.errors()
        if errors:
            lines = [f.format() for f in errors[:50]]
            more = f"\n... and {len(errors) - 50} more" if len(errors) > 50 else ""
            raise FhirError(
                f"{len(errors)} problem(s) in the FHIR input:\n" + "\n".join(lines) + more, findings=tuple(errors)
            )


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".json", ".ndjson") and p.is_file())
        if not files:
            raise FhirError(f"{path}: no .json or .ndjson files in this folder")
        return files
    if not path.is_file():
        raise FhirError(f"no such file or folder: {path}")
    return [path]


def read_fhir(path: str | os.PathLike[str] | list[str | os.PathLike[str]]) -> FhirRecords:
    """Read FHIR R4 resources from a Bundle JSON file, a folder of them, or NDJSON (bulk export) files.

    A single JSON resource that is not a Bundle is read as one resource.  Problems are collected as
    findings (see :meth:`FhirRecords.raise_if_errors`); only an unreadable path raises at once.
    """
    paths = path if isinstance(path, list) else [path]
    records = FhirRecords()
    seen: dict[str, tuple[str, Any]] = {}
    for p in paths:
        for file in _files(Path(p)):
            records.files.append(str(file))
            for raw, where, full_url in _raw_resources(file, records):
                _add(raw, where, full_url, str(file), records, seen)
    return records


def _raw_resources(file: Path, records: FhirRecords) -> Iterator[tuple[Any, str, str | None]]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        records.findings.append(Finding(str(file), "(file)", "invalid", f"cannot read: {err}"))
        return
    if file.suffix.lower() == ".ndjson":
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line), f"line {n}", None
            except json.JSONDecodeError as err:
                records.findings.append(Finding(str(file), f"line {n}", "invalid", f"not JSON: {err.msg}"))
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        records.findings.append(Finding(str(file), f"line {err.lineno}", "invalid", f"not JSON: {err.msg}"))
        return
    if not isinstance(data, dict) or "resourceType" not in data:
        records.findings.append(Finding(str(file), "(file)", "not-r4", "not a FHIR resource (no resourceType)"))
        return
    if data["resourceType"] != "Bundle":
        yield data, "(file)", None
        return
    yield from _bundle_entries(data, file, records)


def _bundle_entries(data: dict[str, Any], file: Path, records: FhirRecords) -> Iterator[tuple[Any, str, str | None]]:
    entries = data.get("entry") or []
    shell = {k: v for k, v in data.items() if k != "entry"}
    shell["entry"] = [{k: v for k, v in e.items() if k != "resource"} for e in entries if isinstance(e, dict)]
    bundle_id = f"Bundle/{data.get('id', '')}" if data.get("id") else "Bundle"
    r4b = require("fhir.resources.R4B", extra="rwe")
    try:
        r4b.get_fhir_model_class("Bundle").model_validate(shell)
    except ValueError as err:
        records.findings.append(Finding(str(file), bundle_id, "not-r4", _pydantic_message(err)))
        return
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "resource" not in entry:
            records.findings.append(
                Finding(str(file), f"{bundle_id}, entry {i}", "not-used", "entry without a resource", "skipped")
            )
            continue
        yield entry["resource"], f"entry {i}", entry.get("fullUrl")


def _add(
    raw: Any, where: str, full_url: str | None, file: str, records: FhirRecords, seen: dict[str, tuple[str, Any]]
) -> None:
    if not isinstance(raw, dict) or not isinstance(raw.get("resourceType"), str):
        records.findings.append(Finding(file, where, "not-r4", "not a FHIR resource (no resourceType)"))
        return
    kind, rid = raw["resourceType"], str(raw.get("id") or "")
    label = f"{kind}/{rid}" if rid else f"{kind}, {where}"
    if kind not in USED_TYPES:
        r4b = require("fhir.resources.R4B", extra="rwe")
        try:
            r4b.get_fhir_model_class(kind)
        except ValueError:
            records.findings.append(Finding(file, label, "not-r4", f"{kind!r} is not a FHIR R4 resource type"))
            return
        records.findings.append(Finding(file, label, "not-used", f"{kind} resources are not read", "skipped"))
        return
    r4b = require("fhir.resources.R4B", extra="rwe")
    try:
        model = r4b.get_fhir_model_class(kind).model_validate(raw)
    except ValueError as err:
        records.findings.append(
            Finding(file, label, "not-r4" if "Extra inputs" in str(err) else "invalid", _pydantic_message(err))
        )
        return
    if rid:
        if label in seen:
            first_file, first_raw = seen[label]
            if first_raw != raw:
                records.findings.append(
                    Finding(
                        file, label, "conflict", f"two different resources with this id (the other in {first_file})"
                    )
                )
            return
        seen[label] = (file, raw)
    records.resources.append(Resource(type=kind, id=rid, file=file, model=model, full_url=full_url))


def _pydantic_message(err: Exception) -> str:
    errors = getattr(err, "errors", None)
    if not callable(errors):
        return str(err)
    parts = []
    for e in errors(include_url=False):
        loc = ".".join(str(x) for x in e.get("loc", ()))
        msg = str(e.get("msg", "invalid"))
        if e.get("type") == "extra_forbidden":
            msg = "element not defined in FHIR R4"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
