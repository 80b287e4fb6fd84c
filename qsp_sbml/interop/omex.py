"""COMBINE archives (OMEX) with SED-ML: export a model with its regimen, import archives safely.

Export (:func:`export_omex`) writes one archive with

- ``<id>.xml``: the model as given (a module or a ``comp`` document);
- ``<id>_flat.xml``: the flat model (libSBML's flattening) with the plan's
  parameter values and its regimen written as SBML events;
- ``simulation.sedml`` (the master file): a uniform time course on the flat
  model with CVODE at explicit tolerances (KISAO:0000209 relative,
  KISAO:0000211 absolute), one data generator per output, a report and a 2D
  plot;
- ``metadata.rdf``: OMEX metadata (description, creation date);
- ``petab/...``: a PEtab problem (its YAML and every file it names), when given.

SED-ML targets are XPaths into one model; on a ``comp`` document they reach
only top-level ids, not the elements inside submodels.  The simulation
therefore references the flat model, whose ids (``pk__C``, ``pd__E``) are
the ones every qsp-sbml tool reports.

Import (:func:`import_omex`) extracts an archive into a folder, refusing
entries with absolute paths, ``..`` components, links, or sizes beyond the
limits (total uncompressed bytes and compression ratio: zip bombs), before
writing anything; SBML entries that are not SBML L3V2 with ``comp`` get a
converted copy ``<stem>_l3v2.xml`` ready to receive ports
(:func:`qsp_sbml.compose.add_ports`) and be composed.  :func:`import_sbml`
does the same for a single SBML file, e.g. one downloaded from BioModels.

Needs python-libcombine (the ``exchange`` extra).
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from xml.sax.saxutils import quoteattr

import libsbml

from qsp_sbml._io import atomic_write_bytes, atomic_write_text
from qsp_sbml._optional import require
from qsp_sbml.errors import QspError, SbmlError
from qsp_sbml.interop.crosscheck import ExchangePlan, default_plan

__all__ = [
    "ArchiveEntry",
    "ArchiveError",
    "ImportedArchive",
    "export_omex",
    "import_omex",
    "import_sbml",
    "normalise_sbml",
    "sedml_document",
    "sedml_model_sources",
]

FORMAT_SBML = "http://identifiers.org/combine.specifications/sbml.level-3.version-2"
FORMAT_SEDML = "http://identifiers.org/combine.specifications/sed-ml.level-1.version-3"
FORMAT_METADATA = "http://identifiers.org/combine.specifications/omex-metadata"
FORMAT_MANIFEST = "http://identifiers.org/combine.specifications/omex-manifest"
FORMAT_OMEX = "http://identifiers.org/combine.specifications/omex"
FORMAT_YAML = "http://purl.org/NET/mediatypes/application/x-yaml"
FORMAT_TSV = "http://purl.org/NET/mediatypes/text/tab-separated-values"
FORMAT_OTHER = "http://purl.org/NET/mediatypes/application/octet-stream"

#: KiSAO ids: CVODE, relative tolerance, absolute tolerance, maximum number of steps.
KISAO_CVODE = "KISAO:0000019"
KISAO_RTOL = "KISAO:0000209"
KISAO_ATOL = "KISAO:0000211"
KISAO_MAX_STEPS = "KISAO:0000415"

#: Default limits of :func:`import_omex`.
MAX_TOTAL_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200.0
MAX_ENTRIES = 10_000


class ArchiveError(QspError, ValueError):
    """A COMBINE archive is malformed or unsafe to extract."""


@dataclass(frozen=True)
class ArchiveEntry:
    """One manifest entry of an archive."""

    location: str
    format: str
    master: bool = False


@dataclass
class ImportedArchive:
    """What :func:`import_omex` extracted."""

    folder: Path
    entries: list[ArchiveEntry]
    #: SBML entries (extracted paths).
    models: list[Path] = field(default_factory=list)
    #: Converted copies (SBML L3V2 + comp) of SBML entries that were not already.
    converted: dict[Path, Path] = field(default_factory=dict)
    #: SED-ML entries (extracted paths).
    sedml: list[Path] = field(default_factory=list)

    @property
    def master(self) -> Path | None:
        """The master entry (extracted path), if the manifest names one."""
        for entry in self.entries:
            if entry.master:
                return self.folder / entry.location
        return None

    def sedml_models(self) -> list[Path]:
        """The model files the SED-ML documents simulate (resolved against the archive folder)."""
        out = []
        for path in self.sedml:
            for source in sedml_model_sources(path):
                target = _safe_member(source.removeprefix("./"), where=f"{path.name}: model source")
                out.append(path.parent / target)
        return out


# -- export -------------------------------------------------------------------------------------------


def _target_xpath(flat: libsbml.Model, sid: str) -> str:
    if flat.getSpecies(sid) is not None:
        return f"/sbml:sbml/sbml:model/sbml:listOfSpecies/sbml:species[@id='{sid}']"
    if flat.getParameter(sid) is not None:
        return f"/sbml:sbml/sbml:model/sbml:listOfParameters/sbml:parameter[@id='{sid}']"
    if flat.getCompartment(sid) is not None:
        return f"/sbml:sbml/sbml:model/sbml:listOfCompartments/sbml:compartment[@id='{sid}']"
    if flat.getReaction(sid) is not None:
        return f"/sbml:sbml/sbml:model/sbml:listOfReactions/sbml:reaction[@id='{sid}']"
    raise SbmlError(f"model {flat.getId()!r} has no species, parameter, compartment or reaction {sid!r}",
                    sbml_id=sid)


SEDML_NS = "http://sed-ml.org/sed-ml/level1/version3"
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
SBML_L3V2_NS = "http://www.sbml.org/sbml/level3/version2/core"


def _math(expression: tuple[str, ...]) -> str:
    """MathML for ``v`` or ``v * w`` / ``v / w`` given as ("v",) or ("times"|"divide", "v", "w")."""
    if len(expression) == 1:
        return f"<ci>{expression[0]}</ci>"
    op, a, b = expression
    return f"<apply><{op}/><ci>{a}</ci><ci>{b}</ci></apply>"


def sedml_document(flat_sbml: str, plan: ExchangePlan, *, source: str, rtol: float = 1e-10,
                   atol: float = 1e-14) -> str:
    """SED-ML L1V3 for a uniform time course of ``flat_sbml`` over ``plan`` (0 to end, ``points`` steps).

    Each selection becomes a data generator ``dg_<k>`` (``dg_time`` is time):
    a species selection ``S`` (amount) is the species' SED-ML value (its
    concentration, unless it has only substance units) times its
    compartment's size; ``[S]`` is the concentration; parameters,
    compartments and reactions map directly.  There is a report of all data
    generators and a 2D plot of the outputs against time.

    The XML is written directly (libsedml is not imported: importing it after
    libSBML breaks libSBML's handling of comp documents in the same process,
    see the README); tests validate the result with libsedml in a subprocess.
    """
    flat = libsbml.readSBMLFromString(flat_sbml).getModel()
    if flat is None:
        raise SbmlError("not an SBML model")
    q = quoteattr
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<sedML xmlns="{SEDML_NS}" xmlns:sbml="{SBML_L3V2_NS}" level="1" version="3">',
        "  <listOfModels>",
        f'    <model id="model" language="urn:sedml:language:sbml.level-3.version-2" source={q(source)}/>',
        "  </listOfModels>",
        "  <listOfSimulations>",
        f'    <uniformTimeCourse id="time_course" initialTime="0" outputStartTime="0" '
        f'outputEndTime="{float(plan.end)!r}" numberOfPoints="{int(plan.points)}">',
        f'      <algorithm kisaoID="{KISAO_CVODE}">',
        "        <listOfAlgorithmParameters>",
        *(f'          <algorithmParameter kisaoID="{kisao}" value="{value!r}"/>'
          for kisao, value in ((KISAO_RTOL, float(rtol)), (KISAO_ATOL, float(atol)), (KISAO_MAX_STEPS, 1_000_000))),
        "        </listOfAlgorithmParameters>",
        "      </algorithm>",
        "    </uniformTimeCourse>",
        "  </listOfSimulations>",
        "  <listOfTasks>",
        '    <task id="task" modelReference="model" simulationReference="time_course"/>',
        "  </listOfTasks>",
        "  <listOfDataGenerators>",
    ]

    def generator(gid: str, name: str, variables: list[str], expression: tuple[str, ...]) -> None:
        lines.append(f"    <dataGenerator id={q(gid)} name={q(name)}>")
        lines.append("      <listOfVariables>")
        lines.extend(f"        {v}" for v in variables)
        lines.append("      </listOfVariables>")
        lines.append(f'      <math xmlns="{MATHML_NS}">{_math(expression)}</math>')
        lines.append("    </dataGenerator>")

    def variable(vid: str, sid: str) -> str:
        return f'<variable id="{vid}" taskReference="task" target={q(_target_xpath(flat, sid))}/>'

    generator("dg_time", "time", ['<variable id="t" taskReference="task" symbol="urn:sedml:symbol:time"/>'], ("t",))
    for k, selection in enumerate(plan.selections):
        sid = selection[1:-1] if selection.startswith("[") and selection.endswith("]") else selection
        species = flat.getSpecies(sid)
        if selection != sid and species is None:
            raise SbmlError(f"{selection!r}: only species have concentrations", sbml_id=sid)
        variables = [variable(f"v{k}", sid)]
        expression: tuple[str, ...] = (f"v{k}",)
        if species is not None and (selection == sid) != species.getHasOnlySubstanceUnits():
            variables.append(variable(f"v{k}_size", species.getCompartment()))
            expression = ("times" if selection == sid else "divide", f"v{k}", f"v{k}_size")
        generator(f"dg_{k}", selection, variables, expression)
    lines += ["  </listOfDataGenerators>", "  <listOfOutputs>", '    <report id="report" name="outputs">',
              "      <listOfDataSets>"]
    for k, (gid, label) in enumerate([("dg_time", "time"),
                                      *((f"dg_{j}", sel) for j, sel in enumerate(plan.selections))]):
        lines.append(f'        <dataSet id="ds_{k}" label={q(label)} dataReference="{gid}"/>')
    lines += ["      </listOfDataSets>", "    </report>",
              f'    <plot2D id="plot" name={q(f"{flat.getId()}: {", ".join(plan.selections)}")}>',
              "      <listOfCurves>"]
    for k, selection in enumerate(plan.selections):
        lines.append(f'        <curve id="curve_{k}" name={q(selection)} logX="false" logY="false" '
                     f'xDataReference="dg_time" yDataReference="dg_{k}"/>')
    lines += ["      </listOfCurves>", "    </plot2D>", "  </listOfOutputs>", "</sedML>", ""]
    return "\n".join(lines)


def sedml_model_sources(path: str | os.PathLike[str]) -> list[str]:
    """The ``source`` of every model of a SED-ML file."""
    import xml.etree.ElementTree as ET

    path = Path(path)
    try:
        # Archive entries are size-limited before they get here; Python's expat (>= 2.4.1) refuses
        # entity-expansion attacks and ElementTree resolves no external entities.
        root = ET.parse(path).getroot()  # noqa: S314
    except ET.ParseError as err:
        raise ArchiveError(f"{path}: not valid SED-ML XML: {err}") from None
    return [str(el.get("source", "")) for el in root.iter() if el.tag.endswith("}model") and el.get("source")]


def _petab_files(yaml_path: Path) -> list[Path]:
    """The PEtab YAML and every file it names (relative to its folder, inside that folder)."""
    import yaml

    root = yaml_path.parent.resolve()
    try:
        data = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ArchiveError(f"{yaml_path}: cannot read the PEtab problem: {err}") from None
    found: list[Path] = [yaml_path.resolve()]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and node and len(node) < 1000:
            candidate = (root / node).resolve()
            if candidate.is_file():
                if root not in candidate.parents:
                    raise ArchiveError(f"{yaml_path}: {node!r} lies outside the problem's folder; "
                                       "an archive holds the problem's folder only")
                if candidate not in found:
                    found.append(candidate)

    walk(data)
    return found


def _format_for(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return FORMAT_YAML
    if suffix in (".tsv", ".tab"):
        return FORMAT_TSV
    if suffix in (".xml", ".sbml"):
        return FORMAT_SBML
    return FORMAT_OTHER


def export_omex(
    model_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    plan: ExchangePlan | None = None,
    *,
    petab: str | os.PathLike[str] | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-14,
    description: str | None = None,
    created: _dt.datetime | None = None,
) -> Path:
    """Write a COMBINE archive of ``model_path`` simulated under ``plan`` (see the module docstring).

    Parameters
    ----------
    model_path
        SBML file: a module, a comp document or a flat model.
    out
        The archive to write (atomically).
    plan
        Regimen, end time, outputs, parameter values (default:
        :func:`~qsp_sbml.interop.crosscheck.default_plan`).
    petab
        A PEtab problem YAML to include under ``petab/``.
    rtol, atol
        CVODE tolerances written into the SED-ML algorithm.
    description
        Text for the archive's metadata.
    created
        Creation time in the metadata (default: now, UTC).

    Returns
    -------
    pathlib.Path
        ``out``.
    """
    libcombine = require("libcombine", extra="exchange")
    from qsp_sbml.loading import load_model

    model_path = Path(model_path)
    plan = plan or default_plan(model_path)
    model = load_model(model_path)
    flat_sbml = plan.apply(model)
    mid = model.id or model_path.stem
    source_name, flat_name = f"{mid}.xml", f"{mid}_flat.xml"
    sedml = sedml_document(flat_sbml, plan, source=flat_name, rtol=rtol, atol=atol)
    petab_files = _petab_files(Path(petab)) if petab is not None else []
    out = Path(out)
    text = description or (f"{mid}: flat model with regimen {plan.regimen or '(none)'}, simulated "
                            f"0-{plan.end:g} (model time units); written by qsp-sbml")
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp)
        (staged / source_name).write_bytes(model_path.read_bytes())
        (staged / flat_name).write_text(flat_sbml, encoding="utf-8")
        (staged / "simulation.sedml").write_text(sedml, encoding="utf-8")
        entries = [(staged / source_name, f"./{source_name}", FORMAT_SBML, False),
                   (staged / flat_name, f"./{flat_name}", FORMAT_SBML, False),
                   (staged / "simulation.sedml", "./simulation.sedml", FORMAT_SEDML, True)]
        if petab_files:
            root = petab_files[0].parent
            entries += [(path, f"./petab/{path.relative_to(root).as_posix()}", _format_for(path), False)
                        for path in petab_files]
        data = _combine_archive(libcombine, entries, staged / "archive.omex", text, created, model_path)
    atomic_write_bytes(out, data)
    return out


def _combine_archive(libcombine: Any, entries: list[tuple[Path, str, str, bool]], target: Path, description: str,
                     created: _dt.datetime | None, model_path: Path) -> bytes:
    """The bytes of a COMBINE archive of ``entries`` (file, location, format, master) with its metadata."""
    archive = libcombine.CombineArchive()
    for path, location, fmt, master in entries:
        if not archive.addFile(str(path), location, fmt, master):
            raise ArchiveError(f"libcombine could not add {location} to the archive")
    info = libcombine.OmexDescription()
    info.setAbout(".")
    info.setDescription(description)
    stamp = (created or _dt.datetime.now(_dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    date = libcombine.Date(stamp)
    info.setCreated(date)
    archive.addMetadata(".", info)
    if not archive.writeToFile(str(target)):
        raise ArchiveError(f"libcombine could not write the archive for {model_path}")
    archive.cleanUp()
    return target.read_bytes()


# -- import -------------------------------------------------------------------------------------------


def _safe_member(name: str, *, where: str) -> PurePosixPath:
    """The relative path of an archive member; refuse absolute paths, ``..`` and drive letters."""
    if not name or "\x00" in name:
        raise ArchiveError(f"{where}: empty or NUL-containing entry name {name!r}")
    text = name.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise ArchiveError(f"{where}: entry {name!r} has an absolute path; refused (nothing was written)")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchiveError(f"{where}: entry {name!r} climbs out of the archive ('..'); refused (nothing was written)")
    if not parts:
        raise ArchiveError(f"{where}: entry {name!r} has no file name")
    return PurePosixPath(*parts)


def _check_members(zf: zipfile.ZipFile, archive: Path, max_total: int, max_ratio: float) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ArchiveError(f"{archive}: {len(infos)} entries (limit {MAX_ENTRIES}); refused")
    total = 0
    seen: set[PurePosixPath] = set()
    files = []
    for info in infos:
        rel = _safe_member(info.filename, where=str(archive))
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveError(f"{archive}: entry {info.filename!r} is a symbolic link; refused")
        if info.is_dir():
            continue
        if rel in seen:
            raise ArchiveError(f"{archive}: entry {info.filename!r} appears twice; refused")
        seen.add(rel)
        total += info.file_size
        if total > max_total:
            raise ArchiveError(f"{archive}: uncompressed size exceeds the limit of {max_total} bytes "
                               "(a zip bomb?); refused (nothing was written)")
        if info.file_size > 1024 and info.file_size > max_ratio * max(info.compress_size, 1):
            ratio = info.file_size / max(info.compress_size, 1)
            raise ArchiveError(f"{archive}: entry {info.filename!r} expands {ratio:.0f}"
                               f"-fold (limit {max_ratio:g}; a zip bomb?); refused (nothing was written)")
        files.append(info)
    return files


def _read_manifest(folder: Path, archive: Path) -> list[ArchiveEntry]:
    manifest_path = folder / "manifest.xml"
    if not manifest_path.is_file():
        raise ArchiveError(f"{archive}: no manifest.xml; not a COMBINE archive")
    libcombine = require("libcombine", extra="exchange")
    manifest = libcombine.readOMEXFromFile(str(manifest_path))
    if manifest is None or manifest.getNumErrors(libcombine.LIBCOMBINE_SEV_ERROR):
        raise ArchiveError(f"{archive}: manifest.xml cannot be read as an OMEX manifest")
    entries = []
    for i in range(manifest.getNumContents()):
        content = manifest.getContent(i)
        location = content.getLocation()
        if location in (".", "./", "./manifest.xml", "manifest.xml"):
            continue
        rel = _safe_member(location.removeprefix("./"), where=f"{archive}: manifest")
        if not (folder / rel).is_file():
            raise ArchiveError(f"{archive}: the manifest lists {location!r}, which the archive does not hold")
        entries.append(ArchiveEntry(rel.as_posix(), content.getFormat(), bool(content.getMaster())))
    return entries


def _is_l3v2_comp(doc: libsbml.SBMLDocument) -> bool:
    return (doc.getLevel(), doc.getVersion()) == (3, 2) and bool(doc.isPackageEnabled("comp"))


def import_sbml(source: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Convert an SBML file (any level/version, e.g. from BioModels) to SBML L3V2 + comp at ``out``.

    The result can receive ports (:func:`qsp_sbml.compose.add_ports`) and be
    composed.  libSBML errors in the source are refused (the message names
    the first one).
    """
    from qsp_sbml.compose import add_ports

    source = Path(source)
    doc = libsbml.readSBMLFromFile(str(source))
    if doc.getModel() is None or doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) + \
            doc.getNumErrors(libsbml.LIBSBML_SEV_FATAL):
        first = doc.getError(0).getMessage().strip() if doc.getNumErrors() else "no model element"
        raise SbmlError(f"{source}: not a readable SBML model: {first}")
    converted = add_ports(doc)
    return atomic_write_text(out, str(libsbml.writeSBMLToString(converted)))


