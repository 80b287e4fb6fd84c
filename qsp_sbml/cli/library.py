"""``qsp-sbml models``, ``examples`` and ``library``: the model library, example files, qualification reports."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qsp_sbml.cli.common import _emit_json, handle_errors

if TYPE_CHECKING:
    from qsp_sbml.registry import ModelEntry

__all__ = ["examples", "library_group", "models"]

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")


def _entry(e: ModelEntry) -> dict[str, str]:
    """A registry entry as JSON-ready fields."""
    return {"name": e.name, "kind": e.kind, "path": str(e.path), "card": str(e.card), "title": e.title}


@click.group()
def models() -> None:
    """The shipped model library: list models, show a model card, print a model's file path.

    A model's name is its path in the library without .xml, e.g. pbpk/wholebody_pbpk,
    disease/psoriasis, composed/mab_psoriasis.

    \b
    Examples:
      qsp-sbml models list --kind disease
      qsp-sbml models show disease/psoriasis
      qsp-sbml simulate "$(qsp-sbml models path pd/idr1)" --end 48
    """


@models.command("list")
@click.option("--kind", type=click.Choice(["pbpk", "pd", "disease", "composed", "reference"]),
              help="Only models of this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@handle_errors
def list_cmd(kind: str | None, as_json: bool) -> None:
    """List the shipped models: name, kind and the title of the model card.

    \b
    Examples:
      qsp-sbml models list
      qsp-sbml models list --kind composed --json
    """
    from qsp_sbml.registry import list_models

    entries = list_models(kind)
    if as_json:
        _emit_json([_entry(e) for e in entries])
        return
    width = max(len(e.name) for e in entries)
    for e in entries:
        click.echo(f"{e.name:<{width}}  {e.kind:<9}  {e.title}")
    click.echo(f"{len(entries)} models; `qsp-sbml models show NAME` prints a model card")


@models.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the entry and card as JSON.")
@handle_errors
def show_cmd(name: str, as_json: bool) -> None:
    """Print model NAME's file, kind and model card.

    \b
    Example:
      qsp-sbml models show composed/mab_psoriasis
    """
    from qsp_sbml.registry import get

    entry = get(name)
    card = entry.read_card()
    if as_json:
        _emit_json({**_entry(entry), "text": card})
        return
    click.echo(f"{entry.name} ({entry.kind})\nfile: {entry.path}\ncard: {entry.card}\n")
    click.echo(card, nl=not card.endswith("\n"))


@models.command("path")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the name and path as JSON.")
@handle_errors
def path_cmd(name: str, as_json: bool) -> None:
    """Print the absolute path of model NAME's SBML file (nothing else).

    \b
    Example:
      qsp-sbml validate "$(qsp-sbml models path pbpk/wholebody_pbpk)"
    """
    from qsp_sbml.registry import model_path

    path = model_path(name)
    if as_json:
        _emit_json({"ok": True, "name": name, "path": str(path)})
    else:
        click.echo(str(path))


@click.group()
def examples() -> None:
    """Example files to run: trial scenarios, PEtab problems, notebooks (with the models they read).

    \b
    Example:
      qsp-sbml examples copy ex && cd ex && qsp-sbml trial trials/psoriasis_dose_selection.yaml --seed 1 --out res
    """


@examples.command("copy")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@handle_errors
def copy_cmd(folder: Path, as_json: bool) -> None:
    """Write models/, petab_problems/, trials/ and notebooks/ into FOLDER (new or empty), ready to run.

    The files reference each other by relative paths (a trial's model: ../models/...), as in the
    repository. FOLDER must not exist or be empty; nothing is written on error.

    \b
    Example:
      qsp-sbml examples copy ex && cd ex && qsp-sbml validate trials/aih_enrichment.yaml
    """
    from qsp_sbml._io import atomic_folder
    from qsp_sbml.resources import PROJECT_FOLDERS, project_dir

    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "is not a folder" if not folder.is_dir() else "is not empty"
        err = FileExistsError(f"{folder} {what}; give a new or empty folder (nothing was written)")
        err.file = str(folder)  # type: ignore[attr-defined]  # read by validate.issue_from_error
        raise err
    sources = {name: project_dir(name) for name in PROJECT_FOLDERS}
    with atomic_folder(folder) as tmp:
        for name, source in sources.items():
            shutil.copytree(source, tmp / name, ignore=_IGNORE)
    counts = {name: sum(1 for p in (folder / name).rglob("*") if p.is_file()) for name in PROJECT_FOLDERS}
    if as_json:
        _emit_json({"ok": True, "folder": str(folder.resolve()), "files": counts})
        return
    click.echo(f"{folder}: " + ", ".join(f"{name}/ ({n} files)" for name, n in counts.items()))
    click.echo(f"next: cd {folder} && qsp-sbml trial trials/psoriasis_dose_selection.yaml --seed 1 "
               "--max-replicates 5 --out res")


@click.group("library")
def library_group() -> None:
    """The disease modules of the library: qualification reports (observed vs simulated, fitted vs predicted).

    \b
    Examples:
      qsp-sbml library validate psoriasis
      qsp-sbml library validate --all --report qualification
    """


@library_group.command("validate")
@click.argument("name", required=False)
@click.option("--all", "all_modules", is_flag=True, help="Every disease module that has a qualification.")
@click.option("--report", "report_dir", type=click.Path(path_type=Path),
              help="Report folder (replaced whole, only when every module succeeded): one folder per module.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@handle_errors
def validate_cmd(name: str | None, all_modules: bool, report_dir: Path | None, as_json: bool) -> None:
    """Compare disease module NAME (or --all) with its observed points; each point is fitted, predicted or checked.

    Metrics (coverage of the 90 % prediction interval, concordance correlation coefficient, errors, number of
    points) are computed on the predicted points only.  A module with a population fit (psoriasis) is read
    from its split file and saved fit, never refitted.  A module without a prediction set says so: not
    validated.  With --report DIR, writes DIR/NAME/ (qualification.tsv, qualification.png, metrics.json,
    summary.md), DIR/README.md and DIR/qualification.json; an existing DIR is replaced only if it is empty or
    a previous report (it has qualification.json).

    \b
    Examples:
      qsp-sbml library validate oncology
      qsp-sbml library validate psoriasis --report qualification
      qsp-sbml library validate --all --report qualification --json
    """
    from qsp_sbml.library.report import (
        check_report_folder,
        qualification_metrics,
        qualifier,
        qualifiers,
        qualify,
        write_reports,
    )

    if bool(name) == all_modules:
        raise click.UsageError("give a module NAME or --all (not both)")
    names = sorted(qualifiers()) if all_modules else [str(name)]
    for n in names:
        qualifier(n)  # an unknown name is refused first, naming the known ones
    if report_dir is not None:
        check_report_folder(report_dir)
    quals = [qualify(n) for n in names]
    command = f"qsp-sbml library validate {'--all' if all_modules else name}" + (" --report DIR" if report_dir else "")
    if report_dir is not None:
        metrics = write_reports(report_dir, quals, command=command)
    else:
        metrics = {q.name: qualification_metrics(q.table) for q in quals}
    if as_json:
        _emit_json({"ok": True, "report": str(report_dir) if report_dir else None, "modules": metrics})
        return
    for q in quals:
        m = metrics[q.name]
        c, p, acc = m["points"], m["predicted"], m["acceptance"]
        head = f"{q.name}: {c['fitted']} fitted, {c['predicted']} predicted, {c['checked']} checked"
        if not p["points"]:
            click.echo(f"{head}; no prediction set: not validated")
            continue
        cov = (f"{p['inside_90']}/{p['points_with_interval']} inside the 90 % PI" if p["points_with_interval"]
               else "no 90 % PI")
        ccc = "-" if p["ccc"] is None else f"{p['ccc']:.3f}"
        verdict = "seed thresholds met" if acc["met"] else f"seed thresholds not met ({acc['reason']})"
        click.echo(f"{head}; on the predicted points: {cov}, CCC {ccc}; {verdict}")
    if report_dir is not None:
        click.echo(f"report: {report_dir}/README.md")
