"""Per-call cost of ``Model.simulate`` against a bare RoadRunner loop, and of the first ``load_model`` in a process.

Measured side by side in one run, in alternating order, CPU seconds of this process (steadier than wall time
on a shared machine), each figure the median of ``QSP_BENCH_REPEATS`` (default 7) repeats of
``QSP_BENCH_CALLS`` (default 200) calls:

1. ``Model.simulate(times, selections=[...])`` vs ``rr.resetAll(); rr.simulate(times=times)`` on the same
   compiled model with the same selections, for the one-compartment oral reference model (49 output times) and
   the whole-body PBPK model (97 output times, plasma concentration);
2. the first ``qsp_sbml.load_model(path)`` in a new Python process vs ``roadrunner.RoadRunner(path)``, from
   ``benchmarks/first_load.py`` (which breaks it down and adds real-world files).

Usage::

    python benchmarks/simulate_call.py
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REPEATS = int(os.environ.get("QSP_BENCH_REPEATS", "7"))
CALLS = int(os.environ.get("QSP_BENCH_CALLS", "200"))


def cpu(fn: Callable[[], object]) -> float:
    t0 = time.process_time()
    for _ in range(CALLS):
        fn()
    return (time.process_time() - t0) / CALLS


def per_call(path: Path, selections: list[str], times: np.ndarray) -> tuple[float, float]:
    import roadrunner

    import qsp_sbml as qs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = qs.load_model(path, guard=False)
    rr = roadrunner.RoadRunner(model.sbml)
    rr.timeCourseSelections = ["time", *selections]
    model.simulate(times, selections=selections)

    def ours() -> None:
        model.simulate(times, selections=selections)

    def bare() -> None:
        rr.resetAll()
        rr.simulate(times=times)

    a, b = [], []
    for k in range(REPEATS):
        first, second = (ours, bare) if k % 2 == 0 else (bare, ours)
        x, y = cpu(first), cpu(second)
        a.append(x if first is ours else y)
        b.append(y if first is ours else x)
    return statistics.median(a), statistics.median(b)


def print_per_call() -> None:
    from qsp_sbml import resources

    cases = [
        ("one-compartment oral", resources.ONE_COMPARTMENT_ORAL, ["C"], np.linspace(0, 24, 49)),
        ("whole-body PBPK", REPO / "models/pbpk/wholebody_pbpk.xml", ["C_plasma"], np.linspace(0, 48, 97)),
    ]
    print(f"per call, CPU ms (median of {REPEATS} x {CALLS} calls, alternating)")
    print(f"{'model':<22} {'Model.simulate':>15} {'bare RoadRunner':>16} {'ratio':>7}")
    for name, path, sels, times in cases:
        ours, bare = per_call(path, sels, times)
        print(f"{name:<22} {ours * 1e3:15.3f} {bare * 1e3:16.3f} {ours / bare:7.2f}")


def main() -> None:
    from first_load import print_first_load

    from qsp_sbml import resources

    print_per_call()
    print_first_load("one-compartment oral reference model", Path(resources.ONE_COMPARTMENT_ORAL))


if __name__ == "__main__":
    main()
