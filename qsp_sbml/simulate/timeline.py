"""Integrate a compiled model through a dosing timeline.

Between dosing instants the model is integrated by CVODE; at each instant the
actions are applied (amounts added, infusion rates changed) and integration
restarts, so discontinuities are never stepped over.  The value reported at a
dosing time is the value just after the dose, as with SBML events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qsp_sbml.errors import SimulationError
from qsp_sbml.simulate.plan import Action, group_by_time

__all__ = ["failure_hint", "run_timeline"]


def _current(rr: Any, selections: Sequence[str]) -> np.ndarray:
    return np.array([rr.getValue(s) for s in selections], dtype=float)


def _apply(rr: Any, group: Sequence[Action], rates: Mapping[str, str]) -> None:
    for action in group:
        if action.bolus:
            rr.setValue(action.target, rr.getValue(action.target) + action.bolus)
        if action.rate:
            pid = rates[action.target]
            value = rr.getValue(pid) + action.rate
            rr.setValue(pid, 0.0 if abs(value) < 1e-12 * abs(action.rate) else value)


def failure_hint(rr: Any) -> str:
    """The integrator settings in force and what to change, for an integration failure's message."""
    try:
        integrator = rr.getIntegrator()
        rtol, atol = integrator.getValue("relative_tolerance"), integrator.getValue("absolute_tolerance")
        steps = integrator.getValue("maximum_num_steps")
    except (RuntimeError, AttributeError):
        return ""
    return (f" (CVODE with rtol={rtol:g}, atol={atol:g}, max_steps={steps}); a stiff or badly scaled model may "
            "integrate with looser tolerances, e.g. IntegratorOptions(rtol=1e-6, atol=1e-10) or --rtol 1e-6 "
            "--atol 1e-10, or with a larger max_steps")


def _merge_close(grid: np.ndarray, negligible: float) -> np.ndarray:
    """Drop grid points within ``negligible`` of the previous kept point (CVODE refuses such steps: CV_TOO_CLOSE)."""
    kept = [grid[0]]
    for value in grid[1:]:
        if value - kept[-1] > negligible:
            kept.append(value)
    return np.asarray(kept)


def run_timeline(
    rr: Any,
    times: np.ndarray,
    actions: Sequence[Action],
    rates: Mapping[str, str],
    *,
    start: float = 0.0,
) -> np.ndarray:
    """Simulate from ``start`` and return values at ``times`` (rows) x selections.

    ``rr.timeCourseSelections`` must be set; ``rates`` maps infusion targets to
    their rate parameters.
    """
    selections = list(rr.timeCourseSelections)
    out = np.empty((len(times), len(selections)))
    end = float(times[-1])
    groups = [g for g in group_by_time(actions) if g[0] <= end]
    filled = 0
    t = start
    # a segment shorter than this is no time at all: CVODE cannot step it (e.g. a dose at t = 1e-311)
    negligible = 1e-13 * max(abs(start), abs(end), 1e-300)
    for k in range(len(groups) + 1):
        last = k == len(groups)
        seg_end = end if last else groups[k][0]
        stop = int(np.searchsorted(times, seg_end, side="right" if last else "left"))
        seg_out = times[filled:stop]
        if seg_end - t > negligible:
            grid = _merge_close(np.unique(np.concatenate(([t], seg_out, [seg_end]))), negligible)
            try:
                values = np.asarray(rr.simulate(times=grid))
            except RuntimeError as err:
                raise SimulationError(
                    f"integration failed between t={t:g} and t={seg_end:g}: {err}{failure_hint(rr)}", time=t
                ) from err
            rows = np.searchsorted(grid, seg_out, side="right") - 1  # an output time merged into an earlier point
            out[filled:stop] = values[rows]
        elif len(seg_out):
            out[filled:stop] = _current(rr, selections)
        filled = stop
        if seg_end - t > negligible:
            t = seg_end
        if not last:
            _apply(rr, groups[k][1], rates)
    return out
