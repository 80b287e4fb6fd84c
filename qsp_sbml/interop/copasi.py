"""Simulate an SBML file with COPASI (through basico): a second simulator for exchange tests.

COPASI reads the file itself, including ``comp`` documents (it flattens them
with its own libSBML), so agreement with RoadRunner checks the exchange, not
just the integrator.  Element names are dropped before loading so that COPASI
names every object by its SBML id.  Needs the ``copasi`` extra
(``pip install 'qsp-sbml[copasi]'``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import libsbml
import numpy as np
import pandas as pd

from qsp_sbml._optional import require
from qsp_sbml.errors import SbmlError, SimulationError

__all__ = ["compare_with_roadrunner", "relative_difference", "simulate_copasi"]


def _sbml_with_ids_as_names(path: Path) -> str:
    doc = libsbml.readSBMLFromFile(str(path))
    if doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) + doc.getNumErrors(libsbml.LIBSBML_SEV_FATAL):
        raise SbmlError(f"{path}: libSBML cannot read this file: {doc.getError(0).getMessage().strip()}")
    elements = doc.getListOfAllElements()
    for i in range(elements.getSize()):
        element = elements.get(i)
        if element.isSetName():
            element.unsetName()
    return str(libsbml.writeSBMLToString(doc))


def _output_name(selection: str, species: set[str], parameters: set[str], compartments: set[str],
                 reactions: set[str], path: Path) -> tuple[str, bool]:
    """COPASI display name for a RoadRunner selection; True when it is a particle number (amount)."""
    if selection.startswith("[") and selection.endswith("]") and selection[1:-1] in species:
        return selection, False
    if selection in species:
        return f"{selection}.ParticleNumber", True
    if selection in parameters:
        return f"Values[{selection}]", False
    if selection in compartments:
        return f"Compartments[{selection}].Volume", False
    if selection in reactions:
        return f"({selection}).Flux", False
    raise SbmlError(f"{path}: COPASI's model has no species, parameter, compartment or reaction {selection!r}",
                    sbml_id=selection)


def simulate_copasi(
    sbml_path: str | os.PathLike[str],
    times: Sequence[float] | np.ndarray,
    selections: Sequence[str],
    *,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    max_steps: int = 1_000_000,
) -> pd.DataFrame:
    """Simulate ``sbml_path`` with COPASI (LSODA) from t=0; report ``selections`` at ``times``.

    Parameters
    ----------
    sbml_path
        An SBML file (flat or ``comp``; regimens written as SBML events).
    times
        Output times (model time units), non-decreasing, starting at or after 0.
    selections
        RoadRunner syntax: ``S`` species amount, ``[S]`` concentration,
        parameter, compartment or reaction ids (flat ids, ``sub__x``, for a
        comp document).
    rtol, atol
        COPASI's relative and absolute tolerances.
    max_steps
        Maximum internal steps.

    Returns
    -------
    pandas.DataFrame
        Column ``time`` plus one column per selection, in model units.
    """
    basico = require("basico", extra="copasi")
    path = Path(sbml_path)
    t = np.asarray(times, dtype=float).ravel()
    if t.size == 0 or t[0] < 0 or np.any(np.diff(t) < 0) or not np.all(np.isfinite(t)):
        raise ValueError("times must be finite, non-decreasing and >= 0")
    dm: Any = basico.load_model(_sbml_with_ids_as_names(path))
    if dm is None:
        raise SbmlError(f"{path}: COPASI could not load this model")
    try:
        model = dm.getModel()
        species = set(basico.get_species(model=dm).index) if model.getNumMetabs() else set()
        params = set(basico.get_parameters(model=dm).index) if model.getNumModelValues() else set()
        comps = set(basico.get_compartments(model=dm).index) if model.getNumCompartments() else set()
        reactions = set(basico.get_reactions(model=dm).index) if model.getNumReactions() else set()
        names = [_output_name(s, species, params, comps, reactions, path) for s in selections]
        frame = basico.run_time_course_with_output(
            ["Time", *(n for n, _ in names)], values=list(t), start_time=0.0, model=dm, a_tol=atol, r_tol=rtol,
            max_steps=max_steps, automatic=False, use_initial_values=True,
        )
        if frame is None or len(frame) == 0:
            raise SimulationError(f"{path}: COPASI returned no time course")
        factor = model.getQuantity2NumberFactor()
        got = frame["Time"].to_numpy(dtype=float)
        keep = [int(np.argmin(np.abs(got - ti))) for ti in t]
        if np.max(np.abs(got[keep] - t), initial=0.0) > 1e-9 * max(1.0, float(t[-1])):
            raise SimulationError(f"{path}: COPASI did not report the requested output times")
        out = pd.DataFrame({"time": t})
        for selection, (name, is_number) in zip(selections, names, strict=True):
            values = frame[name].to_numpy(dtype=float)[keep]
            out[selection] = values / factor if is_number else values
        return out
    finally:
        basico.remove_datamodel(dm)


def relative_difference(a: np.ndarray, b: np.ndarray, *, floor: float = 1e-9) -> float:
    """Max of ``|a - b| / |b|`` over the series; ``|b|`` below ``floor`` times its peak counts as that floor.

    Examples
    --------
    >>> relative_difference(np.array([1.0, 2.0]), np.array([1.0, 2.002]))  # doctest: +ELLIPSIS
    0.000999...
    >>> round(relative_difference(np.array([1.0, 1e-9]), np.array([1.0, 2e-9]), floor=1e-6), 9)
    0.001
    """
    b = np.asarray(b, dtype=float)
    floor = max(floor * float(np.max(np.abs(b), initial=0.0)), 1e-300)
    return float(np.max(np.abs(np.asarray(a, dtype=float) - b) / np.maximum(np.abs(b), floor), initial=0.0))


def compare_with_roadrunner(
    sbml_path: str | os.PathLike[str],
    times: Sequence[float] | np.ndarray,
    selections: Sequence[str],
    *,
    regimen: Any = None,
    rtol: float = 1e-10,
    atol: float = 1e-14,
) -> dict[str, float]:
    """Max relative difference between COPASI and RoadRunner for each selection.

    RoadRunner runs :meth:`qsp_sbml.Model.simulate` (with ``regimen`` on its
    timeline); COPASI runs the file itself when there is no regimen (a comp
    document is flattened by COPASI), else the flat model with the regimen
    written as SBML events (:meth:`qsp_sbml.Model.to_sbml`).  Keep output times
    off the dose times: at a dose time the two tools may report the value
    before or after the dose.
    """
    import tempfile

    from qsp_sbml.loading import load_model
    from qsp_sbml.simulate.options import IntegratorOptions

    t = np.asarray(times, dtype=float)
    model = load_model(sbml_path)
    rr = model.simulate(t, selections=list(selections), regimen=regimen,
                        options=IntegratorOptions(rtol=rtol, atol=atol))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(sbml_path)
        if regimen is not None:
            path = Path(tmp, "with_events.xml")
            path.write_text(model.to_sbml(regimen, end=float(t[-1])), encoding="utf-8")
        cps = simulate_copasi(path, t, selections, rtol=rtol, atol=atol)
    return {sel: relative_difference(cps[sel].to_numpy(), rr[sel].to_numpy()) for sel in selections}