def import_omex(
    archive: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_ratio: float = MAX_RATIO,
) -> ImportedArchive:
    """Extract a COMBINE archive into ``out_dir`` (new or empty) and list its models.

    Every entry is checked before anything is written: absolute paths, ``..``
    components, symbolic links and duplicate names are refused, as are
    archives whose uncompressed size exceeds ``max_total_bytes`` or an entry
    that expands more than ``max_ratio``-fold.  Sizes are enforced again
    while extracting (headers can lie).  On any error nothing is left behind
    in ``out_dir`` (and it is removed if this call created it).

    Raises
    ------
    ArchiveError
        Unsafe or malformed archive.
    """
    archive = Path(archive)
    out_dir = Path(out_dir)
    if not zipfile.is_zipfile(archive):
        raise ArchiveError(f"{archive}: not a zip file (a COMBINE archive is one)")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ArchiveError(f"{out_dir}: exists and is not an empty folder; give a new folder")
    created = not out_dir.exists()
    with zipfile.ZipFile(archive) as zf:
        members = _check_members(zf, archive, max_total_bytes, max_ratio)
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".omex-import-", dir=out_dir))
        try:
            written = 0
            for info in members:
                rel = _safe_member(info.filename, where=str(archive))
                target = staging.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with zf.open(info) as src, open(target, "wb") as dst:
                        while chunk := src.read(1 << 20):
                            written += len(chunk)
                            if written > max_total_bytes:
                                raise ArchiveError(f"{archive}: uncompressed size exceeds the limit of "
                                                   f"{max_total_bytes} bytes while extracting (a zip bomb?); refused")
                            dst.write(chunk)
                except (zipfile.BadZipFile, EOFError, NotImplementedError) as err:
                    raise ArchiveError(f"{archive}: entry {info.filename!r} is corrupt: {err}") from None
            entries = _read_manifest(staging, archive)
            for item in list(staging.iterdir()):
                os.replace(item, out_dir / item.name)
            staging.rmdir()
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if created:
                shutil.rmtree(out_dir, ignore_errors=True)
            raise
    result = ImportedArchive(out_dir, entries)
    for entry in entries:
        path = out_dir / entry.location
        if "sed-ml" in entry.format:
            result.sedml.append(path)
        elif "sbml" in entry.format:
            result.models.append(path)
            doc = libsbml.readSBMLFromFile(str(path))
            if doc.getModel() is not None and not _is_l3v2_comp(doc):
                result.converted[path] = import_sbml(path, path.with_name(f"{path.stem}_l3v2.xml"))
    return result


def normalise_sbml(text: str) -> str:
    """SBML text as libSBML writes it back (for comparing models across a round trip)."""
    doc = libsbml.readSBMLFromString(text)
    if doc.getModel() is None:
        raise SbmlError("not an SBML model")
    return str(libsbml.writeSBMLToString(doc))
