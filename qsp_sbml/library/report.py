"""Qualification reports of the disease modules: observed vs simulated, fitted vs predicted (issue 19, item 4).

Each disease module of the library defines ``qualification() -> Qualification``: every observed point it is
compared with, one row each, with its **role**:

``fitted``
    the point was used to choose or fit a parameter (a calibration arm of a split file, the rows a
    module's own calibration reads, or a value chosen to land on the observation);
``predicted``
    the point belongs to a prediction set decided before the fit (a split file's ``prediction`` arms, the
    forecast window of a fit-early / forecast-late split) and was never used to fit anything;
``checked``
    not used by the fit, but not a held-back prediction set either (a later visit of a fitted arm with no
    split decided before the fit); shown, never counted as a prediction.

Metrics (90 % prediction-interval coverage, Lin's concordance correlation coefficient, errors, the count
of points) are computed on the ``predicted`` rows only.  A module with a population fit (a split file and the
results folder of ``qsp-sbml disease calibrate``) is read with :func:`from_population_fit`, which reuses the
saved fit and its intervals and never refits.  :func:`write_reports` writes one folder per module (table,
plot, metrics, Markdown summary) atomically.

>>> q = Qualification.from_rows("toy", [
...     {"role": "fitted", "arm": "a", "endpoint": "y", "time": 1, "time_unit": "week", "observed": 0.5,
...      "simulated": 0.5},
...     {"role": "predicted", "arm": "b", "endpoint": "y", "time": 1, "time_unit": "week", "observed": 0.4,
...      "simulated": 0.45, "pi_lower": 0.3, "pi_upper": 0.5}],
...     fitted="y of arm a", predicted="y of arm b", sources=("made up",))
>>> m = qualification_metrics(q.table)
>>> m["points"], m["predicted"]["coverage_90"]
({'fitted': 1, 'predicted': 1, 'checked': 0}, 1.0)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml.errors import CalibrationError, QspError
from qsp_sbml.metrics import concordance_correlation

__all__ = ["ACCEPTANCE", "COLUMNS", "NO_PREDICTION_SET", "Qualification", "Role", "check_report_folder",
           "from_population_fit", "qualification_metrics", "qualifier", "qualifiers", "qualify", "render_summary",
           "write_reports"]


class Role(StrEnum):
    """What an observed point was used for."""

    FITTED = "fitted"
    PREDICTED = "predicted"
    CHECKED = "checked"


#: Columns of ``qualification.tsv``, in order.
COLUMNS = ("module", "role", "arm", "endpoint", "time", "time_unit", "n", "observed", "observed_lower",
           "observed_upper", "simulated", "pi_lower", "pi_upper", "inside_pi", "abs_error")
#: Issue 19's seed thresholds on the prediction set: coverage of the 90 % interval and CCC.
ACCEPTANCE = {"coverage_90_min": 0.85, "ccc_min": 0.70}
#: What a summary says when a module has no prediction set and every point was fitted.
NO_PREDICTION_SET = "no prediction set: every point below was used for fitting; not validated"

_NUMERIC = ("time", "n", "observed", "observed_lower", "observed_upper", "simulated", "pi_lower", "pi_upper")


@dataclass(frozen=True)
class Qualification:
    """One module's observed points with their roles, and the plain words the summary needs.

    Build it with :meth:`from_rows`, which fills the derived columns (``inside_pi``, ``abs_error``) and
    checks the rows: a known role, a point or a range observed, a predicted row with a point observation.
    """

    #: Module name (``qsp_sbml.library.<name>``).
    name: str
    #: One row per observed point, columns :data:`COLUMNS`.
    table: pd.DataFrame
    #: What was fitted, to which points (one sentence).
    fitted: str
    #: What is predicted ("" when the module has no prediction set).
    predicted: str
    #: Where the observations come from.
    sources: tuple[str, ...]
    #: How the simulated values (and intervals) were obtained.
    method: str = ""
    #: Caveats the reader needs (one sentence each).
    notes: tuple[str, ...] = ()

    @classmethod
    def from_rows(cls, name: str, rows: Iterable[Mapping[str, Any]], *, fitted: str, predicted: str = "",
                  sources: Sequence[str], method: str = "", notes: Sequence[str] = ()) -> Qualification:
        """The qualification of module ``name`` from row mappings (missing optional columns are empty)."""
        frame = pd.DataFrame([dict(r) for r in rows])
        if frame.empty:
            raise QspError(f"library module {name!r}: no observed point to qualify")
        unknown = sorted(set(frame.columns) - set(COLUMNS))
        if unknown:
            raise QspError(f"library module {name!r}: unknown qualification column(s) {unknown}; known: {COLUMNS}")
        frame["module"] = name
        for col in COLUMNS:
            if col not in frame.columns:
                frame[col] = np.nan
        for col in _NUMERIC:
            frame[col] = pd.to_numeric(frame[col], errors="raise").astype(float)
        _check_rows(name, frame, predicted)
        has_pi = frame["pi_lower"].notna() & frame["pi_upper"].notna() & frame["observed"].notna()
        inside = (frame["pi_lower"] <= frame["observed"]) & (frame["observed"] <= frame["pi_upper"])
        frame["inside_pi"] = pd.Series(np.where(has_pi, inside, None), index=frame.index, dtype=object)
        frame["abs_error"] = (frame["simulated"] - frame["observed"]).abs()
        if frame["n"].notna().any() and not np.all(frame["n"].dropna() % 1 == 0):
            raise QspError(f"library module {name!r}: n (patients or animals per point) must be whole numbers")
        frame["n"] = frame["n"].astype("Int64")
        return cls(name, frame[list(COLUMNS)], fitted, predicted, tuple(sources), method, tuple(notes))


def _check_rows(name: str, frame: pd.DataFrame, predicted: str) -> None:
    roles = set(frame["role"])
    bad = sorted(str(r) for r in roles - {r.value for r in Role})
    if bad:
        raise QspError(f"library module {name!r}: role(s) {bad} are not one of {[r.value for r in Role]}")
    for i, row in frame.iterrows():
        what = f"library module {name!r}, row {i} (arm {row['arm']!r}, {row['endpoint']} at {row['time']:g})"
        point = not math.isnan(row["observed"])
        span = not (math.isnan(row["observed_lower"]) or math.isnan(row["observed_upper"]))
        if not point and not span:
            raise QspError(f"{what}: give observed, or observed_lower and observed_upper")
        if row["role"] == Role.PREDICTED and not point:
            raise QspError(f"{what}: a predicted row needs a point observation (metrics are computed on it)")
        if not math.isnan(row["pi_lower"]) and not row["pi_lower"] <= row["pi_upper"]:
            raise QspError(f"{what}: pi_lower {row['pi_lower']:g} exceeds pi_upper {row['pi_upper']:g}")
    if (Role.PREDICTED in roles) != bool(predicted):
        raise QspError(f"library module {name!r}: say what is predicted exactly when there are predicted rows")


def _round(value: float, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def qualification_metrics(table: pd.DataFrame) -> dict[str, Any]:
    """Counts per role and, on the **predicted rows only**, the interval coverage, CCC, errors and GMFE.

    ``coverage_90`` is the fraction of predicted points inside their 90 % prediction interval (``None`` when
    no predicted row has one), ``ccc`` Lin's concordance correlation coefficient of observed and simulated
    (``None`` for fewer than two points), ``gmfe`` the geometric-mean fold error (``None`` unless every value
    is positive).  ``acceptance`` compares coverage and CCC with issue 19's seed thresholds.
    """
    counts = {r.value: int((table["role"] == r.value).sum()) for r in Role}
    pred = table[table["role"] == Role.PREDICTED.value]
    # a predicted point with only an observed range (no value) counts in "points" but not in the errors
    valued = pred[np.isfinite(pred["observed"].to_numpy(float))]
    obs, sim = valued["observed"].to_numpy(float), valued["simulated"].to_numpy(float)
    with_pi = pred[pred["inside_pi"].notna()]
    n_inside = int(with_pi["inside_pi"].astype(bool).sum())
    coverage = n_inside / len(with_pi) if len(with_pi) else math.nan
    ccc = concordance_correlation(obs, sim) if len(valued) >= 2 else math.nan
    positive = len(valued) > 0 and bool(np.all(obs > 0) and np.all(sim > 0))
    gmfe = float(np.exp(np.mean(np.abs(np.log(sim / obs))))) if positive else math.nan
    err = np.abs(sim - obs)
    predicted = {"points": len(pred), "points_with_interval": len(with_pi), "inside_90": n_inside,
                 "coverage_90": _round(coverage), "ccc": _round(ccc),
                 "mean_abs_error": _round(float(err.mean())) if len(valued) else None,
                 "max_abs_error": _round(float(err.max())) if len(valued) else None, "gmfe": _round(gmfe)}
    return {"points": counts, "predicted": predicted, "acceptance": _acceptance(predicted)}


def _acceptance(predicted: Mapping[str, Any]) -> dict[str, Any]:
    cov_min, ccc_min = ACCEPTANCE["coverage_90_min"], ACCEPTANCE["ccc_min"]
    if not predicted["points"]:
        return {**ACCEPTANCE, "met": None, "reason": "no prediction set"}
    misses = []
    if predicted["coverage_90"] is None:
        misses.append("no 90 % prediction interval (no population fit)")
    elif predicted["coverage_90"] < cov_min:
        misses.append(f"coverage {predicted['coverage_90']:.2f} < {cov_min}")
    if predicted["ccc"] is None:
        misses.append("CCC needs two predicted points")
    elif predicted["ccc"] < ccc_min:
        misses.append(f"CCC {predicted['ccc']:.2f} < {ccc_min}")
    return {**ACCEPTANCE, "met": not misses, "reason": "; ".join(misses) or "coverage and CCC at or above"}


# -- modules with a population fit -------------------------------------------------------------------------
def from_population_fit(name: str, split: str | Path, fit_dir: str | Path, *, notes: Sequence[str] = ()
                        ) -> Qualification:
    """The qualification of a module from its split file and the saved results of ``qsp-sbml disease calibrate``.

    Roles come from the split (calibration arms ``fitted``, prediction arms ``predicted``); simulated
    values and 90 % intervals from ``fit_dir/predictions.tsv``.  Nothing is refitted or re-simulated.  A
    results folder made from another split (an arm or visit missing or extra, a label that disagrees with
    the split) raises :class:`~qsp_sbml.errors.CalibrationError` naming the file and the arm.
    """
    from qsp_sbml.calibrate.population import read_split

    spec, _ = read_split(split)
    fit_dir = Path(fit_dir)
    table_path, params_path = fit_dir / "predictions.tsv", fit_dir / "parameters.tsv"
    try:
        fit = pd.read_csv(table_path, sep="\t")
        params = pd.read_csv(params_path, sep="\t")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise CalibrationError(f"{fit_dir}: cannot read the population fit ({err}); rerun qsp-sbml disease "
                               f"calibrate {split} --out {fit_dir}") from None
    need = {"label", "arm", "endpoint", "week", "n", "observed", "simulated", "pi_lower", "pi_upper"}
    if need - set(fit.columns):
        raise CalibrationError(f"{table_path}: columns {sorted(need - set(fit.columns))} missing")
    rows, used = [], set()
    for group, arm in spec.arms:
        role = Role.FITTED if group == "calibration" else Role.PREDICTED
        for obs in arm.observations:
            hit = fit[(fit["arm"] == arm.id) & (fit["endpoint"] == obs.endpoint) & (fit["week"] == obs.week)]
            where = f"{table_path}: arm {arm.id!r}, {obs.endpoint} at week {obs.week:g}"
            if len(hit) != 1:
                raise CalibrationError(f"{where}: {len(hit)} rows for this {group} point of {split} (1 expected); "
                                       "the fit was made from another split: rerun qsp-sbml disease calibrate")
            row = hit.iloc[0]
            if row["label"] != role.value:
                raise CalibrationError(f"{where}: labelled {row['label']!r} but the split puts it in the {group} "
                                       "set; the fit was made from another split: rerun qsp-sbml disease calibrate")
            used.add(hit.index[0])
            rows.append({"role": role.value, "arm": arm.id, "endpoint": obs.endpoint, "time": obs.week,
                         "time_unit": "week", "n": obs.n, "observed": row["observed"], "simulated": row["simulated"],
                         "pi_lower": row["pi_lower"], "pi_upper": row["pi_upper"]})
    extra = sorted(set(fit.loc[~fit.index.isin(used), "arm"]))
    if extra:
        raise CalibrationError(f"{table_path}: arm(s) {extra} are not in {split}; the fit was made from another "
                               "split: rerun qsp-sbml disease calibrate")
    settings = _fit_settings(fit_dir / "metrics.json")
    estimates = ", ".join(f"{p} {v:.3g}" for p, v in zip(params["parameter"], params["estimate"], strict=True))
    cal = ", ".join(a.id for a in spec.calibration)
    pred = ", ".join(a.id for a in spec.prediction)
    return Qualification.from_rows(
        name, rows,
        fitted=(f"typical values and between-patient SDs ({estimates}) fitted at the population level to the "
                f"calibration arms of {Path(split).name}: {cal}"),
        predicted=f"the prediction arms of {Path(split).name}, never used in the fit: {pred}",
        sources=tuple(f"{a.id}: {' '.join(a.source.split())}" for _, a in spec.arms),
        method=(f"simulated values and 90 % prediction intervals (parameter draws x replicate trials of each arm's "
                f"size) read from the saved population fit {fit_dir.name}/, not refitted{settings}"),
        notes=notes)


def _fit_settings(path: Path) -> str:
    """``"; fit settings: 100 virtual patients, ..."`` from a population fit's ``metrics.json`` ("" if absent)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    words = {"n_patients": "virtual patients", "starts": "optimiser starts", "draws": "posterior draws",
             "acceptance": "chain acceptance rate", "seed": "seed"}
    parts = [f"{words[k]} {saved[k]:g}" for k in words if isinstance(saved.get(k), int | float)]
    return f" (fit settings: {', '.join(parts)})" if parts else ""


