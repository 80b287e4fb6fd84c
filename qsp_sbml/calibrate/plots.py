"""Plots of calibration results (matplotlib, imported lazily; Agg backend when writing files)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml._optional import require
from qsp_sbml.petab import PetabObjective

__all__ = ["plot_fit", "plot_profiles", "plot_traces", "plot_waterfall"]


def _pyplot() -> Any:
    matplotlib = require("matplotlib", extra="plot")
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", extra="plot")


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    import io

    from qsp_sbml._io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    fig.clf()
    return atomic_write_bytes(path, buf.getvalue())


def plot_waterfall(starts: pd.DataFrame, path: str | os.PathLike[str], *, tol: float = 0.1) -> Path:
    """Final objective values of the starts, sorted (failed starts left out), relative to the best."""
    plt = _pyplot()
    fval = np.sort(starts["fval"].to_numpy(float)[np.isfinite(starts["fval"].to_numpy(float))])
    fig, ax = plt.subplots(figsize=(6, 4))
    if fval.size:
        rel = fval - fval[0] + 1.0
        near = rel <= 1.0 + tol
        ax.semilogy(np.flatnonzero(near) + 1, rel[near], "o", color="tab:green",
                    label=f"within {tol} of best ({int(near.sum())})")
        ax.semilogy(np.flatnonzero(~near) + 1, rel[~near], "o", color="tab:gray", label="others")
        ax.legend()
    ax.set_xlabel("start (sorted)")
    ax.set_ylabel("objective - best + 1")
    ax.set_title(f"waterfall: {fval.size} of {len(starts)} starts finite")
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_fit(objective: PetabObjective, x: np.ndarray, path: str | os.PathLike[str], *,
             max_groups: int = 12) -> Path:
    """Measurements (points) and simulations (lines) at ``x``, one panel per observable."""
    plt = _pyplot()
    sims = objective.evaluate(x).simulations
    meas = objective.problem.spec.measurement_df
    group = "simulationConditionId" if "simulationConditionId" in sims.columns else "experimentId"
    observables = list(dict.fromkeys(sims["observableId"]))
    ncol = min(3, len(observables))
    nrow = -(-len(observables) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.5 * ncol, 3.5 * nrow), squeeze=False)
    for ax, oid in zip(axes.ravel(), observables, strict=False):
        rows = sims["observableId"] == oid
        groups = list(dict.fromkeys(sims.loc[rows, group].astype(str)))
        for k, g in enumerate(groups[:max_groups]):
            sel = rows & (sims[group].astype(str) == g)
            order = np.argsort(sims.loc[sel, "time"].to_numpy(float), kind="stable")
            t = sims.loc[sel, "time"].to_numpy(float)[order]
            color = f"C{k % 10}"
            ax.plot(t, sims.loc[sel, "simulation"].to_numpy(float)[order], "-", color=color, lw=1)
            ax.plot(meas.loc[sel, "time"], meas.loc[sel, "measurement"], "o", color=color, ms=3, label=g)
        ax.set_title(oid + (f" (first {max_groups} of {len(groups)})" if len(groups) > max_groups else ""))
        ax.set_xlabel("time")
        if len(groups) <= 6:
            ax.legend(fontsize=7)
    for ax in axes.ravel()[len(observables):]:
        ax.set_visible(False)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_profiles(table: pd.DataFrame, path: str | os.PathLike[str], *, ratio: float | None = None) -> Path:
    """Profile likelihood ratio against each profiled parameter (parameter scale)."""
    from qsp_sbml.calibrate.profile import CONFIDENCE_RATIO_95

    plt = _pyplot()
    pids = list(dict.fromkeys(table["parameter"]))
    fig, axes = plt.subplots(1, len(pids), figsize=(4 * len(pids), 3.5), squeeze=False)
    for ax, pid in zip(axes.ravel(), pids, strict=True):
        grp = table[table["parameter"] == pid]
        ax.plot(grp["value"], grp["ratio"], "-o", ms=2)
        ax.axhline(CONFIDENCE_RATIO_95 if ratio is None else ratio, color="gray", ls="--", lw=1)
        ax.set_xlabel(pid)
        ax.set_ylabel("likelihood ratio")
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def plot_traces(draws: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """MCMC traces after burn-in (linear scale), one panel per column of ``draws``."""
    plt = _pyplot()
    cols = list(draws.columns)
    fig, axes = plt.subplots(len(cols), 1, figsize=(7, 1.6 * len(cols)), squeeze=False, sharex=True)
    for ax, col in zip(axes.ravel(), cols, strict=True):
        ax.plot(draws[col].to_numpy(float), lw=0.6)
        ax.set_ylabel(col, fontsize=8)
    axes.ravel()[-1].set_xlabel("iteration after burn-in")
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
