"""Verification of DDI predictions against published clinical AUC and Cmax ratios.

A study table (TSV, one row per clinical DDI study arm; shipped as
``models/pbpk/validation/ddi_studies.tsv``) gives the design and the observed
ratios, each with its source. Every row is tagged ``verification`` (no
parameter of the drug records was fitted to DDI data) or ``building``; only
verification rows count in the acceptance figures:

* GMFE of the AUC ratios (``10^mean|log10(pred/obs)|``);
* the fraction of predicted AUC ratios inside the limits of Guest EJ et al.
  2011 (Drug Metab Dispos 39:170) with delta = 1.25
  (:func:`qsp_sbml.pbpk.ddi.guest_limits`), and within 2-fold.

Columns: ``id study victim perpetrator victim_route victim_dose_mg
victim_time_h perpetrator_route perpetrator_infusion_h perpetrator_doses obs_auc_ratio
obs_cmax_ratio role source``; ``perpetrator_doses`` is ``time_h:mg`` pairs
separated by spaces (``0:400 24:200``), ``obs_cmax_ratio`` may be empty.
Lines starting with ``#`` are comments (the table's provenance and selection
rule).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qsp_sbml.pbpk import ddi
from qsp_sbml.pbpk.drugs import DrugRecord
from qsp_sbml.pbpk.interaction import DdiStudy, predict_ddi

__all__ = [
    "ACCEPTANCE",
    "DdiObservation",
    "DdiStudyError",
    "failures",
    "load_ddi_studies",
    "plot",
    "report_markdown",
    "summarise",
    "verify",
    "write_report",
]

#: Acceptance of issue 20: GMFE of AUC ratios <= 1.5 and >= 80 % inside Guest's limits.
ACCEPTANCE = {"gmfe_auc": 1.5, "inside_guest": 0.80}

_COLUMNS = ("id", "study", "victim", "perpetrator", "victim_route", "victim_dose_mg", "victim_time_h",
            "perpetrator_route", "perpetrator_infusion_h", "perpetrator_doses", "obs_auc_ratio", "obs_cmax_ratio",
            "role", "source")


class DdiStudyError(ddi.DdiError):
    """A malformed DDI study table (names the file, the row and the column)."""


@dataclass(frozen=True)
class DdiObservation:
    """One row of the study table: a design and its observed ratios."""

    id: str
    study: str
    design: DdiStudy
    obs_auc_ratio: float
    obs_cmax_ratio: float | None
    role: str
    source: str


def _float(value: str, where: str, *, positive: bool = True, allow_empty: bool = False) -> float | None:
    if value.strip() == "" and allow_empty:
        return None
    try:
        x = float(value)
    except ValueError:
        raise DdiStudyError(f"{where}: not a number: {value!r}") from None
    if not math.isfinite(x) or (positive and x <= 0) or x < 0:
        raise DdiStudyError(f"{where}: must be finite and {'> 0' if positive else '>= 0'}, got {value!r}")
    return x


def _doses(value: str, where: str) -> tuple[tuple[float, float], ...]:
    out = []
    for item in value.split():
        t, sep, a = item.partition(":")
        if not sep:
            raise DdiStudyError(f"{where}: dose {item!r} must read time_h:mg (e.g. 0:400)")
        out.append((_float(t, where, positive=False) or 0.0, _float(a, where) or 0.0))
    if not out:
        raise DdiStudyError(f"{where}: no perpetrator doses")
    return tuple(out)


def load_ddi_studies(path: str | Path, drugs: Mapping[str, DrugRecord] | None = None) -> list[DdiObservation]:
    """Read and check a DDI study table; errors name the file, the row (line) and the column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DdiStudyError(f"{path}: cannot read the DDI study table ({err.strerror})") from None
    numbered = [(n, t) for n, t in enumerate(text.splitlines(), start=1) if t.strip() and not t.startswith("#")]
    if not numbered:
        raise DdiStudyError(f"{path}: no studies")
    reader = csv.DictReader([t for _, t in numbered], delimiter="\t")
    missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DdiStudyError(f"{path}, line {numbered[0][0]}: missing column(s) {missing}")
    out, seen = [], set()
    for (line, _), row in zip(numbered[1:], reader, strict=True):
        def where(col: str, line: int = line) -> str:
            return f"{path}, line {line}, column {col}"
        if row["id"] in seen:
            raise DdiStudyError(f"{where('id')}: duplicate id {row['id']!r}")
        seen.add(row["id"])
        for col in ("victim", "perpetrator"):
            if drugs is not None and row[col] not in drugs:
                raise DdiStudyError(f"{where(col)}: no drug record {row[col]!r}")
        if row["role"] not in ("verification", "building"):
            raise DdiStudyError(f"{where('role')}: must be 'verification' or 'building', got {row['role']!r}")
        if not row["source"].strip():
            raise DdiStudyError(f"{where('source')}: every observed ratio needs a source")
        try:
            design = DdiStudy(victim=row["victim"], perpetrator=row["perpetrator"],
                              victim_dose_mg=_float(row["victim_dose_mg"], where("victim_dose_mg")) or 0.0,
                              victim_route=row["victim_route"],
                              victim_time_h=_float(row["victim_time_h"], where("victim_time_h"), positive=False)
                              or 0.0,
                              perpetrator_doses=_doses(row["perpetrator_doses"], where("perpetrator_doses")),
                              perpetrator_route=row["perpetrator_route"],
                              perpetrator_infusion_h=_float(row["perpetrator_infusion_h"] or "0",
                                                            where("perpetrator_infusion_h"), positive=False) or 0.0)
        except ddi.DdiError as err:
            if isinstance(err, DdiStudyError):
                raise
            raise DdiStudyError(f"{path}, line {line}: {err}") from None
        out.append(DdiObservation(row["id"], row["study"], design,
                                  _float(row["obs_auc_ratio"], where("obs_auc_ratio")) or 0.0,
                                  _float(row["obs_cmax_ratio"], where("obs_cmax_ratio"), allow_empty=True),
                                  row["role"], row["source"]))
    if not out:
        raise DdiStudyError(f"{path}: no studies")
    return out


