"""``qsp-sbml omex ...``, ``qsp-sbml antimony ...`` and ``qsp-sbml crosscheck``: exchange with other tools."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qsp_sbml.cli.common import _emit_json, handle_errors

if TYPE_CHECKING:
    from qsp_sbml.interop.crosscheck import ExchangePlan

__all__ = ["antimony_group", "crosscheck", "omex"]

_MODEL = click.Path(dir_okay=False, path_type=Path)


def _existing(path: Path) -> Path:
    """``path`` if it is a file; a missing input is bad input (exit 1), not a usage error."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return path


def _plan(model_path: Path, regimen: str | None, end: float | None, selections: str | None,
          no_regimen: bool = False) -> ExchangePlan:
    """The default plan of ``model_path`` with the options given on the command line applied."""
    import dataclasses

    from qsp_sbml.dosing import Regimen
    from qsp_sbml.interop.crosscheck import ExchangePlan, default_plan

    if end is not None and end <= 0:
        raise click.BadParameter("must be > 0", param_hint="--end")
    sels = [s.strip() for s in selections.split(",") if s.strip()] if selections else None
    try:
        plan = default_plan(model_path)
    except ValueError:
        if not (sels and end):
            raise
        plan = ExchangePlan(end, sels)
    if regimen:
        Regimen.parse(regimen)  # a bad regimen is reported before any simulation
    changes: dict[str, Any] = {}
    if regimen or no_regimen:
        changes["regimen"] = regimen or None
    if end is not None:
        changes["end"] = end
    if sels:
        changes["selections"] = sels
    return dataclasses.replace(plan, **changes) if changes else plan


@click.group("omex")
def omex() -> None:
    """COMBINE archives (OMEX) with SED-ML: export a model, import an archive or an SBML file.

    \b
    Examples:
      qsp-sbml omex export models/composed/mab_psoriasis.xml -o mab_psoriasis.omex
      qsp-sbml omex import mab_psoriasis.omex -o imported/
    """


@omex.command("export")
@click.argument("model_path", metavar="MODEL.xml", type=_MODEL)
@click.option("--regimen", "-r", help="Regimen text on flat ids (default: the model's exchange plan).")
@click.option("--no-regimen", is_flag=True, help="Export without a regimen.")
@click.option("--end", type=float, help="End time (model time units).")
@click.option("--selections", "-s", help="Comma-separated outputs (flat ids).")
@click.option("--points", type=int, help="Number of output intervals.")
@click.option("--petab", type=_MODEL,
              help="A PEtab problem YAML to include.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The archive to write (.omex).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def omex_export(model_path: Path, regimen: str | None, no_regimen: bool, end: float | None,
                selections: str | None, points: int | None, petab: Path | None, output: Path,
                as_json: bool) -> None:
    """Write MODEL.xml, its flat model with the regimen as events, SED-ML and metadata to an archive.

    \b
    Examples:
      qsp-sbml omex export models/pbpk/mab_two_compartment_tmdd.xml -o mab.omex
      qsp-sbml omex export model.xml --regimen "150 mg sc at 0, 672 h to depot" --end 1344 -o out.omex
    """
    import dataclasses

    from qsp_sbml.interop.omex import export_omex

    _existing(model_path)
    if petab is not None:
        _existing(petab)
    if regimen and no_regimen:
        raise click.UsageError("give --regimen or --no-regimen, not both")
    plan = _plan(model_path, regimen, end, selections, no_regimen)
    if points is not None:
        if points < 1:
            raise click.BadParameter("must be >= 1", param_hint="--points")
        plan = dataclasses.replace(plan, points=points)
    export_omex(model_path, output, plan, petab=petab)
    if as_json:
        _emit_json({"ok": True, "model": str(model_path), "archive": str(output),
                    "plan": dataclasses.asdict(plan)})
    else:
        click.echo(f"{model_path} -> {output}")


@omex.command("import")
@click.argument("source", metavar="ARCHIVE.omex|MODEL.xml", type=_MODEL)
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A new (or empty) folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def omex_import(source: Path, out_dir: Path, as_json: bool) -> None:
    """Extract an archive safely (or convert an SBML file) into a folder, ready for ports and composition.

    \b
    Examples:
      qsp-sbml omex import mab.omex -o imported/
      qsp-sbml omex import BIOMD0000000012.xml -o imported/
    """
    import zipfile

    from qsp_sbml.interop.omex import ArchiveError, import_omex, import_sbml

    _existing(source)
    if zipfile.is_zipfile(source):
        result = import_omex(source, out_dir)
        models = [str(p) for p in result.models]
        converted = {str(k): str(v) for k, v in result.converted.items()}
        master = str(result.master) if result.master else None
    else:
        if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
            raise ArchiveError(f"{out_dir}: exists and is not an empty folder; give a new folder")
        target = import_sbml(source, out_dir / source.name)
        models, converted, master = [str(target)], {str(source): str(target)}, None
    if as_json:
        _emit_json({"ok": True, "folder": str(out_dir), "models": models, "converted": converted, "master": master})
    else:
        click.echo(f"{source} -> {out_dir}: {len(models)} model(s)" + (f", master {master}" if master else ""))
        for original, copy in converted.items():
            click.echo(f"  {original} -> {copy} (SBML L3V2 + comp, ready for ports)")


