"""The qualification report folder: figures, tables, Markdown and a summary JSON.

Written by ``qsp-sbml pbpk qualify --report DIR`` (see
:mod:`qsp_sbml.pbpk.qualification` for the figures).  Every table has a
``group`` column and every figure marks model-building (open symbols, dashed
curves) and verification data (filled symbols, solid curves) apart.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml.metrics import gmfe
from qsp_sbml.pbpk import ddi
from qsp_sbml.pbpk.drugs import DrugRecord
from qsp_sbml.pbpk.qualification import GROUPS, ProfilePrediction, compared_points
from qsp_sbml.pbpk.renal_impairment import RenalCurve

__all__ = ["ACCEPTANCE", "PKSIM_MIDAZOLAM_CONC_GMFE", "REPORT_MARKER", "failures", "figures", "fitted_values",
           "report_markdown", "write_report"]

#: The file that marks a folder as written by ``qsp-sbml pbpk qualify`` (no other command writes it), so that a
#: later run may replace the folder and nothing else is replaced.
REPORT_MARKER = "studies.tsv"
#: Acceptance of issue 20 on verification profiles: GMFE of AUC and of Cmax, fraction within 2-fold.
ACCEPTANCE = {"gmfe_auc": 1.5, "gmfe_cmax": 1.5, "within_2fold": 0.80}
#: The concentration GMFE of PK-Sim's midazolam model over its observed data sets, as quoted in issue 20
#: (source not located: the OSP midazolam evaluation report v2.0-OSP12.3 shows GOF plots but no GMFE).
PKSIM_MIDAZOLAM_CONC_GMFE = 1.45

#: Line style of the predicted curve per group.
_LINE = {"building": "--", "verification": "-"}


def _pyplot() -> Any:
    from qsp_sbml._optional import require

    matplotlib = require("matplotlib", extra="plot")
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", extra="plot")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def _profiles_figure(preds: Sequence[ProfilePrediction], *, log: bool) -> bytes:
    plt = _pyplot()
    ncol = min(5, len(preds))
    nrow = math.ceil(len(preds) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 2.4 * nrow), squeeze=False)
    for ax, pred in zip(axes.flat, preds, strict=False):
        p = pred.profile
        colour = "C1" if p.group == "building" else "C0"
        keep = pred.curve_times <= max(p.times) * 1.05
        ax.plot(pred.curve_times[keep], pred.curve[keep], color=colour, ls=_LINE[p.group], lw=1)
        face = "none" if p.group == "building" else colour
        ax.scatter(p.times, p.values, s=12, edgecolors=colour, facecolors=face, zorder=3)
        if log:
            positive = [v for v in (*p.values, *pred.curve[keep]) if v > 0]
            ax.set_yscale("log")
            ax.set_ylim(min(p.values) / 5, max(positive) * 2)
        ax.set_title(f"{p.study} [{p.group}]\n{p.route} {p.dose_mg():.3g} mg, {p.matrix}", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(preds):]:
        ax.set_visible(False)
    fig.supxlabel("time (h)", fontsize=8)
    fig.supylabel("concentration (mg/L)", fontsize=8)
    fig.tight_layout()
    # above the panels (figure coordinates); the tight bounding box of the saved PNG takes it in
    fig.suptitle(f"{preds[0].profile.drug}: predicted (lines) vs observed (symbols); "
                 "open/dashed = model-building, filled/solid = verification", fontsize=9, y=1.0 + 0.3 / (2.4 * nrow))
    return _png(fig)


def renal_figure(curves: Mapping[str, RenalCurve]) -> bytes:
    """One panel per study of the renal-impairment table: observed (symbols) and predicted (lines) per arm."""
    plt = _pyplot()
    studies: dict[tuple[str, str], list[RenalCurve]] = {}
    for curve in curves.values():
        studies.setdefault((curve.arm.drug, curve.arm.study), []).append(curve)
    ncol = min(3, len(studies))
    nrow = math.ceil(len(studies) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 2.8 * nrow), squeeze=False)
    for ax, ((drug, study), arms) in zip(axes.flat, studies.items(), strict=False):
        for i, curve in enumerate(sorted(arms, key=lambda c: -(c.arm.egfr or 1e9))):
            a = curve.arm
            colour = "k" if a.role == "control" else f"C{i}"
            label = "healthy" if a.role == "control" else f"eGFR {a.egfr:g} ({a.subject()['kdigo_target']})"
            keep = curve.times >= a.times[0] - (a.times[-1] - a.times[0]) * 0.05
            ax.plot(curve.times[keep], curve.concentrations[keep], color=colour, lw=1)
            ax.scatter(a.times, a.values, s=12, color=colour, zorder=3, label=label)
        ax.set_yscale("log")
        ax.set_title(f"{drug}: {study}", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(studies):]:
        ax.set_visible(False)
    fig.supxlabel("time (h)", fontsize=8)
    fig.supylabel("concentration (mg/L)", fontsize=8)
    fig.tight_layout()
    fig.suptitle("Renal impairment: predicted (lines) vs observed (symbols), each arm one typical subject",
                 fontsize=9, y=1.0 + 0.3 / (2.8 * nrow))
    return _png(fig)


def _gof_figure(points: pd.DataFrame) -> bytes:
    plt = _pyplot()
    pts = compared_points(points)
    fig, ax = plt.subplots(figsize=(6.0, 5.5))
    lo = float(min(pts["observed_mg_l"].min(), pts["predicted_mg_l"].min())) / 2
    hi = float(max(pts["observed_mg_l"].max(), pts["predicted_mg_l"].max())) * 2
    line = np.array([lo, hi])
    ax.plot(line, line, "k-", lw=0.8, label="identity")
    ax.plot(line, line * 2, "k--", lw=0.6, label="2-fold")
    ax.plot(line, line / 2, "k--", lw=0.6)
    for i, drug in enumerate(sorted(pts["drug"].unique())):
        for group in GROUPS:
            t = pts[(pts["drug"] == drug) & (pts["group"] == group)]
            if len(t):
                colour = f"C{i % 10}"
                ax.scatter(t["observed_mg_l"], t["predicted_mg_l"], s=9, edgecolors=colour, linewidths=0.6,
                           facecolors="none" if group == "building" else colour, label=f"{drug} ({group})")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="observed concentration (mg/L)",
           ylabel="predicted concentration (mg/L)",
           title="Goodness of fit: open = model-building, filled = verification")
    ax.legend(fontsize=6, loc="upper left")
    return _png(fig)


def figures(predictions: Sequence[ProfilePrediction], points: pd.DataFrame) -> dict[str, bytes]:
    """PNG files by name: ``gof.png`` and, per drug, ``<drug>_profiles_log.png`` / ``_linear.png``."""
    out = {"gof.png": _gof_figure(points)}
    for drug in sorted({p.profile.drug for p in predictions}):
        preds = sorted((p for p in predictions if p.profile.drug == drug),
                       key=lambda p: (GROUPS.index(p.profile.group), p.profile.study, p.profile.dataset))
        out[f"{drug}_profiles_log.png"] = _profiles_figure(preds, log=True)
        out[f"{drug}_profiles_linear.png"] = _profiles_figure(preds, log=False)
    return out


def failures(summary: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list[str]:
    """The acceptance figures not met by the verification profiles of all drugs (empty when all hold)."""
    v = summary["all"].get("verification")
    if v is None:
        return ["no verification profiles"]
    out = []
    for key in ("gmfe_auc", "gmfe_cmax"):
        if not v[key] <= ACCEPTANCE[key]:
            out.append(f"verification {key} = {v[key]:.2f} > {ACCEPTANCE[key]}")
    for key in ("auc_within_2fold", "cmax_within_2fold"):
        if not v[key] >= ACCEPTANCE["within_2fold"]:
            out.append(f"verification {key} = {100 * v[key]:.0f} % < {100 * ACCEPTANCE['within_2fold']:.0f} %")
    return out


def _md_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A Markdown table: the header row, its separator and one line per row of cells.

    >>> _md_table(["a", "b"], [["1", ""]])
    ['| a | b |', '|---|---|', '| 1 |  |']
    """
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in cells) + " |" for cells in rows)]


