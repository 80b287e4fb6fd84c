"""Plots (matplotlib, imported lazily): they draw results and never simulate."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml._io import atomic_write_bytes
from qsp_sbml._optional import require

__all__ = [
    "forest",
    "power_curve",
    "predicted_vs_observed",
    "prediction_band",
    "pyplot",
    "save_figure",
    "spaghetti",
    "waterfall",
]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (``plot`` extra; imported only here)."""
    require("matplotlib", extra="plot")
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, *, dpi: int = 110) -> Path:
    """Write ``fig`` atomically (format from the suffix: ``.png``, ``.pdf``, ``.svg``) and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=Path(path).suffix.lstrip(".") or "png", dpi=dpi)
    pyplot().close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def predicted_vs_observed(table: pd.DataFrame, path: str | Path, *, title: str = "") -> Path:
    """Log-log scatter of ``predicted`` vs ``observed`` per ``metric``, with unity and 2-fold lines.

    ``table`` needs the columns ``observed``, ``predicted``, ``metric`` and ``drug``
    (as :meth:`qsp_sbml.pbpk.validation.ValidationResult.table` gives).  The
    figure is written atomically (format from the suffix: ``.png``, ``.pdf``, ``.svg``).
    """
    plt = pyplot()
    metrics = list(dict.fromkeys(table["metric"]))
    drugs = list(dict.fromkeys(table["drug"]))
    colours = {d: f"C{i % 10}" for i, d in enumerate(drugs)}
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        sub = table[table["metric"] == metric]
        lo = float(min(sub["observed"].min(), sub["predicted"].min())) / 3
        hi = float(max(sub["observed"].max(), sub["predicted"].max())) * 3
        line = np.array([lo, hi])
        ax.plot(line, line, "k-", lw=0.8)
        for f in (2.0, 0.5):
            ax.plot(line, line * f, "k--", lw=0.6)
        for drug, rows in sub.groupby("drug"):
            ax.scatter(rows["observed"], rows["predicted"], color=colours[str(drug)], s=22)
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), title=metric,
               xlabel="observed", ylabel="predicted")
    handles = [plt.Line2D([], [], marker="o", ls="", color=colours[d], label=d) for d in drugs]
    fig.legend(handles=handles, loc="center right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.88, 1))
    return save_figure(fig, path, dpi=120)


def _finite_rows(values: np.ndarray) -> np.ndarray:
    """Rows (subjects) of a subjects x times array without NaN (failed subjects are left out)."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"values must be a 2-D array (subjects x times), got shape {arr.shape}")
    return arr[np.all(np.isfinite(arr), axis=1)]