def verify(observations: Sequence[DdiObservation], drugs: Mapping[str, DrugRecord]) -> pd.DataFrame:
    """Predict every study (dynamic and static); one row per study with observed and predicted ratios."""
    rows = []
    for obs in observations:
        pred = predict_ddi(obs.design, drugs)
        lo, hi = ddi.guest_limits(obs.obs_auc_ratio)
        rows.append({
            "id": obs.id, "study": obs.study, "victim": obs.design.victim, "perpetrator": obs.design.perpetrator,
            "victim_route": obs.design.victim_route, "role": obs.role,
            "obs_auc_ratio": obs.obs_auc_ratio, "dyn_auc_ratio": pred.auc_ratio,
            "static_auc_ratio": pred.static_auc_ratio,
            "guest_low": lo, "guest_high": hi,
            "dyn_inside_guest": lo <= pred.auc_ratio <= hi, "static_inside_guest": lo <= pred.static_auc_ratio <= hi,
            "obs_cmax_ratio": obs.obs_cmax_ratio if obs.obs_cmax_ratio is not None else math.nan,
            "dyn_cmax_ratio": pred.cmax_ratio, "perp_cmax_mg_l": pred.perpetrator_cmax,
            "inlet_conc_um": pred.inlet_conc_um, "gut_conc_um": pred.gut_conc_um, "source": obs.source,
        })
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame, *, role: str = "verification") -> dict[str, float]:
    """GMFE, fraction inside Guest's limits and within 2-fold, for dynamic and static AUC ratios (and Cmax)."""
    t = table[table["role"] == role]
    out: dict[str, float] = {"n": float(len(t))}
    for kind in ("dyn", "static"):
        pred, obs = t[f"{kind}_auc_ratio"].tolist(), t["obs_auc_ratio"].tolist()
        out[f"{kind}_gmfe_auc"] = ddi.gmfe(pred, obs)
        out[f"{kind}_inside_guest"] = float(t[f"{kind}_inside_guest"].mean())
        out[f"{kind}_within_2fold"] = float(sum(0.5 <= p / o <= 2.0 for p, o in zip(pred, obs, strict=True)) / len(t))
    c = t.dropna(subset=["obs_cmax_ratio"])
    out["n_cmax"] = float(len(c))
    if len(c):
        out["dyn_gmfe_cmax"] = ddi.gmfe(c["dyn_cmax_ratio"].tolist(), c["obs_cmax_ratio"].tolist())
    return out