def _yes(verdict: object) -> str:
    return "yes" if verdict else "no"


def _summary_lines(summary: Mapping[str, Mapping[str, Mapping[str, float]]]) -> list[str]:
    header = ["drug", "group", "profiles", "studies", "points", "GMFE AUC", "AUC within 2-fold", "GMFE Cmax",
              "Cmax within 2-fold", "concentration GMFE", "concentrations within 2-fold"]
    return _md_table(header, (
        ["**all drugs**" if drug == "all" else drug, group, f"{f['n_profiles']:.0f}", f"{f['n_studies']:.0f}",
         f"{f['n_points']:.0f}", f"{f['gmfe_auc']:.2f}", f"{100 * f['auc_within_2fold']:.0f} %",
         f"{f['gmfe_cmax']:.2f}", f"{100 * f['cmax_within_2fold']:.0f} %", f"{f['conc_gmfe']:.2f}",
         f"{100 * f['conc_within_2fold']:.0f} %"]
        for drug, groups in summary.items() for group, f in groups.items()))


def _midazolam_lines(summary: Mapping[str, Mapping[str, Mapping[str, float]]], points: pd.DataFrame) -> list[str]:
    mdz = summary.get("midazolam", {}).get("verification")
    if mdz is None:
        return []
    verdict = ("at most" if mdz["conc_gmfe"] <= PKSIM_MIDAZOLAM_CONC_GMFE else "above")
    total = sum(f["n_profiles"] for f in summary["midazolam"].values())
    pts = compared_points(points[points["drug"] == "midazolam"])
    both = gmfe(pts["predicted_mg_l"], pts["observed_mg_l"])
    return ["", "## Midazolam against PK-Sim", "",
            f"Concentration GMFE over midazolam's verification profiles: **{mdz['conc_gmfe']:.2f}** "
            f"({mdz['n_points']:.0f} points, {mdz['n_profiles']:.0f} profiles), {verdict} the "
            f"{PKSIM_MIDAZOLAM_CONC_GMFE} quoted for PK-Sim's midazolam model over its observed data sets (the figure "
            "of issue 20; its primary source was not located: the OSP midazolam evaluation report v2.0-OSP12.3 "
            "shows goodness-of-fit plots but no GMFE). The PK-Sim figure is for a model whose lipophilicity, "
            "permeabilities, kcat values and a brain binding site were fitted to model-building data; ours are "
            "predictions of a record whose Kp scalar and ka were fitted to its model-building profiles only, and "
            "our set is the "
            f"{total:.0f} single-dose plasma/blood profiles of the table (issue 20 quotes 92 data sets for PK-Sim, "
            "which include urine and multiple-dose data). Over all midazolam profiles of both groups "
            f"({len(pts)} points) the concentration GMFE is {both:.2f}."]


