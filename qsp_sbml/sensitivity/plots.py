"""Sensitivity plots (matplotlib through :mod:`qsp_sbml.plot`): they draw index tables, never simulate.

Examples
--------
>>> import pandas as pd, tempfile, pathlib
>>> t = pd.DataFrame({"output": "y", "time": float("nan"), "factor": ["a", "a", "b", "b"],
...                   "index": ["S1", "ST"] * 2, "value": [0.6, 0.7, 0.3, 0.3],
...                   "ci_low": [0.5, 0.6, 0.2, 0.25], "ci_high": [0.7, 0.8, 0.4, 0.35]})
>>> sobol_bars(t, "y", pathlib.Path(tempfile.mkdtemp()) / "y.png").name
'y.png'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qsp_sbml.plot import pyplot, save_figure

__all__ = ["morris_plot", "sobol_bars", "sobol_over_time"]


def _rows(table: pd.DataFrame, output: str, index: str) -> pd.DataFrame:
    return table[(table["output"] == output) & (table["index"] == index)]


def morris_plot(table: pd.DataFrame, output: str, path: str | Path) -> Path:
    """Morris mu* (with its bootstrap interval) against sigma, one labelled point per factor."""
    plt = pyplot()
    mu = _rows(table, output, "mu_star").set_index("factor")
    sigma = _rows(table, output, "sigma").set_index("factor")["value"]
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    xerr = np.vstack([mu["value"] - mu["ci_low"], mu["ci_high"] - mu["value"]]).clip(min=0)
    ax.errorbar(mu["value"], sigma.loc[mu.index], xerr=xerr, fmt="o", ms=4, capsize=2, lw=0.8)
    peak = float(mu["value"].max())
    small = [f for f in mu.index if mu.loc[f, "value"] < 0.1 * peak]
    for f in mu.index:
        if f not in small:  # labels of the factors near the origin would only overlap
            ax.annotate(
                str(f), (mu.loc[f, "value"], sigma.loc[f]), textcoords="offset points", xytext=(4, 3), fontsize=8
            )
    if small:
        ax.text(
            0.98,
            0.02,
            f"not labelled (mu* < 10 % of the largest): {', '.join(map(str, small))}",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=6,
            wrap=True,
        )
    top = float(max(mu["ci_high"].max(), sigma.max(), 1e-12)) * 1.1
    ax.plot([0, top], [0, top], "k:", lw=0.6, label="sigma = mu*")
    ax.set(
        xlim=(0, top),
        ylim=(0, top),
        xlabel="mu* (mean |elementary effect|)",
        ylabel="sigma (std of elementary effects)",
        title=f"Morris screening: {output}",
    )
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def sobol_bars(table: pd.DataFrame, output: str, path: str | Path) -> Path:
    """First- and total-order indices per factor (sorted by total order) with bootstrap intervals."""
    plt = pyplot()
    s1 = _rows(table, output, "S1").set_index("factor")
    st = _rows(table, output, "ST").set_index("factor").sort_values("value", ascending=False)
    s1 = s1.loc[st.index]
    x = np.arange(len(st))
    fig, ax = plt.subplots(figsize=(max(4.0, 0.55 * len(st) + 1.5), 3.8))
    for off, rows, label in ((-0.2, s1, "first order S1"), (0.2, st, "total order ST")):
        err = np.vstack([rows["value"] - rows["ci_low"], rows["ci_high"] - rows["value"]]).clip(min=0)
        ax.bar(x + off, rows["value"], width=0.4, yerr=err, capsize=2, label=label)
    ax.set_xticks(x, [str(f) for f in st.index], rotation=45, ha="right", fontsize=8)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(ylabel="Sobol index", title=f"Sobol indices: {output}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def sobol_over_time(table: pd.DataFrame, output: str, path: str | Path, *, index: str = "ST", top: int = 6) -> Path:
    """Sobol indices of a trajectory output over time (the ``top`` factors by their largest index), with bands."""
    plt = pyplot()
    rows = _rows(table, output, index).dropna(subset=["time"])
    peak = rows.groupby("factor")["value"].max().sort_values(ascending=False)
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    for k, f in enumerate(peak.index[:top]):
        r = rows[rows["factor"] == f].sort_values("time")
        ax.plot(r["time"], r["value"], color=f"C{k}", label=str(f))
        ax.fill_between(r["time"], r["ci_low"], r["ci_high"], color=f"C{k}", alpha=0.15, lw=0)
    ax.set(
        xlabel="time",
        ylabel=f"{index}",
        ylim=(min(0.0, float(rows["ci_low"].min())), 1.05),
        title=f"Sobol {index} over time: {output}",
    )
    ax.legend(fontsize=8, loc="upper right", framealpha=0.7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