def prediction_band(times: np.ndarray, values: np.ndarray, path: str | Path, *, level: float = 0.9,
                    observed: pd.DataFrame | None = None, xlabel: str = "time", ylabel: str = "",
                    title: str = "", logy: bool = False, time_scale: float = 1.0) -> Path:
    """Median and a central ``level`` prediction band over subjects (concentration-time, biomarker-time).

    ``values`` is subjects x times (rows with NaN, failed subjects, are left out); ``observed``, when given,
    has columns ``time`` and ``value`` (drawn as points; ``lower``/``upper`` as error bars when present).
    ``time_scale`` divides the times for display (e.g. 168 for weeks on an hourly model).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> t = np.linspace(0, 10, 11)
    >>> v = np.exp(-np.outer(np.linspace(0.1, 0.5, 20), t))
    >>> out = prediction_band(t, v, pathlib.Path(tempfile.mkdtemp()) / "band.png")
    >>> out.suffix
    '.png'
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rows = _finite_rows(values)
    if not len(rows):
        raise ValueError("no finite trajectory to draw")
    plt = pyplot()
    x = np.asarray(times, dtype=float) / time_scale
    lo, med, hi = np.quantile(rows, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.fill_between(x, lo, hi, color="C0", alpha=0.25, lw=0, label=f"{level:.0%} prediction band")
    ax.plot(x, med, color="C0", lw=1.6, label=f"median ({len(rows)} subjects)")
    if observed is not None:
        obs_x = observed["time"].to_numpy(float) / time_scale
        obs_y = observed["value"].to_numpy(float)
        if {"lower", "upper"} <= set(observed.columns):
            err = np.vstack([obs_y - observed["lower"].to_numpy(float), observed["upper"].to_numpy(float) - obs_y])
            ax.errorbar(obs_x, obs_y, yerr=err, fmt="o", color="k", ms=4, capsize=3, label="observed")
        else:
            ax.plot(obs_x, obs_y, "o", color="k", ms=4, label="observed")
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def spaghetti(times: np.ndarray, values: np.ndarray, path: str | Path, *, n: int = 50, seed: int = 0,
              xlabel: str = "time", ylabel: str = "", title: str = "", time_scale: float = 1.0) -> Path:
    """Individual trajectories of ``n`` subjects drawn at random (seeded) with the median over all subjects."""
    rows = _finite_rows(values)
    if not len(rows):
        raise ValueError("no finite trajectory to draw")
    plt = pyplot()
    x = np.asarray(times, dtype=float) / time_scale
    pick = np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for k in pick:
        ax.plot(x, rows[k], color="C0", lw=0.6, alpha=0.35)
    ax.plot(x, np.median(rows, axis=0), color="k", lw=1.6, label=f"median of {len(rows)}")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or f"{len(pick)} individual trajectories")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def power_curve(table: pd.DataFrame, path: str | Path, *, target: float = 0.8, title: str = "") -> Path:
    """Power against sample size: ``table`` has ``n`` and ``power`` (optional ``lower``, ``upper``, ``label``)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    groups = table.groupby("label", sort=False) if "label" in table.columns else [("", table)]
    for label, rows in groups:
        rows = rows.sort_values("n")
        line = ax.plot(rows["n"], rows["power"], "o-", label=str(label) or None)[0]
        if {"lower", "upper"} <= set(rows.columns):
            ax.fill_between(rows["n"], rows["lower"], rows["upper"], color=line.get_color(), alpha=0.2, lw=0)
    ax.axhline(target, color="k", ls="--", lw=0.8)
    ax.set(xlabel="subjects per arm", ylabel="power", ylim=(0, 1.02), title=title)
    if "label" in table.columns:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def forest(table: pd.DataFrame, path: str | Path, *, reference: float | None = None, xlabel: str = "estimate",
           title: str = "", log: bool = False) -> Path:
    """Forest plot: one row per ``label`` with ``estimate`` and its interval ``lower``-``upper``."""
    plt = pyplot()
    rows = table.reset_index(drop=True)
    y = np.arange(len(rows))[::-1]
    fig, ax = plt.subplots(figsize=(6.0, 0.45 * len(rows) + 1.2))
    est = rows["estimate"].to_numpy(float)
    err = np.vstack([est - rows["lower"].to_numpy(float), rows["upper"].to_numpy(float) - est])
    ax.errorbar(est, y, xerr=err, fmt="s", color="k", ms=5, capsize=3)
    if reference is not None:
        ax.axvline(reference, color="C3", ls="--", lw=0.8)
    ax.set_yticks(y, [str(v) for v in rows["label"]])
    if log:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, title=title)
    fig.tight_layout()
    return save_figure(fig, path)


def waterfall(values: np.ndarray | pd.Series, path: str | Path, *, ylabel: str = "best change from baseline (%)",
              title: str = "", thresholds: tuple[float, ...] = ()) -> Path:
    """Per-subject values (e.g. best % change) sorted from largest to smallest as bars (NaN left out)."""
    plt = pyplot()
    v = np.asarray(values, dtype=float)
    v = np.sort(v[np.isfinite(v)])[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    ax.bar(np.arange(len(v)), v, width=1.0, color=np.where(v < 0, "C0", "C3"))
    for level in thresholds:
        ax.axhline(level, color="k", ls="--", lw=0.8)
    ax.set(xlabel=f"subjects (sorted, n = {len(v)})", ylabel=ylabel, title=title)
    ax.set_xticks([])
    fig.tight_layout()
    return save_figure(fig, path)