def fitted_values(records: Mapping[str, DrugRecord], drugs: Sequence[str]) -> list[dict[str, object]]:
    """Each value of ``drugs``' records whose source says it was fitted to model-building profiles."""
    out: list[dict[str, object]] = []
    for drug in drugs:
        record = records.get(drug)
        if record is None:
            continue
        values = {"kp_scale": record.kp_scale, "absorption.ka": record.absorption.ka}
        out += [{"drug": drug, "parameter": key, "value": values[key], "source": record.sources[key]}
                for key in values if record.sources.get(key, "").startswith("FITTED")]
    return out


def _fitted_lines(fitted: Sequence[Mapping[str, object]]) -> list[str]:
    if not fitted:
        return ["", "## Values fitted to model-building profiles", "",
                "None: every value of these drugs' records is taken from its source."]
    return ["", "## Values fitted to model-building profiles", "",
            "Estimated by `qsp-sbml pbpk fit` from the drug's *model-building* profiles only (the *building* rows "
            "above are these fits; no *verification* profile was read); each source names the profiles:", "",
            *_md_table(["drug", "parameter", "value", "source"],
                       ([f["drug"], f["parameter"], f"{f['value']:.3g}", f["source"]] for f in fitted))]


def _ddi_lines(ddi_table: pd.DataFrame | None, ddi_source: str) -> list[str]:
    if ddi_table is None:
        return []
    from qsp_sbml.pbpk.ddi_verification import summarise as ddi_summarise

    lines = ["", "## Drug-drug interactions", "",
             f"From `{ddi_source}` (written by `qsp-sbml pbpk ddi verify --report DIR`): predicted vs observed "
             "clinical AUC ratios, dynamic (composed victim + perpetrator PBPK) and static (net-effect equation), "
             "with the limits of Guest EJ et al. 2011 (Drug Metab Dispos 39:170, delta 1.25)."]
    for role in GROUPS:
        t = ddi_table[ddi_table["role"] == role]
        if len(t):
            s = ddi_summarise(ddi_table, role=role)
            lines.append(f"\n{role}: n = {len(t)}, dynamic GMFE {s['dyn_gmfe_auc']:.2f} "
                         f"({100 * s['dyn_inside_guest']:.0f} % inside Guest's limits), static GMFE "
                         f"{s['static_gmfe_auc']:.2f} ({100 * s['static_inside_guest']:.0f} % inside).")
    header = ["group", "study", "victim", "perpetrator", "victim route", "observed AUCR", "dynamic", "static",
              "Guest limits"]
    limits = [ddi.guest_limits(float(r)) for r in ddi_table["obs_auc_ratio"]]
    return [*lines, "", *_md_table(header, (
        [r["role"], r["study"], r["victim"], r["perpetrator"], r["victim_route"], f"{r['obs_auc_ratio']:.2f}",
         f"{r['dyn_auc_ratio']:.2f}", f"{r['static_auc_ratio']:.2f}", f"{lo:.2f}-{hi:.2f}"]
        for (_, r), (lo, hi) in zip(ddi_table.iterrows(), limits, strict=True)))]


