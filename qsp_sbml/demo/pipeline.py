"""The flagship demo as a pipeline of steps writing into one report folder.

A step is a function ``step(ctx: DemoContext) -> StepOutcome``: it reads what earlier steps left in
``ctx.shared`` (the composed model, the calibrated parameters...), writes its files into ``ctx.folder`` and
returns a summary, the markdown of its report section and its checks.  :data:`STEPS` lists them in order;
adding a step (e.g. the three-arm trial on ``qsp_sbml.trial``) is one function and one entry.

The report folder is written whole or not at all: the steps write into a temporary folder beside it,
which replaces the previous report only when every step has finished.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qsp_sbml._io import atomic_write_text, check_output_folder, json_text, replace_folder

__all__ = ["ENV_REPLICATES", "ENV_STARTS", "ENV_SUBJECTS", "DemoContext", "DemoSettings", "Step", "StepOutcome",
           "run_pipeline"]

logger = logging.getLogger(__name__)

#: Environment variables giving the default number of virtual subjects and calibration starts.
ENV_SUBJECTS = "QSP_SBML_DEMO_SUBJECTS"
ENV_STARTS = "QSP_SBML_DEMO_STARTS"
ENV_REPLICATES = "QSP_SBML_DEMO_REPLICATES"


@dataclass(frozen=True, kw_only=True)
class DemoSettings:
    """Sizes and seed of the demo run."""

    #: Virtual subjects per arm of the population step.
    n_subjects: int = 1000
    #: Starts of the calibration step.
    n_starts: int = 5
    #: Replicate trials of the three-arm trial step.
    n_replicates: int = 40
    #: Seed of every random draw (start points, virtual population).
    seed: int = 1
    #: Progress bars (tqdm): None = on a terminal only.
    progress: bool | None = None

    def __post_init__(self) -> None:
        """Check the sizes."""
        for name in ("n_subjects", "n_starts", "n_replicates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_subjects < 2:
            raise ValueError(f"n_subjects must be at least 2 (a prediction band needs subjects), got {self.n_subjects}")


@dataclass
class DemoContext:
    """What a step sees: the settings, the folder it writes into, and results of earlier steps."""

    settings: DemoSettings
    folder: Path
    #: Results handed from step to step (e.g. ``model``, ``composition``, ``calibrated``).
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepOutcome:
    """The result of one step."""

    #: Section title in the report.
    title: str
    #: JSON-ready figures of the step (go into summary.json under the step's name).
    summary: dict[str, Any]
    #: Markdown body of the step's report section.
    markdown: list[str]
    #: Named checks against something we did not write (True = passed).
    checks: dict[str, bool] = field(default_factory=dict)
    #: Files written (relative to the report folder).
    files: list[str] = field(default_factory=list)


#: A step: a name (key in summary.json) and the function.
Step = tuple[str, Callable[[DemoContext], StepOutcome]]


def _check_out(out: Path) -> None:
    check_output_folder(out, marker=("summary.json", "report.md"), what="demo report")


def run_pipeline(out_dir: str | Path, steps: Sequence[Step], settings: DemoSettings, *,
                 echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run ``steps`` in order into a fresh report folder ``out_dir``; return the summary.

    Writes ``report.md`` and ``summary.json`` beside the steps' own files.  ``echo`` receives one line per
    finished step (the CLI prints them).  A step that raises leaves the previous report untouched.
    """
    out = Path(out_dir)
    _check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)
    ctx = DemoContext(settings=settings, folder=tmp)
    t_all = time.perf_counter()
    outcomes: dict[str, StepOutcome] = {}
    timings: dict[str, float] = {}
    try:
        for name, fn in steps:
            t0 = time.perf_counter()
            logger.info("demo step %s", name)
            outcome = fn(ctx)
            timings[name] = time.perf_counter() - t0
            outcomes[name] = outcome
            if echo is not None:
                verdict = "ok" if all(outcome.checks.values()) else "CHECK FAILED"
                echo(f"  [{len(outcomes)}/{len(steps)}] {outcome.title}: {verdict} ({timings[name]:.1f} s)")
        wall = time.perf_counter() - t_all
        summary = _summary(outcomes, timings, settings, wall)
        atomic_write_text(tmp / "summary.json", json_text(summary))
        atomic_write_text(tmp / "report.md", _report(outcomes, timings, summary))
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary["report"] = str(out.resolve() / "report.md")
    return summary


def _summary(outcomes: dict[str, StepOutcome], timings: dict[str, float], settings: DemoSettings,
             wall: float) -> dict[str, Any]:
    checks = {f"{name}.{key}": ok for name, o in outcomes.items() for key, ok in o.checks.items()}
    return {
        "settings": {"n_subjects": settings.n_subjects, "n_starts": settings.n_starts,
                     "n_replicates": settings.n_replicates, "seed": settings.seed},
        "steps": {name: {"title": o.title, "wall_time_s": timings[name], "files": o.files, **o.summary}
                  for name, o in outcomes.items()},
        "checks": checks,
        "passed": all(checks.values()),
        "wall_time_s": wall,
        "cpu_count": os.cpu_count(),
    }


def _report(outcomes: dict[str, StepOutcome], timings: dict[str, float], summary: dict[str, Any]) -> str:
    from qsp_sbml import __version__

    lines = ["# qsp-sbml demo report", "",
             f"qsp-sbml {__version__}; {summary['settings']['n_subjects']} virtual subjects per arm, "
             f"{summary['settings']['n_starts']} calibration starts, seed {summary['settings']['seed']}; "
             f"{summary['wall_time_s']:.1f} s on {summary['cpu_count']} CPU(s).", ""]
    for k, (name, o) in enumerate(outcomes.items(), start=1):
        lines += [f"## {k}. {o.title}", "", *o.markdown, ""]
        if o.checks:
            lines += ["| check | result |", "|---|---|"]
            lines += [f"| {key} | {'pass' if ok else '**FAIL**'} |" for key, ok in o.checks.items()]
            lines.append("")
        lines += [f"Files: {', '.join(f'`{f}`' for f in o.files)}. Step time {timings[name]:.1f} s.", ""]
    verdict = "all checks passed" if summary["passed"] else "SOME CHECKS FAILED"
    lines += [f"**{verdict}**; machine-readable figures in `summary.json`.", ""]
    return "\n".join(lines)
