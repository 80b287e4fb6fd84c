"""The whole SBML semantic test suite through ``load_model`` + ``Model.simulate``, side by side with libroadrunner.

Reads ``$QSP_SBML_CONFORMANCE_DIR/sbml_semantic`` (default ``../shared/conformance``); never copies it.  Each case
uses the newest SBML level/version it ships, its own settings (start, duration, steps, variables, amounts vs
concentrations) and the suite's criterion ``|C - U| <= absolute + relative * |C|`` at every point.  Both
simulators run with the same CVODE tolerances (rtol 1e-10, atol 1e-14).

Outcomes per case and simulator:

``pass``       every point within tolerance;
``wrong``      numbers returned that differ from the expected results (a silent wrong answer);
``refused``    ``UnsupportedFeatureError`` (ours) naming the construct;
``error``      another exception (message kept);
``crash``      the worker process died;
``n/a``        (plain) a case with no time course (flux balance): nothing to simulate.

Cases run in worker processes of ``--chunk`` cases each (a crash loses one case, never the run).  Writes a
TSV of every case (``--out``, default ``sbml_semantic_report.tsv``) and prints the counts side by side.

With ``--check KNOWN.tsv`` (columns ``case``, ``outcome``, ``reason``) it exits 1 when a case ends ``wrong``,
``error`` or ``crash`` for us, or plain libroadrunner passes a case we do not pass, unless KNOWN lists that
case with that outcome and its reason; ``.ci/run`` runs it so (``make semantic``).

Usage::

    python benchmarks/sbml_semantic.py [--out report.tsv] [--cases 1-200] [--chunk 60] [--check KNOWN.tsv]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEVELS = ("l3v2", "l3v1", "l2v5", "l2v4", "l2v3", "l2v2", "l2v1", "l1v2")
RTOL, ATOL = 1e-10, 1e-14


def suite_dir() -> Path:
    env = os.environ.get("QSP_SBML_CONFORMANCE_DIR")
    base = Path(env) if env else REPO.parent / "shared" / "conformance"
    return (base if base.is_absolute() else REPO / base).resolve() / "sbml_semantic"


def settings(path: Path) -> dict[str, str]:
    """A test-suite case's ``NNNNN-settings.txt`` as key -> value (also read by tests/conformance)."""
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def newest(folder: Path, case: str) -> Path | None:
    for lv in LEVELS:
        path = folder / f"{case}-sbml-{lv}.xml"
        if path.is_file():
            return path
    return None


def _compare(expected, got, variables, atol: float, rtol: float) -> str | None:
    import numpy as np

    for k, var in enumerate(variables):
        c = expected[var].to_numpy(dtype=float)
        u = np.asarray(got[:, k], dtype=float)
        if c.shape != u.shape:
            return f"{var}: {u.shape[0]} points, expected {c.shape[0]}"
        both_nan = np.isnan(c) & np.isnan(u)
        same_inf = np.isinf(c) & (c == u)
        with np.errstate(invalid="ignore"):
            bad = ~(both_nan | same_inf) & ~(np.abs(c - u) <= atol + rtol * np.abs(c))
        if bad.any():
            i = int(np.argmax(bad))
            return f"{var}: at point {i} got {u[i]:.6g}, expected {c[i]:.6g}"
    return None