def _paediatric_lines(table: pd.DataFrame | None, source: str) -> list[str]:
    if table is None:
        return []
    from qsp_sbml.pbpk.paediatric import PAEDIATRIC_FOLD

    met, n = _within_count(table)
    lines = ["", "## Paediatric studies", "",
             f"From `{source}`: children simulated with the ICRP 89 reference child of the study's age (its "
             "reported weight when given), CYP ontogeny (Upreti & Wahlstrom 2016) on each enzyme's intrinsic "
             "clearance and GFR maturation (Rhodin 2009); **pure predictions**, no paediatric value informed a "
             f"parameter (every row is {'/'.join(sorted(set(table['group'])))}). Acceptance (issue 20): AUC and "
             f"clearance within {PAEDIATRIC_FOLD:g}-fold: **{met} of {n}** rows (study arms, or single "
             "children where a study gives individual values) meet both.", "",
             *_paediatric_by_publication(table), ""]
    header = ["group", "study", "route", "age (y)", "weight (kg)", "AUC obs", "AUC pred", "AUC ratio", "CL kind",
              "CL obs (mL/min/kg)", "CL pred", "CL ratio", "within 2-fold", "reference"]
    return [*lines, *_md_table(header, (
        [r["group"], r["study"], r["route"], f"{r['age_y']:g}", f"{r['weight_kg']:.3g}",
         f"{r['auc_obs_ng_h_ml']:.4g}", f"{r['auc_pred_ng_h_ml']:.4g}", f"{r['auc_ratio']:.2f}", r["cl_kind"],
         f"{r['cl_obs_ml_min_kg']:.3g}", f"{r['cl_pred_ml_min_kg']:.3g}", f"{r['cl_ratio']:.2f}",
         _yes(r["within_2fold"]), r["reference"]] for _, r in table.iterrows()))]


