"""``qsp-sbml demo``: the flagship end-to-end run on shipped defaults, and the foundation checks.

- :func:`run_demo`: compose -> calibrate -> virtual population (:data:`~qsp_sbml.demo.steps.STEPS`) into
  one report folder (``report.md``, ``summary.json``, PNG plots, the models and tables).
- :func:`run_foundation`: the foundation's closed-form checks on the theophylline model
  (``qsp-sbml demo --foundation``).
"""

from __future__ import annotations

from qsp_sbml.demo.flagship import run_demo
from qsp_sbml.demo.foundation import closed_form_oral, run_foundation
from qsp_sbml.demo.pipeline import DemoSettings

__all__ = ["DemoSettings", "closed_form_oral", "run_demo", "run_foundation"]