def run_case(root: Path, case: str, sides: tuple[str, ...] = ("ours", "plain")) -> dict[str, str]:
    """The simulators of ``sides`` on one case; a dict of outcomes and messages."""
    import numpy as np
    import pandas as pd


    folder = root / case
    s = settings(folder / f"{case}-settings.txt")
    path = newest(folder, case)
    row = {"case": case, "file": path.name if path else ""}
    if path is None:
        return {**row, "ours": "error", "ours_msg": "no SBML file", "plain": "error", "plain_msg": "no SBML file"}
    if not s.get("duration"):  # not a time course (flux balance cases): a simulator must refuse the model
        return {**row, **({"ours": _refusal(path)} if "ours" in sides else {}),
                **({"plain": "n/a", "plain_msg": "no time course to compare"} if "plain" in sides else {})}
    variables = [v.strip() for v in s.get("variables", "").split(",") if v.strip()]
    conc = {v.strip() for v in s.get("concentration", "").split(",") if v.strip()}
    selections = [f"[{v}]" if v in conc else v for v in variables]
    start, duration, steps = float(s["start"]), float(s["duration"]), int(float(s["steps"]))
    times = np.linspace(start, start + duration, steps + 1)
    raw = pd.read_csv(folder / f"{case}-results.csv", header=None, skiprows=1)
    names = [c.strip() for c in (folder / f"{case}-results.csv").read_text().splitlines()[0].split(",")]
    # the first column is the time axis; the others are the variables by name (a model may call one 'time')
    expected = pd.DataFrame({name: raw[k + 1] for k, name in enumerate(names[1:])})
    atol, rtol = float(s["absolute"]), float(s["relative"])

    if "ours" in sides:
        row.update(_ours(path, times, selections, expected, variables, atol, rtol, start))
    if "plain" in sides:
        row.update(_plain(path, times, selections, expected, variables, atol, rtol, start, duration, steps))
    return row


def _short(err: BaseException) -> str:
    text = str(err).splitlines()[0][:300] if str(err) else ""
    return f"{type(err).__name__}: {text}"


def _refusal(path: Path) -> str:
    import qsp_sbml as qs

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            qs.load_model(path, guard=False)
    except qs.UnsupportedFeatureError:
        return "refused"
    except Exception:
        return "error"
    return "error"


def _ours(path, times, selections, expected, variables, atol, rtol, start) -> dict[str, str]:
    import qsp_sbml as qs

    row: dict[str, str] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = qs.load_model(path, guard=False)
            if start != 0:
                raise qs.UnsupportedFeatureError(f"start time {start} (simulations start at t=0)")
            frame = model.simulate(times, selections=selections,
                                   options=qs.IntegratorOptions(rtol=RTOL, atol=ATOL))
        msg = _compare(expected, frame.to_numpy()[:, 1:], variables, atol, rtol)
        row.update(ours="wrong" if msg else "pass", ours_msg=msg or "")
    except qs.UnsupportedFeatureError as err:
        row.update(ours="refused", ours_msg=str(err).splitlines()[0][:300])
    except Exception as err:
        row.update(ours="error", ours_msg=_short(err))
    return row


def _plain(path, times, selections, expected, variables, atol, rtol, start, duration, steps) -> dict[str, str]:
    import numpy as np
    import roadrunner

    row: dict[str, str] = {}
    try:
        roadrunner.Logger.setLevel(roadrunner.Logger.LOG_CRITICAL)
        rr = roadrunner.RoadRunner(str(path))
        integrator = rr.getIntegrator()
        integrator.setValue("relative_tolerance", RTOL)
        integrator.setValue("absolute_tolerance", ATOL)
        rr.timeCourseSelections = ["time", *selections]
        values = np.asarray(rr.simulate(start, start + duration, steps + 1))[:, 1:]
        msg = _compare(expected, values, variables, atol, rtol)
        row.update(plain="wrong" if msg else "pass", plain_msg=msg or "")
    except Exception as err:
        row.update(plain="error", plain_msg=_short(err))
    return row


def _worker(side: str, root: Path, cases: list[str]) -> None:
    for case in cases:
        print(json.dumps(run_case(root, case, (side,))), flush=True)