def failures(summary: Mapping[str, float]) -> list[str]:
    """The acceptance figures of the dynamic predictions that are not met (empty when all hold)."""
    out = []
    if summary["dyn_gmfe_auc"] > ACCEPTANCE["gmfe_auc"]:
        out.append(f"GMFE of AUC ratios {summary['dyn_gmfe_auc']:.3f} > {ACCEPTANCE['gmfe_auc']}")
    if summary["dyn_inside_guest"] < ACCEPTANCE["inside_guest"]:
        out.append(f"inside Guest's limits {100 * summary['dyn_inside_guest']:.1f} % < "
                   f"{100 * ACCEPTANCE['inside_guest']:.0f} %")
    return out


def plot(table: pd.DataFrame, path: str | Path) -> Path:
    """Predicted vs observed AUC ratios (dynamic and static) with Guest's limits and 2-fold lines (PNG)."""
    import io

    import numpy as np

    from qsp_sbml._io import atomic_write_bytes
    from qsp_sbml._optional import require

    matplotlib = require("matplotlib", extra="plot")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", extra="plot")
    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    lo_x = min(table["obs_auc_ratio"].min(), table["dyn_auc_ratio"].min(), table["static_auc_ratio"].min()) / 1.5
    hi_x = max(table["obs_auc_ratio"].max(), table["dyn_auc_ratio"].max(), table["static_auc_ratio"].max()) * 1.5
    grid = np.geomspace(min(lo_x, 0.5), hi_x, 200)
    limits = np.array([ddi.guest_limits(float(g)) for g in grid])
    ax.plot(grid, grid, "k-", lw=0.8, label="identity")
    ax.plot(grid, limits[:, 0], "k--", lw=0.8, label="Guest limits (delta 1.25)")
    ax.plot(grid, limits[:, 1], "k--", lw=0.8)
    ax.plot(grid, grid * 2, "k:", lw=0.8, label="2-fold")
    ax.plot(grid, grid / 2, "k:", lw=0.8)
    pairs = sorted(table.groupby(["victim", "perpetrator"]).groups)
    markers = "os^vDPX<>*hpd8H"  # no two hexagons (h, H) among the first 12 pairs
    if len(pairs) > len(markers):
        raise DdiStudyError(f"plot: {len(pairs)} victim/perpetrator pairs, at most {len(markers)} markers")
    for (victim, perp), marker in zip(pairs, markers, strict=False):
        t = table[(table["victim"] == victim) & (table["perpetrator"] == perp)]
        ax.scatter(t["obs_auc_ratio"], t["dyn_auc_ratio"], marker=marker, color="C0",
                   label=f"{victim} + {perp} (dynamic)")
        ax.scatter(t["obs_auc_ratio"], t["static_auc_ratio"], marker=marker, facecolors="none", edgecolors="C3",
                   label=f"{victim} + {perp} (static)")
    ax.set(xscale="log", yscale="log", xlabel="observed AUC ratio", ylabel="predicted AUC ratio",
           title="DDI: predicted vs observed AUC ratios")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(Path(path), buf.getvalue())