def _paediatric_by_publication(table: pd.DataFrame) -> list[str]:
    """One line per drug and publication (rows sharing a reference): rows within 2-fold, GMFE of AUC and CL."""
    return _md_table(["drug", "study", "rows", "within 2-fold", "GMFE AUC", "GMFE CL", "ages (y)"], (
        [str(drug), re.sub(r" patient \S+$", "", str(rows["study"].iloc[0])), str(len(rows)),
         str(int(rows["within_2fold"].sum())), f"{gmfe(rows['auc_pred_ng_h_ml'], rows['auc_obs_ng_h_ml']):.2f}",
         f"{gmfe(rows['cl_pred_ml_min_kg'], rows['cl_obs_ml_min_kg']):.2f}",
         f"{rows['age_y'].min():g}-{rows['age_y'].max():g}"]
        for (drug, _), rows in table.groupby(["drug", "reference"], sort=False)))


def _renal_lines(table: pd.DataFrame | None, source: str) -> list[str]:
    if table is None:
        return []
    from qsp_sbml.pbpk.renal_impairment import RENAL_FOLD

    met, n_impaired = _within_count(table)
    lines = ["", "## Renal impairment", "",
             f"From `{source}`: every arm simulated for one typical subject with the arm's age, sex, weight, height "
             "and eGFR, mapped by the renal presets' rules (GFR = eGFR x BSA / 1.73, renal clearance in proportion "
             "to GFR, hematocrit and fraction unbound by KDIGO category); AUC over each arm's observed times. "
             "**Pure predictions**: no value of these tables informed a parameter. Acceptance: the AUC ratio "
             f"impaired / healthy arm of the same study within {RENAL_FOLD:g}-fold of the observed ratio: "
             f"**{met} of {n_impaired}** impaired arms (each AUC over its own arm's observed times; `renal.tsv` "
             "also gives the ratios over the window both arms cover, not judged). Not part of `--strict`, which "
             "judges the profile acceptance above.", "", "![renal impairment](renal.png)", ""]
    header = ["drug", "study", "data set", "role", "eGFR", "KDIGO", "AUC obs", "AUC pred", "pred / obs",
              "conc. GMFE", "ratio to control, obs", "pred", "within 2-fold", "common window, obs", "pred"]

    def cells(r: pd.Series) -> list[str]:
        arm = [r["drug"], r["study"], r["dataset"], r["role"], "" if pd.isna(r["egfr"]) else f"{r['egfr']:g}",
               r["kdigo"] if isinstance(r["kdigo"], str) else "", f"{r['auc_obs']:.3g}", f"{r['auc_pred']:.3g}",
               f"{r['auc_ratio']:.2f}", f"{r['conc_gmfe']:.2f}"]
        if r["role"] != "impaired":
            return [*arm, "", "", "", "", ""]
        return [*arm, f"{r['obs_ratio_to_control']:.2f}", f"{r['pred_ratio_to_control']:.2f}",
                _yes(r["within_2fold"]), f"{r['obs_ratio_common']:.2f}", f"{r['pred_ratio_common']:.2f}"]

    return [*lines, *_md_table(header, (cells(r) for _, r in table.iterrows()))]


def _hepatic_lines(table: pd.DataFrame | None, source: str) -> list[str]:
    if table is None:
        return []
    from qsp_sbml.pbpk.hepatic_impairment import HEPATIC_FOLD

    met, n = _within_count(table)
    lines = ["", "## Hepatic impairment", "",
             f"From `{source}`: the ratio cirrhotic / healthy of a study's means (CL after an IV dose, oral F, fu) "
             "against the same ratio for one typical adult (50 y, male, 73 kg) healthy and in each Child-Pugh class "
             "the row names (the OSP hepatic-impairment qualification's factors on enzymes, flows, portal shunt, "
             "binding, GFR and hematocrit). **Pure predictions**: no value of these tables informed a parameter. "
             f"Within {HEPATIC_FOLD:g}-fold: **{met} of {n}** rows (reported, not part of `--strict`).", ""]
    header = ["drug", "study", "quantity", "Child-Pugh", "observed ratio", "predicted ratio", "predicted / observed",
              "within 2-fold"]
    return [*lines, *_md_table(header, (
        [r["drug"], r["study"], r["quantity"], r["child_pugh"], f"{r['observed_ratio']:.2f}",
         f"{r['predicted_ratio']:.2f}", f"{r['fold']:.2f}", _yes(r["within_2fold"])] for _, r in table.iterrows()))]