def _run_side(side: str, root: Path, cases: list[str], chunk: int) -> dict[str, dict[str, str]]:
    """One simulator over the cases, in worker processes: a crash is that case's outcome, the rest go on."""
    rows: dict[str, dict[str, str]] = {}
    pending = list(cases)
    while pending:
        batch, pending = pending[:chunk], pending[chunk:]
        proc = subprocess.run([sys.executable, __file__, "--worker", side, str(root), *batch], capture_output=True,
                              text=True, check=False, env={**os.environ, "PYTHONPATH": str(REPO)})
        done = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        rows.update({r["case"]: r for r in done})
        if len(done) < len(batch):  # the worker died on the next case: record it, go on after it
            dead = batch[len(done)]
            rows[dead] = {"case": dead, "file": "", side: "crash", f"{side}_msg": f"exit {proc.returncode}"}
            pending = batch[len(done) + 1:] + pending
        print(f"\r{side}: {len(rows)}/{len(cases)} cases", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return rows


def run_all(root: Path, cases: list[str], chunk: int) -> list[dict[str, str]]:
    ours = _run_side("ours", root, cases, chunk)
    plain = _run_side("plain", root, cases, chunk)
    return [{**plain[c], **ours[c]} for c in cases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("sbml_semantic_report.tsv"))
    parser.add_argument("--cases", help="a range such as 1-200")
    parser.add_argument("--chunk", type=int, default=60)
    parser.add_argument("--check", type=Path, help="known cases (TSV: case, outcome, reason); exit 1 on others")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker[0], Path(args.worker[1]), args.worker[2:])
        return
    root = suite_dir()
    if not root.is_dir():
        sys.exit(f"{root} not found; set QSP_SBML_CONFORMANCE_DIR")
    cases = sorted(p.name for p in root.iterdir() if p.name.isdigit())
    if args.cases:
        lo, _, hi = args.cases.partition("-")
        cases = [c for c in cases if int(lo) <= int(c) <= int(hi or lo)]
    t0 = time.time()
    rows = run_all(root, cases, args.chunk)
    import pandas as pd

    table = pd.DataFrame(rows).sort_values("case")
    table.to_csv(args.out, sep="\t", index=False)
    ours, plain = Counter(table["ours"]), Counter(table["plain"])
    print(f"SBML semantic suite: {len(table)} cases, {time.time() - t0:.0f} s; report {args.out}")
    print(f"{'outcome':<10} {'qsp-sbml':>9} {'plain libroadrunner':>20}")
    for key in ("pass", "wrong", "refused", "error", "crash", "n/a"):
        print(f"{key:<10} {ours.get(key, 0):9d} {plain.get(key, 0):20d}")
    both = table[(table["plain"] == "pass") & (table["ours"] != "pass")]
    print(f"plain passes, we do not: {len(both)}; we pass, plain does not: "
          f"{len(table[(table['ours'] == 'pass') & (table['plain'] != 'pass')])}")
    if args.check:
        sys.exit(check(table, args.check))


def check(table, known_path: Path) -> int:
    """0 when every bad outcome of ours is listed in ``known_path`` with its reason, else 1 (printing them)."""
    import pandas as pd

    known = pd.read_csv(known_path, sep="\t", dtype=str, comment="#")
    listed = {(r.case, r.outcome) for r in known.itertuples()}
    bad = table[table["ours"].isin(["wrong", "error", "crash"])
                | ((table["plain"] == "pass") & (table["ours"] != "pass"))]
    unlisted = [r for r in bad.itertuples() if (r.case, r.ours) not in listed]
    stale = sorted(c for c, o in listed if c in set(table["case"]) and (c, o) not in
                   {(r.case, r.ours) for r in bad.itertuples()})
    for r in unlisted:
        print(f"NOT LISTED: {r.case} ours={r.ours} plain={r.plain}: {r.ours_msg}")
    for c in stale:
        print(f"LISTED BUT NOT SEEN (remove it from {known_path.name}): {c}")
    print(f"check against {known_path}: {len(bad)} cases listed with reasons, {len(unlisted)} not listed, "
          f"{len(stale)} stale")
    return 1 if unlisted or stale else 0


if __name__ == "__main__":
    main()
