"""Run a trial design file: validate, simulate, analyse, write ``summary.json`` and ``report.md``.

The design's ``type:`` picks the kind module (imported lazily): ``parallel`` -> :mod:`qsp_sbml.trial.parallel`,
``bioequivalence`` -> ``qsp_sbml.trial.vbe``, ``n_of_1`` -> ``qsp_sbml.trial.n_of_1``.  Each kind module
is a :class:`~qsp_sbml.trial.kinds.TrialKind`: ``validate(doc, *, source) -> design`` (a typed model read by
:mod:`qsp_sbml.typed_yaml`, raising :class:`~qsp_sbml.errors.TrialDesignError` naming the file, line and
field), ``simulate``, ``analyse`` (the summary, without drawing) and ``report`` (the figures and the Markdown).
The output folder is built whole in a temporary folder next to ``out`` and renamed into place, so a failed
run leaves nothing behind; an existing ``out`` is refused unless ``force=True``: then the old folder is
renamed aside, the new one renamed into place and the old one deleted (two renames: a reader never sees a
partial folder, but for an instant there is none).
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from qsp_sbml._io import replace_folder
from qsp_sbml.engine import Engine, SerialEngine
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial.kinds import TrialResult, run_kind, to_json

__all__ = ["KINDS", "MAX_REPLICATES_ENV", "load_design", "run_trial", "to_json"]

#: Trial kinds and the modules implementing them.
KINDS = {"parallel": "qsp_sbml.trial.parallel", "bioequivalence": "qsp_sbml.trial.vbe",
         "n_of_1": "qsp_sbml.trial.n_of_1"}
#: Environment variable capping the replicate trials of a run (quick runs, tests).
MAX_REPLICATES_ENV = "QSP_SBML_TRIAL_MAX_REPLICATES"


def _kind_module(kind: object, where: str) -> Any:
    if kind not in KINDS:
        raise TrialDesignError(f"{where}: unknown trial type {kind!r}; use one of {', '.join(KINDS)}", field="type",
                               value=kind)
    try:
        return importlib.import_module(KINDS[str(kind)])
    except ModuleNotFoundError as err:
        if err.name == KINDS[str(kind)]:
            raise TrialDesignError(f"{where}: trial type {kind!r} is not available in this installation "
                                   f"(module {KINDS[str(kind)]} missing)", field="type", value=kind) from None
        raise


def load_design(path: str | Path) -> tuple[Any, Any]:
    """Read and validate a design file; return (kind module, validated design).

    The file is read once (:func:`~qsp_sbml.trial.design.read_design`); its ``type:`` picks the kind module,
    whose ``validate(doc, source=path)`` checks the typed fields; errors name the file, line and field.
    """
    from qsp_sbml.trial.design import read_design

    path = Path(path)
    doc = read_design(path)
    module = _kind_module(doc.data.get("type", "parallel"), doc.where("type"))
    return module, module.validate(doc, source=path)


def run_trial(design_path: str | Path, *, seed: int, out: str | Path, engine: Engine | None = None,
              force: bool = False, max_replicates: int | None = None) -> dict[str, Any]:
    """Validate and run a design; write ``out/summary.json`` and ``out/report.md`` (with PNGs).

    The kind module (:class:`~qsp_sbml.trial.kinds.TrialKind`) simulates, analyses and reports
    (:func:`~qsp_sbml.trial.kinds.run_kind`).  ``max_replicates`` (default: the
    ``QSP_SBML_TRIAL_MAX_REPLICATES`` environment variable) caps the replicate trials for quick runs (kinds
    without replicates ignore it).  Returns the summary; :meth:`~qsp_sbml.trial.kinds.TrialResult.from_folder`
    reads the folder back.
    """
    design_path, out = Path(design_path), Path(out)
    if max_replicates is None and os.environ.get(MAX_REPLICATES_ENV):
        try:
            max_replicates = int(os.environ[MAX_REPLICATES_ENV])
        except ValueError:
            raise TrialDesignError(f"{MAX_REPLICATES_ENV} must be an integer, got {os.environ[MAX_REPLICATES_ENV]!r}",
                                   field=MAX_REPLICATES_ENV) from None
    module, design = load_design(design_path)
    if out.exists() and not force:
        raise TrialDesignError(f"output folder {out} exists; use --force to replace it", field="out")
    if out.exists() and not out.is_dir():
        raise TrialDesignError(f"{out} exists and is not a folder", field="out")
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        summary, body = run_kind(module, design, seed=seed, engine=engine or SerialEngine(), out=tmp,
                                 max_replicates=max_replicates)
        summary = dict(summary)
        summary.setdefault("files", sorted(["summary.json", "report.md", *(p.name for p in tmp.glob("*.png"))]))
        TrialResult(summary, body).to_folder(tmp)
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in created:  # folders made for the output, deepest first
            try:
                p.rmdir()
            except OSError:
                break
        raise
    return summary