def _not_compared(points: pd.DataFrame) -> str:
    skipped = points[~points["compared"]]
    if skipped.empty:
        return ""
    return (f"{len(skipped)} observed points at the instant of an intravenous bolus (time 0: pre-dose values or "
            "first samples digitised at the dose time, where the simulated concentration jumps) are not compared "
            "(`compared` false in `points.tsv`): " + "; ".join(sorted(set(skipped["dataset"]))) + ".")


def report_markdown(studies: pd.DataFrame, points: pd.DataFrame,
                    summary: Mapping[str, Mapping[str, Mapping[str, float]]], *, drugs: Sequence[str], command: str,
                    observed: str, ddi_table: pd.DataFrame | None = None, ddi_source: str = "",
                    paediatric: pd.DataFrame | None = None, paediatric_source: str = "",
                    renal: pd.DataFrame | None = None, renal_source: str = "",
                    hepatic: pd.DataFrame | None = None, hepatic_source: str = "",
                    fitted: Sequence[Mapping[str, object]] = ()) -> str:
    """The report as Markdown.

    Acceptance, per-drug summary, midazolam vs PK-Sim, fitted values, figures, DDI, paediatric, renal and
    hepatic sections, studies.
    """
    fails = failures(summary)
    lines = [
        "# Whole-body PBPK qualification on observed concentration-time profiles", "",
        f"Generated by `{command}` from `{observed}`. Every prediction uses the drug record and the reference "
        "physiology. Studies are tagged *model-building* when they informed a value of the drug record, "
        "otherwise *verification*; the tags were set before any comparison. The only values fitted to profiles "
        "are the `kp_scale` and `ka` of drugs with model-building profiles, **fitted to those profiles alone** "
        "(`qsp-sbml pbpk fit`, plan `models/pbpk/validation/building_fit.yaml`); no verification profile "
        "informed any value, so *verification* rows are **predictions**, *building* rows are fits. AUC: "
        "linear trapezoid from the first to the last compared time on "
        "the observed points and on the prediction at the same times; Cmax: highest value at the observed times; "
        "concentration GMFE: 10^mean|log10(pred/obs)| over the points. "
        f"{_not_compared(points)}", "",
        "## Acceptance (verification profiles of all drugs)", "",
        f"Target (issue 20): GMFE of AUC and Cmax <= {ACCEPTANCE['gmfe_auc']}, >= "
        f"{100 * ACCEPTANCE['within_2fold']:.0f} % within 2-fold. "
        + ("**Met.**" if not fails else "**Not met**: " + "; ".join(fails) + "."), "",
        "## Summary by drug and group", "", *_summary_lines(summary), *_midazolam_lines(summary, points),
        *_fitted_lines(fitted), "", "## Figures", "", "![goodness of fit](gof.png)", ""]
    for drug in drugs:
        lines += [f"### {drug}", "", f"![{drug} log]({drug}_profiles_log.png)", "",
                  f"![{drug} linear]({drug}_profiles_linear.png)", ""]
    lines += _ddi_lines(ddi_table, ddi_source)
    lines += _paediatric_lines(paediatric, paediatric_source)
    lines += _renal_lines(renal, renal_source)
    lines += _hepatic_lines(hepatic, hepatic_source)
    header = ["drug", "group", "study", "data set", "route", "dose (mg)", "AUC obs", "AUC pred", "AUC ratio",
              "Cmax ratio", "conc. GMFE", "reference"]
    lines += ["", "## Studies", "", "Also in `studies.tsv` (one row per profile) and `points.tsv`.", "",
              *_md_table(header, (
                  [r["drug"], r["group"], r["study"], r["dataset"], r["route"], f"{r['dose_mg']:.3g}",
                   f"{r['auc_obs']:.3g}", f"{r['auc_pred']:.3g}", f"{r['auc_ratio']:.2f}", f"{r['cmax_ratio']:.2f}",
                   f"{r['conc_gmfe']:.2f}", r["reference"]] for _, r in studies.iterrows()))]
    return "\n".join(lines) + "\n"


