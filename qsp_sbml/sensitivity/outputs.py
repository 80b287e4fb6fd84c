"""Scalar outputs of a sensitivity analysis, computed from simulated trajectories.

``values[run, time, selection]`` (a :class:`~qsp_sbml.population.simulation.CohortResult`'s array) becomes
one column per output (a trajectory output gives one column per time): the selection at a time, an NCA
metric (:func:`qsp_sbml.metrics.nca`), the first time a threshold is crossed, or a biomarker summary over an
interval.

Examples
--------
>>> import numpy as np
>>> from qsp_sbml.sensitivity.spec import TimeToOutput
>>> t = np.array([0.0, 1.0, 2.0, 3.0])
>>> out = TimeToOutput(id="t", kind="time_to", selection="C", threshold=0.5, direction="below")
>>> float(time_to(t, np.array([2.0, 1.0, 0.0, 0.0]), out))
1.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qsp_sbml.metrics import auc, nca
from qsp_sbml.sensitivity.spec import (
    Metric,
    NcaOutput,
    OutputSpec,
    ResponderRateOutput,
    Statistic,
    SummaryOutput,
    TimeToOutput,
    TrajectoryOutput,
    ValueOutput,
)

__all__ = ["OutputColumn", "evaluate_outputs", "output_columns", "responds", "time_to"]


@dataclass(frozen=True)
class OutputColumn:
    """One analysed column: output id and time (NaN except for trajectory outputs)."""

    output: str
    time: float


def output_columns(outputs: Sequence[OutputSpec], times: np.ndarray) -> list[OutputColumn]:
    """The columns :func:`evaluate_outputs` returns, in order."""
    cols: list[OutputColumn] = []
    for o in outputs:
        if isinstance(o, TrajectoryOutput):
            cols += [OutputColumn(o.id, float(t)) for t in times]
        else:
            cols.append(OutputColumn(o.id, math.nan))
    return cols


def _window(times: np.ndarray, y: np.ndarray, interval: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    if interval is None:
        return times, y
    keep = (times >= interval[0] - 1e-12) & (times <= interval[1] + 1e-12)
    return times[keep], y[keep]


def time_to(times: np.ndarray, y: np.ndarray, out: TimeToOutput) -> float:
    """First time ``y`` reaches the threshold (linear interpolation); the last time when it never does."""
    s = (y - out.threshold) if out.direction == "above" else (out.threshold - y)
    hit = np.nonzero(s >= 0)[0]
    if hit.size == 0:
        return float(times[-1])
    k = int(hit[0])
    if k == 0:
        return float(times[0])
    # s[k-1] < 0 <= s[k]: interpolate the crossing
    return float(times[k - 1] + (times[k] - times[k - 1]) * (-s[k - 1]) / (s[k] - s[k - 1]))


def responds(times: np.ndarray, y: np.ndarray, out: ResponderRateOutput) -> float:
    """1.0 when the subject's value (change, percent change from the first time) at ``out.time`` meets the criterion.

    >>> from qsp_sbml.sensitivity.spec import ResponderRateOutput
    >>> o = ResponderRateOutput(id="r", kind="responder_rate", selection="PASI", time=2, threshold=-75)
    >>> responds(np.array([0.0, 1, 2]), np.array([20.0, 10, 4]), o)   # -80 % <= -75 %
    1.0
    """
    v = float(y[int(np.argmin(np.abs(times - out.time)))])
    base = float(y[0])
    if out.of == "change":
        v -= base
    elif out.of == "percent_change":
        if base == 0:
            return math.nan
        v = 100.0 * (v - base) / base
    return float(v <= out.threshold if out.direction == "below" else v >= out.threshold)


def _summary(times: np.ndarray, y: np.ndarray, out: SummaryOutput) -> float:
    t, v = _window(times, y, out.interval)
    st = out.statistic
    if st is Statistic.MEAN:  # time-averaged (trapezoid), not the mean of the samples
        return float(auc(t, v, method="linear") / (t[-1] - t[0]))
    if st is Statistic.MIN:
        return float(v.min())
    if st is Statistic.MAX:
        return float(v.max())
    if st is Statistic.AUC:
        return float(auc(t, v, method="linear"))
    if st is Statistic.CHANGE:
        return float(v[-1] - v[0])
    return float(100.0 * (v[-1] - v[0]) / v[0]) if v[0] != 0 else math.nan


def _scalar(times: np.ndarray, y: np.ndarray, out: OutputSpec) -> float:
    if not np.all(np.isfinite(y)):
        return math.nan
    if isinstance(out, ValueOutput):
        return float(y[int(np.argmin(np.abs(times - out.time)))])
    if isinstance(out, NcaOutput):
        if out.metric in (Metric.AUC_INF, Metric.T_HALF):  # need the terminal phase: the full NCA
            r = nca(times, y, interval=out.interval)
            return float(r.auc_inf if out.metric is Metric.AUC_INF else r.t_half)
        t, c = _window(times, y, out.interval)  # as nca() computes them, without its terminal-phase fit
        if out.metric is Metric.CMAX:
            return float(c.max())
        if out.metric is Metric.TMAX:
            return float(t[int(np.argmax(c))])
        if out.metric is Metric.CTROUGH:
            return float(c[-1])
        positive = np.nonzero(c > 0)[0]
        last = int(positive[-1]) if positive.size else 0
        return float(auc(t[: last + 1], c[: last + 1])) if last >= 1 else 0.0
    if isinstance(out, TimeToOutput):
        return time_to(times, y, out)
    if isinstance(out, ResponderRateOutput):  # one subject: 1.0 responds, 0.0 does not
        return responds(times, y, out)
    assert isinstance(out, SummaryOutput)  # noqa: S101  (trajectory outputs are handled by the caller)
    return _summary(times, y, out)


def evaluate_outputs(
    values: np.ndarray, times: np.ndarray, selections: Sequence[str], outputs: Sequence[OutputSpec]
) -> np.ndarray:
    """``values[run, time, selection]`` -> ``(run, column)`` array of :func:`output_columns`.

    A run whose trajectory has NaN (a failed simulation) gives NaN in every column.
    """
    cols = []
    for o in outputs:
        j = list(selections).index(o.selection)
        if isinstance(o, TrajectoryOutput):
            cols.append(values[:, :, j])
        else:
            cols.append(np.array([[_scalar(times, values[r, :, j], o)] for r in range(values.shape[0])]))
    return np.concatenate(cols, axis=1) if cols else np.empty((values.shape[0], 0))