@click.group("antimony")
def antimony_group() -> None:
    """Antimony text in and out.

    \b
    Examples:
      qsp-sbml antimony to-sbml model.ant -o model.xml
      qsp-sbml antimony from-sbml models/pd/emax_hill.xml -o emax_hill.ant
    """


@antimony_group.command("to-sbml")
@click.argument("path", metavar="FILE.ant", type=_MODEL)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--module", help="The Antimony model to export (default: the main one).")
@handle_errors
def antimony_to_sbml(path: Path, output: Path, module: str | None) -> None:
    """Convert Antimony text to flat SBML L3V2.

    \b
    Example:
      qsp-sbml antimony to-sbml model.ant -o model.xml
    """
    from qsp_sbml._io import atomic_write_text
    from qsp_sbml.interop.antimony import from_antimony

    sbml = from_antimony(_existing(path).read_text(encoding="utf-8"), module=module)
    atomic_write_text(output, sbml)
    click.echo(f"{path} -> {output}")


@antimony_group.command("from-sbml")
@click.argument("path", metavar="MODEL.xml", type=_MODEL)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@handle_errors
def antimony_from_sbml(path: Path, output: Path) -> None:
    """Convert SBML (a comp document is flattened first) to Antimony text.

    \b
    Example:
      qsp-sbml antimony from-sbml models/pd/idr1.xml -o idr1.ant
    """
    from qsp_sbml._io import atomic_write_text
    from qsp_sbml.interop.antimony import to_antimony

    atomic_write_text(output, to_antimony(_existing(path)))
    click.echo(f"{path} -> {output}")


@click.command("crosscheck")
@click.argument("model_path", metavar="MODEL.xml", type=_MODEL)
@click.option("--regimen", "-r", help="Regimen text on flat ids (default: the model's exchange plan).")
@click.option("--no-regimen", is_flag=True, help="Check without a regimen.")
@click.option("--end", type=float, help="End time (model time units).")
@click.option("--selections", "-s", help="Comma-separated outputs (flat ids).")
@click.option("--tolerance", type=float, default=1e-4, show_default=True,
              help="Largest relative difference accepted.")
@click.option("--rtol", type=float, default=1e-8, show_default=True)
@click.option("--atol", type=float, default=1e-12, show_default=True)
@click.option("--floor", type=float, default=1e-6, show_default=True,
              help="Values below FLOOR x an output's peak are compared against that floor.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def crosscheck(model_path: Path, regimen: str | None, no_regimen: bool, end: float | None,
               selections: str | None, tolerance: float, rtol: float, atol: float, floor: float,
               as_json: bool) -> None:
    """Simulate MODEL.xml with RoadRunner and COPASI; exit 1 if an output differs beyond the tolerance.

    \b
    Examples:
      qsp-sbml crosscheck models/pbpk/wholebody_pbpk.xml
      qsp-sbml crosscheck model.xml --regimen "100 mg po q12h x 6 to A_gut" --end 96 -s C --json
    """
    from qsp_sbml.interop.crosscheck import crosscheck as run

    _existing(model_path)
    if regimen and no_regimen:
        raise click.UsageError("give --regimen or --no-regimen, not both")
    for name, value in (("--tolerance", tolerance), ("--rtol", rtol), ("--atol", atol), ("--floor", floor)):
        if not value > 0:
            raise click.BadParameter("must be > 0", param_hint=name)
    plan = _plan(model_path, regimen, end, selections, no_regimen)
    result = run(model_path, plan, tolerance=tolerance, rtol=rtol, atol=atol, floor=floor)
    if as_json:
        _emit_json(result.to_dict())
    else:
        click.echo(f"{model_path}: RoadRunner vs COPASI, rtol {rtol:g}, regimen {result.plan.regimen or '(none)'}")
        for selection, diff in result.differences.items():
            flag = "" if diff <= tolerance else "   ABOVE TOLERANCE"
            click.echo(f"  {selection:<28} {diff:.2e}{flag}")
        click.echo(f"{'passed' if result.passed else 'FAILED'}: largest relative difference {result.worst:.2e} "
                   f"(tolerance {tolerance:g})")
    if not result.passed:
        sys.exit(1)
