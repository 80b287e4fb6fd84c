"""``qsp-sbml models ...`` and ``qsp-sbml examples ...``: the shipped model library and example files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qsp_sbml.cli.common import _emit_json, handle_errors

if TYPE_CHECKING:
    from qsp_sbml.registry import ModelEntry

__all__ = ["examples", "models"]

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