# -- running and writing ---------------------------------------------------------------------------------
def qualifiers() -> dict[str, Any]:
    """Module name -> its ``qualification`` function, for every library module that defines one."""
    from qsp_sbml.library import library_modules

    return {m.__name__.rsplit(".", 1)[-1]: m.qualification for m in library_modules() if hasattr(m, "qualification")}


def qualifier(name: str) -> Any:
    """The ``qualification`` function of library module ``name``; an unknown name raises naming the known ones."""
    table = qualifiers()
    if name not in table:
        import difflib

        close = difflib.get_close_matches(name, table, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise QspError(f"unknown library module {name!r}; {hint}known: {', '.join(sorted(table))}")
    return table[name]


def qualify(name: str) -> Qualification:
    """The qualification of library module ``name``; an unknown name raises naming the known ones."""
    result = qualifier(name)()
    if not isinstance(result, Qualification):
        raise QspError(f"qsp_sbml.library.{name}.qualification() returned {type(result).__name__}, not Qualification")
    return result


_INDEX_TITLE = "# Qualification reports"
# The index file written into every report folder; the output-folder check shared with ``calibrate``, ``demo``
# and ``disease calibrate`` recognises a previous report by it (and replaces nothing else).
_REPORT_MARKER = "qualification.json"


def check_report_folder(path: str | Path) -> Path:
    """Refuse, before any work, a report folder that cannot be written or must not be replaced.

    Refused, with a :class:`~qsp_sbml.errors.QspError` naming the folder (nothing is written): a file; a
    folder that is neither empty nor a previous report (it has no ``qualification.json``; the report replaces
    its folder whole); a place without write permission.
    """
    from qsp_sbml._io import check_output_folder

    target = Path(path)
    try:
        check_output_folder(target, marker=_REPORT_MARKER, what="qualification report", option="--report")
        probe = target.parent  # the report is built beside the target, then renamed into place
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise QspError(f"{target}: {probe} is a file, not a folder (nothing was written)")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise QspError(f"{target}: cannot write in {probe} (permission denied); choose another --report "
                           "folder (nothing was written)")
    except QspError as err:
        err.file = str(target)  # type: ignore[attr-defined]  # read by validate.issue_from_error
        raise
    return target


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "**no**"
    if isinstance(value, float | np.floating):
        return f"{value:.{digits}g}"
    return str(value)


def _sentence(text: str) -> str:
    return text if text.endswith(".") else f"{text}."


def render_summary(q: Qualification, metrics: Mapping[str, Any], *, command: str) -> str:
    """The Markdown summary of one module: what is fitted, what is predicted, metrics, every row."""
    counts, pm, acc = metrics["points"], metrics["predicted"], metrics["acceptance"]
    lines = [f"# {q.name}: qualification report", "",
             f"Points: {counts['fitted']} fitted, {counts['predicted']} predicted, {counts['checked']} checked.", "",
             f"**Fitted:** {_sentence(q.fitted)}", ""]
    if q.predicted:
        lines += [f"**Predicted:** {_sentence(q.predicted)}", ""]
    elif counts["checked"]:
        lines += [f"**No prediction set:** {counts['fitted']} point(s) below were used for fitting and "
                  f"{counts['checked']} are checks outside the fit that are not a held-back prediction set (see "
                  "the notes); not validated.", ""]
    else:
        lines += [f"**{NO_PREDICTION_SET[0].upper()}{NO_PREDICTION_SET[1:]}.**", ""]
    if q.method:
        lines += [f"Method: {_sentence(q.method)}", ""]
    if pm["points"]:
        lines += ["## Metrics on the predicted points only", "",
                  "| predicted points | with a 90 % PI | inside | coverage | CCC | mean abs error | max abs error | "
                  "GMFE |", "|---|---|---|---|---|---|---|---|",
                  f"| {pm['points']} | {pm['points_with_interval']} | {pm['inside_90']} | {_fmt(pm['coverage_90'])} | "
                  f"{_fmt(pm['ccc'])} | {_fmt(pm['mean_abs_error'])} | {_fmt(pm['max_abs_error'])} | "
                  f"{_fmt(pm['gmfe'])} |", "",
                  f"Issue 19 seed thresholds (coverage >= {acc['coverage_90_min']}, CCC >= {acc['ccc_min']}): "
                  + ("**met**." if acc["met"] else f"**not met** ({acc['reason']})."), ""]
    else:
        lines += ["No metrics: there is no predicted point (metrics are computed on predicted points only).", ""]
    if q.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in q.notes], ""]
    lines += ["## Points", "", "| role | arm | endpoint | time | n | observed | simulated | 90 % PI | inside |",
              "|---|---|---|---|---|---|---|---|---|"]
    for _, r in q.table.iterrows():
        observed = (_fmt(r["observed"], 4) if not math.isnan(r["observed"])
                    else f"{_fmt(r['observed_lower'])}-{_fmt(r['observed_upper'])}")
        pi = "-" if math.isnan(r["pi_lower"]) else f"{_fmt(r['pi_lower'])}-{_fmt(r['pi_upper'])}"
        role = f"**{r['role']}**" if r["role"] == Role.PREDICTED else r["role"]
        lines.append(f"| {role} | {r['arm']} | {r['endpoint']} | {r['time_unit']} {r['time']:g} | {_fmt(r['n'])} | "
                     f"{observed} | {_fmt(r['simulated'], 4)} | {pi} | {_fmt(r['inside_pi'])} |")
    lines += ["", "## Sources", "", *[f"- {s}" for s in q.sources], "",
              "Files: `qualification.tsv` (every point, column `role`), `metrics.json`, `qualification.png`.", "",
              f"Written by `{command}`.", ""]
    return "\n".join(lines)


