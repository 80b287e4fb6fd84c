"""The first ``load_model`` in a new Python process against plain ``roadrunner.RoadRunner(path)``, where the time goes.

Each figure is the median of ``QSP_BENCH_REPEATS`` (default 5) new Python processes, the kinds run in alternating
order, wall time inside the child (a shared machine: read the ratios, and run it twice).  Per model file:

* ``import``: ``import qsp_sbml`` vs ``import roadrunner``;
* ``first load``: ``qsp_sbml.load_model(path)`` (guard process start-up included) vs ``RoadRunner(path)``, both
  after their imports; ours with the compiled-model cache warm (the usual case from the second run on) and
  empty (``QSP_SBML_CACHE_DIR`` set to a new folder: RoadRunner compiles, as plain RoadRunner always does);
* ``import + first load``: the two together, what a script pays;
* the parts of ours: the guard worker's start-up alone (a trivial guarded call) and ``load_model(guard=False)``.

Then the per-call cost of ``Model.simulate`` vs a bare ``rr.simulate`` (``benchmarks/simulate_call.py``).

Usage::

    python benchmarks/first_load.py             # QSP_BENCH_PARTS=load or =call for one half
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPEATS = int(os.environ.get("QSP_BENCH_REPEATS", "5"))

_CHILD = """
import os, sys, time, warnings
warnings.simplefilter("ignore")
kind, path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if kind == "plain":
    import roadrunner
    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
    t1 = time.perf_counter()
    roadrunner.RoadRunner(path)
elif kind == "guard":
    from qsp_sbml._guard import run_guarded
    t1 = time.perf_counter()
    run_guarded(os.getpid)  # start the worker and make one round trip
else:
    import qsp_sbml as qs
    t1 = time.perf_counter()
    qs.load_model(path, guard=kind != "unguarded")
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def _child(kind: str, path: Path, cache: str | None) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("QSP_SBML_CACHE", None)
    if cache is not None:
        env["QSP_SBML_CACHE_DIR"] = cache
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(path)], capture_output=True, text=True, env=env, check=True
    )
    imp, load = res.stdout.split()
    return float(imp), float(load)


def first_load(path: Path, repeats: int = REPEATS) -> dict[str, tuple[float, float]]:
    """Median (import, first call) seconds per kind: plain, ours (warm cache), cold (empty cache), unguarded, guard."""
    kinds = ["ours", "plain", "cold", "unguarded", "guard"]
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="qsp-bench-first-load-") as tmp:
        _child("ours", path, None)  # fill the usual cache once
        for k in range(repeats):
            for kind in kinds if k % 2 == 0 else kinds[::-1]:
                cache = str(Path(tmp, f"empty{k}")) if kind == "cold" else None
                out[kind].append(_child(kind, path, cache))
    return {
        kind: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
        for kind, values in out.items()
    }


def print_first_load(name: str, path: Path) -> None:
    med = first_load(path)
    ours, plain, cold = med["ours"], med["plain"], med["cold"]
    print(f"\n{name} ({path.stat().st_size / 1024:.0f} kB), median of {REPEATS} new processes, wall ms")
    print(f"{'':34} {'qsp_sbml':>10} {'RoadRunner':>11} {'ratio':>7}")
    rows = [
        ("import", ours[0], plain[0]),
        ("first load (warm model cache)", ours[1], plain[1]),
        ("first load (empty model cache)", cold[1], plain[1]),
        ("import + first load (warm)", sum(ours), sum(plain)),
    ]
    for label, a, b in rows:
        print(f"{label:34} {a * 1e3:10.0f} {b * 1e3:11.0f} {a / b:7.2f}")
    print(
        f"  of which: guard worker start-up and one round trip {med['guard'][1] * 1e3:.0f} ms; "
        f"load_model(guard=False) {med['unguarded'][1] * 1e3:.0f} ms"
    )


def main() -> None:
    from qsp_sbml import resources

    parts = os.environ.get("QSP_BENCH_PARTS", "load,call").split(",")
    if "load" in parts:
        print_first_load("one-compartment oral reference model", Path(resources.ONE_COMPARTMENT_ORAL))
        print_first_load("BioModels BIOMD0000000159 (L2V1)", REPO / "tests/realworld/biomodels/BIOMD0000000159.xml")
        print_first_load(
            "comp PBPK body model (hctz, 2 external files)", REPO / "tests/realworld/comp/hctz/models/hctz_body.xml"
        )
    if "call" in parts:
        sys.path.insert(0, str(Path(__file__).parent))
        from simulate_call import print_per_call

        print()
        print_per_call()
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