def _within_count(table: pd.DataFrame) -> list[int]:
    """[rows within 2-fold, rows judged] of a section's table.

    Every row is judged, except in a renal table, whose control arms carry no verdict (only its impaired arms);
    the report's text and ``summary.json`` both take their counts from here.
    """
    judged = table[table["role"] == "impaired"] if "role" in table.columns else table
    return [sum(isinstance(v, (bool, np.bool_)) and bool(v) for v in judged["within_2fold"]), len(judged)]


def write_report(directory: str | Path, *, studies: pd.DataFrame, points: pd.DataFrame,
                 predictions: Sequence[ProfilePrediction], summary: Mapping[str, Mapping[str, Mapping[str, float]]],
                 command: str, observed: str, ddi_table: pd.DataFrame | None = None, ddi_source: str = "",
                 paediatric: pd.DataFrame | None = None, paediatric_source: str = "",
                 renal: pd.DataFrame | None = None, renal_source: str = "",
                 renal_curves: Mapping[str, RenalCurve] | None = None,
                 hepatic: pd.DataFrame | None = None, hepatic_source: str = "",
                 records: Mapping[str, DrugRecord] | None = None) -> list[Path]:
    """Write the whole folder atomically (an existing ``directory`` is replaced only on success).

    ``records`` (the drug records used) adds the section listing the values fitted to model-building profiles.
    """
    from qsp_sbml._io import atomic_folder

    drugs = sorted(studies["drug"].unique())
    fitted = fitted_values(records or {}, drugs)
    files: dict[str, str | bytes] = dict(figures(predictions, points))
    files[REPORT_MARKER] = studies.to_csv(sep="\t", index=False, float_format="%.6g")
    files["points.tsv"] = points.to_csv(sep="\t", index=False, float_format="%.6g")
    if ddi_table is not None:
        files["ddi.tsv"] = ddi_table.to_csv(sep="\t", index=False, float_format="%.6g")
    if paediatric is not None:
        files["paediatric.tsv"] = paediatric.to_csv(sep="\t", index=False, float_format="%.6g")
    if renal is not None:
        files["renal.tsv"] = renal.to_csv(sep="\t", index=False, float_format="%.6g")
        if renal_curves:
            files["renal.png"] = renal_figure(renal_curves)
    if hepatic is not None:
        files["hepatic.tsv"] = hepatic.to_csv(sep="\t", index=False, float_format="%.6g")
    files["summary.json"] = json.dumps({"summary": summary, "acceptance": ACCEPTANCE, "failures": failures(summary),
                                        "pksim_midazolam_conc_gmfe": PKSIM_MIDAZOLAM_CONC_GMFE,
                                        "command": command, "observed": observed,
                                        "paediatric_within_2fold": None if paediatric is None else
                                        _within_count(paediatric),
                                        "renal_within_2fold": None if renal is None else _within_count(renal),
                                        "hepatic_within_2fold": None if hepatic is None else
                                        _within_count(hepatic),
                                        "fitted_to_building": fitted},
                                       indent=1, default=float) + "\n"
    files["report.md"] = report_markdown(studies, points, summary, drugs=drugs, command=command, observed=observed,
                                         ddi_table=ddi_table, ddi_source=ddi_source, paediatric=paediatric,
                                         paediatric_source=paediatric_source, renal=renal, renal_source=renal_source,
                                         hepatic=hepatic, hepatic_source=hepatic_source, fitted=fitted)
    target = Path(directory)
    with atomic_folder(target) as tmp:
        for name, data in files.items():
            if isinstance(data, bytes):
                (tmp / name).write_bytes(data)
            else:
                (tmp / name).write_text(data, encoding="utf-8")
    return [target / name for name in files]
