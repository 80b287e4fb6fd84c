"""Plots (matplotlib, imported lazily): they draw results and never simulate."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml._io import atomic_write_bytes
from qsp_sbml._optional import require

__all__ = ["predicted_vs_observed", "pyplot", "save_figure"]


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