def _figure(q: Qualification) -> Any:
    """Observed vs simulated per endpoint: fitted hollow circles, predicted filled squares, checked triangles."""
    from qsp_sbml.plot import pyplot

    plt = pyplot()
    endpoints = list(dict.fromkeys(q.table["endpoint"]))
    fig, axes = plt.subplots(1, len(endpoints), figsize=(max(6.5, 4.2 * len(endpoints)), 4.2), squeeze=False)
    style = {Role.FITTED: {"marker": "o", "mfc": "none", "color": "0.45"},
             Role.CHECKED: {"marker": "^", "mfc": "none", "color": "C0"},
             Role.PREDICTED: {"marker": "s", "mfc": "C3", "color": "C3"}}
    for ax, endpoint in zip(axes[0], endpoints, strict=True):
        sub = q.table[q.table["endpoint"] == endpoint]
        values = pd.concat([sub[c] for c in ("observed", "observed_lower", "observed_upper", "simulated",
                                             "pi_lower", "pi_upper")]).dropna()
        for role, kw in style.items():
            part = sub[sub["role"] == role.value]
            if part.empty:
                continue
            x = part["observed"].fillna((part["observed_lower"] + part["observed_upper"]) / 2)
            xerr = np.vstack([x - part["observed_lower"].fillna(x), part["observed_upper"].fillna(x) - x])
            yerr = np.vstack([part["simulated"] - part["pi_lower"].fillna(part["simulated"]),
                              part["pi_upper"].fillna(part["simulated"]) - part["simulated"]])
            ax.errorbar(x, part["simulated"], xerr=xerr, yerr=yerr, ls="none", ms=6, capsize=2, label=role.value, **kw)
        lo, hi = float(values.min()), float(values.max())
        log = lo > 0 and hi / lo > 20
        pad = (hi - lo) * 0.05 or 1.0
        edge = (lo / 1.2, hi * 1.2) if log else (lo - pad, hi + pad)
        ax.plot(edge, edge, color="k", lw=0.7, ls="--", label="identity")
        ax.set(xlim=edge, ylim=edge, xlabel=f"observed {endpoint}", ylabel=f"simulated {endpoint}", title=endpoint)
        if log:
            ax.set(xscale="log", yscale="log")
        ax.legend(fontsize=7)
    fig.suptitle(f"{q.name}: vertical bars 90 % prediction interval, horizontal bars observed range", fontsize=8)
    fig.tight_layout()
    return fig


