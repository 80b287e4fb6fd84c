"""The flagship demo: the pipeline of :data:`qsp_sbml.demo.steps.STEPS` with settings from the environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qsp_sbml.demo.pipeline import ENV_REPLICATES, ENV_STARTS, ENV_SUBJECTS, DemoSettings, Step, run_pipeline

__all__ = ["run_demo", "settings_from_env"]


def settings_from_env(**overrides: Any) -> DemoSettings:
    """Settings with ``$QSP_SBML_DEMO_SUBJECTS`` / ``_STARTS`` / ``_REPLICATES`` as defaults (CI caps)."""
    values: dict[str, Any] = {}
    for key, env in (("n_subjects", ENV_SUBJECTS), ("n_starts", ENV_STARTS), ("n_replicates", ENV_REPLICATES)):
        text = os.environ.get(env)
        if text:
            try:
                values[key] = int(text)
            except ValueError:
                raise ValueError(f"${env}={text!r}: expected a positive integer") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return DemoSettings(**values)


def run_demo(out_dir: str | Path, settings: DemoSettings | None = None, *, steps: Sequence[Step] | None = None,
             echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the flagship pipeline into the report folder ``out_dir``; return the summary.

    Parameters
    ----------
    out_dir
        Report folder (replaced whole when the run succeeds; untouched when it fails).
    settings
        Sizes and seed (default: :func:`settings_from_env`).
    steps
        The steps to run (default :data:`qsp_sbml.demo.steps.STEPS`).
    echo
        Receives one progress line per finished step.
    """
    from qsp_sbml.demo.steps import STEPS

    return run_pipeline(out_dir, steps if steps is not None else STEPS, settings or settings_from_env(), echo=echo)
