"""Write a sensitivity analysis to a folder (all or nothing) and summarise it on one screen.

Folder contents: ``indices.tsv`` (every index with its bootstrap interval), ``samples.tsv`` (the design and
every output per run), ``convergence.tsv`` (Sobol: indices at N/2 and N), ``summary.json`` (provenance and
the ranking per output), ``summary.txt`` (the screen summary, every factor), optionally ``petab/`` and
``petab_fixed.json`` (a PEtab problem with the non-influential parameters fixed), and PNG plots:
``morris_<output>.png`` (mu*-sigma), ``sobol_<output>.png`` (bars with intervals), ``sobol_time_<output>.png``
(indices over time for trajectory outputs).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml._io import atomic_folder
from qsp_sbml.sensitivity.run import GsaResult

__all__ = ["ranking", "screen", "summary", "write_results"]


def _scalar_outputs(result: GsaResult) -> list[str]:
    return list(dict.fromkeys(o for o, t in result.columns if math.isnan(t)))


def _trajectory_outputs(result: GsaResult) -> list[str]:
    return list(dict.fromkeys(o for o, t in result.columns if not math.isnan(t)))


def ranking(result: GsaResult, output: str) -> pd.DataFrame:
    """Factors of a scalar output by decreasing ST (Sobol) or mu* (Morris), with their intervals."""
    key = "ST" if result.design.method == "sobol" else "mu_star"
    t = result.indices
    rows = t[(t["output"] == output) & (t["index"] == key) & t["time"].isna()]
    return rows.sort_values("value", ascending=False).reset_index(drop=True)


def summary(result: GsaResult) -> dict[str, Any]:
    """JSON-ready provenance and, per scalar output, the factors in order with their main indices."""
    out: dict[str, Any] = {"kind": "gsa", **dict(result.attrs), "factors": result.design.factors, "outputs": {}}
    t = result.indices
    for o in _scalar_outputs(result):
        entry: dict[str, Any] = {"ranking": []}
        for r in ranking(result, o).itertuples():
            item = {"factor": r.factor}
            for idx in ("S1", "ST") if result.design.method == "sobol" else ("mu_star", "sigma"):
                row = t[(t["output"] == o) & (t["factor"] == r.factor) & (t["index"] == idx) & t["time"].isna()]
                v = row.iloc[0]
                item[idx] = [float(v.value), float(v.ci_low), float(v.ci_high)]
            entry["ranking"].append(item)
        if result.design.method == "sobol":
            s1 = t[(t["output"] == o) & (t["index"] == "S1") & t["time"].isna()]
            entry["sum_S1"] = [float(s1.value.sum()), float(s1.ci_low.sum()), float(s1.ci_high.sum())]
            if result.convergence is not None:
                c = result.convergence[result.convergence["output"] == o]
                entry["max_change_N_half_to_N"] = float(np.abs(c["change"]).max())
        out["outputs"][o] = entry
    out["trajectory_outputs"] = _trajectory_outputs(result)
    return out


def screen(result: GsaResult, *, top: int = 5) -> list[str]:
    """A one-screen text summary: per output, the leading factors with their intervals."""
    a = result.attrs
    sobol = result.design.method == "sobol"
    lines = [
        f"{a.get('method')} on {Path(str(a.get('model'))).name}: n = {a.get('n')}, {a.get('n_runs')} runs, "
        f"seed {a.get('seed')}, {len(result.design.factors)} factors, {a.get('wall_time_s', 0):.1f} s"
    ]
    s = summary(result)
    for o, entry in s["outputs"].items():
        extra = ""
        if sobol:
            v, lo, hi = entry["sum_S1"]
            extra = f"  (sum S1 {v:.2f} [{lo:.2f}, {hi:.2f}]"
            if "max_change_N_half_to_N" in entry:
                extra += f"; largest change N/2 -> N {entry['max_change_N_half_to_N']:.3f}"
            extra += ")"
        lines.append(f"{o}:{extra}")
        for item in entry["ranking"][:top]:
            if sobol:
                st, s1 = item["ST"], item["S1"]
                lines.append(
                    f"  {item['factor']:<24} ST {st[0]:6.3f} [{st[1]:6.3f}, {st[2]:6.3f}]   "
                    f"S1 {s1[0]:6.3f} [{s1[1]:6.3f}, {s1[2]:6.3f}]"
                )
            else:
                mu, sg = item["mu_star"], item["sigma"]
                lines.append(f"  {item['factor']:<24} mu* {mu[0]:.4g} [{mu[1]:.4g}, {mu[2]:.4g}]   sigma {sg[0]:.4g}")
        if len(entry["ranking"]) > top:
            lines.append(f"  ... {len(entry['ranking']) - top} more (indices.tsv)")
    for o in s["trajectory_outputs"]:
        lines.append(
            f"{o}: indices at {sum(1 for c in result.columns if c[0] == o)} times (indices.tsv"
            + (f", sobol_time_{o}.png)" if sobol else ")")
        )
    return lines


def write_results(
    result: GsaResult,
    folder: str | Path,
    *,
    plots: bool = True,
    petab: str | Path | None = None,
    fix_below: float = 0.05,
    petab_mapping: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Write tables, summary and plots to ``folder`` atomically (it appears whole, or not at all).

    With ``petab`` (a PEtab problem YAML; Sobol only) the folder also gets ``petab/``: that problem with the
    parameters whose ST is below ``fix_below`` for every scalar output fixed at their nominal values
    (:func:`qsp_sbml.sensitivity.calibration.fix_insensitive`; ``petab_mapping``: factor -> PEtab ids).
    """
    from qsp_sbml.sensitivity import plots as p

    with atomic_folder(folder) as tmp:
        if petab is not None:
            from qsp_sbml.sensitivity.calibration import fix_insensitive
            from qsp_sbml.sensitivity.spec import SensitivityError

            if result.design.method != "sobol":
                raise SensitivityError("fixing parameters in a PEtab problem needs total-order indices: use sobol")
            done = fix_insensitive(petab, result.indices, tmp / "petab", threshold=fix_below, mapping=petab_mapping)
            (tmp / "petab_fixed.json").write_text(
                json.dumps(
                    {
                        "threshold": fix_below,
                        **{k: v for k, v in vars(done).items() if k != "yaml"},
                        "yaml": str(Path("petab") / done.yaml.name),
                    },
                    indent=1,
                ),
                encoding="utf-8",
            )
        result.indices.to_csv(tmp / "indices.tsv", sep="\t", index=False, float_format="%.6g")
        result.samples().to_csv(tmp / "samples.tsv", sep="\t", index=False, float_format="%.10g")
        if result.convergence is not None:
            result.convergence.to_csv(tmp / "convergence.tsv", sep="\t", index=False, float_format="%.6g")
        (tmp / "summary.json").write_text(json.dumps(summary(result), indent=1, default=str), encoding="utf-8")
        (tmp / "summary.txt").write_text("\n".join(screen(result, top=50)) + "\n", encoding="utf-8")
        if plots:
            for o in _scalar_outputs(result):
                if result.design.method == "morris":
                    p.morris_plot(result.indices, o, tmp / f"morris_{o}.png")
                else:
                    p.sobol_bars(result.indices, o, tmp / f"sobol_{o}.png")
            if result.design.method == "sobol":
                for o in _trajectory_outputs(result):
                    p.sobol_over_time(result.indices, o, tmp / f"sobol_time_{o}.png")
    return Path(folder)
