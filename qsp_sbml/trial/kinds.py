"""Trial kinds behind one protocol, and the result folder of a trial run.

A trial kind (``parallel``, ``bioequivalence``, ``n_of_1``) is a module with four functions
(:class:`TrialKind`):

* ``validate(doc, *, source) -> design``: the typed design, errors naming file, line and field;
* ``simulate(design, *, seed, engine, max_replicates=None) -> simulation``: everything random and
  expensive (virtual subjects, replicate trials, the twin's fit);
* ``analyse(design, simulation, *, seed) -> summary``: the JSON-able summary, computed from the
  simulation without drawing;
* ``report(design, simulation, summary, out) -> markdown``: draws the figures named in the summary into
  ``out`` and returns the Markdown report.

:func:`run_kind` runs the four steps; :func:`qsp_sbml.trial.run_trial` runs them into a results folder
that :meth:`TrialResult.from_folder` reads back (``summary.json``, ``report.md``, the figures).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from qsp_sbml._io import json_text
from qsp_sbml.engine import Engine
from qsp_sbml.errors import TrialDesignError

__all__ = ["TrialKind", "TrialResult", "run_kind", "to_json"]


def to_json(summary: dict[str, Any]) -> str:
    """Canonical JSON of a summary (NaN -> null, floats to 12 significant digits)."""
    return json_text(summary)


@runtime_checkable
class TrialKind(Protocol):
    """What a trial kind module provides (see the module docstring)."""

    def validate(self, doc: Any, /, *, source: Path) -> Any:
        """The typed design of a design file (``doc``: a :class:`~qsp_sbml.typed_yaml.YamlDoc` or mapping)."""

    def simulate(self, design: Any, /, *, seed: int, engine: Engine, max_replicates: int | None = None) -> Any:
        """The simulation of the design (random draws seeded by ``seed``)."""

    def analyse(self, design: Any, simulation: Any, /, *, seed: int) -> dict[str, Any]:
        """The summary (JSON-able) of a simulation."""

    def report(self, design: Any, simulation: Any, summary: Mapping[str, Any], out: Path, /) -> str:
        """Draw the figures into ``out``; return the Markdown report."""


def run_kind(kind: TrialKind, design: Any, *, seed: int, engine: Engine, out: Path,
             max_replicates: int | None = None) -> tuple[dict[str, Any], str]:
    """Simulate, analyse and report ``design``; figures go to ``out``; returns (summary, Markdown report)."""
    simulation = kind.simulate(design, seed=seed, engine=engine, max_replicates=max_replicates)
    summary = kind.analyse(design, simulation, seed=seed)
    Path(out).mkdir(parents=True, exist_ok=True)
    return summary, kind.report(design, simulation, summary, Path(out))


@dataclass(frozen=True)
class TrialResult:
    """A trial run's results folder: ``summary.json``, ``report.md`` and the figures.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> TrialResult({"type": "parallel"}, "# Report\\n").to_folder(folder).summary["type"]
    'parallel'
    >>> TrialResult.from_folder(folder).report
    '# Report\\n'
    """

    summary: dict[str, Any]
    report: str
    #: The folder read from or written to (None until then).
    folder: Path | None = None
    #: Figure files in the folder.
    figures: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The trial type (``parallel``, ``bioequivalence``, ``n_of_1``)."""
        design = self.summary.get("design")
        return str(self.summary.get("type") or (design.get("type") if isinstance(design, Mapping) else ""))

    def to_folder(self, path: str | Path) -> TrialResult:
        """Write ``summary.json`` and ``report.md`` into ``path`` (created); figures are written by the kind."""
        from qsp_sbml._io import atomic_write_text

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "summary.json", to_json(self.summary))
        atomic_write_text(folder / "report.md", self.report)
        return TrialResult(self.summary, self.report, folder, sorted(p.name for p in folder.glob("*.png")))

    @classmethod
    def from_folder(cls, path: str | Path) -> TrialResult:
        """Read a folder written by ``qsp-sbml trial`` or :func:`~qsp_sbml.trial.run_trial`.

        Raises :class:`~qsp_sbml.errors.TrialDesignError` naming a missing or unreadable file.
        """
        folder = Path(path)
        for name in ("summary.json", "report.md"):
            if not (folder / name).is_file():
                raise TrialDesignError(f"{folder}: not a trial results folder ({name} is missing; write one with "
                                       "qsp-sbml trial or run_trial)", field="out")
        try:
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise TrialDesignError(f"{folder / 'summary.json'}: cannot read it: {err}", field="out") from None
        return cls(summary, (folder / "report.md").read_text(encoding="utf-8"), folder,
                   sorted(p.name for p in folder.glob("*.png")))