def report_markdown(table: pd.DataFrame, summary: Mapping[str, float], *, figure: str | None = None,
                    command: str = "qsp-sbml pbpk ddi verify --report DIR") -> str:
    """The verification report as Markdown (table, acceptance figures, figure link)."""
    fails = failures(summary)
    lines = [
        "# DDI verification: predicted vs observed clinical AUC and Cmax ratios",
        "",
        f"Generated by `{command}` (qsp_sbml.pbpk.ddi_verification) from `models/pbpk/validation/ddi_studies.tsv`.",
        "Every study is tagged `verification`: no drug-record parameter was fitted to DDI data.",
        "Dynamic: victim and perpetrator whole-body PBPK composed with the enzyme-turnover module "
        "(qsp_sbml.pbpk.interaction); static: the net-effect equation with the perpetrator's simulated Cmax, "
        "unbound hepatic-inlet and gut concentrations (qsp_sbml.pbpk.ddi).",
        "",
        f"## Acceptance (verification studies, n = {int(summary['n'])})",
        "",
        "| prediction | GMFE AUC ratio | inside Guest's limits | within 2-fold |",
        "|---|---|---|---|",
    ]
    for kind, label in (("dyn", "dynamic"), ("static", "static")):
        lines.append(f"| {label} | {summary[f'{kind}_gmfe_auc']:.2f} | {100 * summary[f'{kind}_inside_guest']:.0f} % "
                     f"| {100 * summary[f'{kind}_within_2fold']:.0f} % |")
    if summary.get("n_cmax"):
        lines.append(f"\nGMFE of the dynamic Cmax ratios: {summary['dyn_gmfe_cmax']:.2f} "
                     f"(n = {int(summary['n_cmax'])} studies reporting Cmax).")
    lines += ["", f"Target (issue 20): GMFE <= {ACCEPTANCE['gmfe_auc']} and >= "
              f"{100 * ACCEPTANCE['inside_guest']:.0f} % inside Guest's limits (Guest EJ et al. 2011, Drug Metab "
              "Dispos 39:170, delta = 1.25).", "",
              ("**Met** by the dynamic predictions." if not fails else "**Not met** by the dynamic predictions: "
               + "; ".join(fails) + ".")]
    lines += ["", "By victim and perpetrator:", "",
              "| victim | perpetrator | n | GMFE AUC ratio (dynamic) | inside Guest's limits (dynamic) | "
              "GMFE AUC ratio (static) | inside Guest's limits (static) |",
              "|---|---|---|---|---|---|---|"]
    verif = table[table["role"] == "verification"]
    for (victim, perp), t in verif.groupby(["victim", "perpetrator"]):
        obs = t["obs_auc_ratio"].tolist()
        dyn, static = ddi.gmfe(t["dyn_auc_ratio"].tolist(), obs), ddi.gmfe(t["static_auc_ratio"].tolist(), obs)
        lines.append(f"| {victim} | {perp} | {len(t)} | {dyn:.2f} | {100 * t['dyn_inside_guest'].mean():.0f} % "
                     f"| {static:.2f} | {100 * t['static_inside_guest'].mean():.0f} % |")
    if figure:
        lines += ["", f"![predicted vs observed AUC ratios]({figure})"]
    lines += ["", "## Studies", "",
              "| id | study | victim | perpetrator | victim route | obs AUCR | dynamic | static | Guest limits | "
              "obs CmaxR | dynamic CmaxR | perpetrator Cmax (mg/L) | source |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        cmax = "" if pd.isna(r["obs_cmax_ratio"]) else f"{r['obs_cmax_ratio']:.2f}"
        lines.append(
            f"| {r['id']} | {r['study']} | {r['victim']} | {r['perpetrator']} | {r['victim_route']} | "
            f"{r['obs_auc_ratio']:.2f} | "
            f"{r['dyn_auc_ratio']:.2f}{'' if r['dyn_inside_guest'] else ' (out)'} | "
            f"{r['static_auc_ratio']:.2f}{'' if r['static_inside_guest'] else ' (out)'} | "
            f"{r['guest_low']:.2f}-{r['guest_high']:.2f} | {cmax} | {r['dyn_cmax_ratio']:.2f} | "
            f"{r['perp_cmax_mg_l']:.3g} | {r['source']} |")
    return "\n".join(lines) + "\n"


def write_report(table: pd.DataFrame, summary: Mapping[str, float], directory: str | Path, *,
                 command: str = "qsp-sbml pbpk ddi verify --report DIR") -> list[Path]:
    """Write ``ddi_verification.md``, ``ddi_verification.tsv`` and ``ddi_auc_ratios.png`` into ``directory``."""
    from qsp_sbml._io import atomic_write_text

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = [plot(table, out / "ddi_auc_ratios.png")]
    written.append(atomic_write_text(out / "ddi_verification.tsv",
                                     table.to_csv(sep="\t", index=False, float_format="%.6g")))
    written.append(atomic_write_text(out / "ddi_verification.md",
                                     report_markdown(table, summary, figure="ddi_auc_ratios.png", command=command)))
    return written