def _table_text(table: pd.DataFrame) -> str:
    out = table.copy()
    for col in ("observed", "observed_lower", "observed_upper", "simulated", "pi_lower", "pi_upper", "abs_error"):
        out[col] = out[col].round(6)
    return str(out.to_csv(sep="\t", index=False))


def write_reports(out: str | Path, qualifications: Sequence[Qualification], *, command: str) -> dict[str, Any]:
    """Write one folder per qualification and an index into ``out``, replacing it whole; returns the metrics.

    ``out/<module>/`` holds ``qualification.tsv``, ``qualification.png``, ``metrics.json`` and ``summary.md``;
    ``out/README.md`` lists the modules and ``out/qualification.json`` holds the command and every module's
    metrics (it marks the folder as a report that a later run may replace).  Tables and texts are built
    first, then written with the plots into a temporary folder that replaces ``out`` only when complete (a
    failure leaves ``out`` as it was).
    """
    from qsp_sbml._io import atomic_folder, atomic_write_text, json_text
    from qsp_sbml.plot import save_figure

    target = check_report_folder(out)
    files: dict[str, str] = {}
    all_metrics: dict[str, Any] = {}
    index = [_INDEX_TITLE, "", "Metrics on predicted points only (`role` = predicted); fitted and "
             "checked points are shown, never counted.", "",
             "| module | fitted | predicted | checked | coverage 90 % | CCC | verdict |",
             "|---|---|---|---|---|---|---|"]
    for q in qualifications:
        metrics = qualification_metrics(q.table)
        all_metrics[q.name] = metrics
        verdict = (NO_PREDICTION_SET.split(":")[0] + "; not validated" if not metrics["predicted"]["points"]
                   else "seed thresholds met" if metrics["acceptance"]["met"] else "seed thresholds not met")
        c, p = metrics["points"], metrics["predicted"]
        index.append(f"| [{q.name}]({q.name}/summary.md) | {c['fitted']} | {c['predicted']} | {c['checked']} | "
                     f"{_fmt(p['coverage_90'])} | {_fmt(p['ccc'])} | {verdict} |")
        files[f"{q.name}/qualification.tsv"] = _table_text(q.table)
        files[f"{q.name}/metrics.json"] = json_text(
            {"module": q.name, **metrics, "note": "metrics are computed on the predicted points only"})
        files[f"{q.name}/summary.md"] = render_summary(q, metrics, command=command)
    files["README.md"] = "\n".join([*index, "", f"Written by `{command}`.", ""])
    files[_REPORT_MARKER] = json_text({"command": command, "modules": all_metrics,
                                      "note": "metrics are computed on the predicted points only"})
    with atomic_folder(target) as tmp:  # a failure below leaves ``out`` as it was
        for rel, text in files.items():
            atomic_write_text(tmp / rel, text)
        for q in qualifications:
            save_figure(_figure(q), tmp / q.name / "qualification.png")
    return all_metrics
