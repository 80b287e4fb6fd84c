"""Model load benchmark: compiling the largest composed model cold vs from the compiled-model cache.

The largest composed model is the one under models/composed/ whose flat SBML is largest (the comp file
is loaded; the cache keys on its flat model).  Measured side by side, in alternating order, each figure
the median of ``QSP_BENCH_REPEATS`` (default 5) repeats, in CPU seconds (of this process for 1 and 2, of the
CLI process and its guard process for 3; the CLI's wall time is printed too):

1. compilation alone: ``roadrunner.RoadRunner(flat_sbml)`` (cold) vs
   :func:`qsp_sbml.simulate.model_cache.compiled_state` from a warm cache (load of the saved state);
2. ``qsp_sbml.load_model(..., guard=False)`` (read, validate, flatten, compile) with an empty cache
   folder vs the warm one;
3. a whole ``qsp-sbml simulate`` CLI run (a new Python process; load in the guard process, 7 days of
   q24h oral dosing to ``pbpk.drug_gi_lumen``) with an empty cache folder vs the warm one.

Usage::

    python benchmarks/model_load.py
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMPOSED = REPO / "models" / "composed"


def largest_composed() -> tuple[Path, Path]:
    """(comp file, flat file) of the composed model with the largest flat SBML."""
    flat = max(COMPOSED.glob("*_flat.xml"), key=lambda p: p.stat().st_size)
    return COMPOSED / flat.name.replace("_flat.xml", ".xml"), flat


def timed(fn: Callable[[], object]) -> float:
    """CPU seconds of ``fn()`` in this process (steadier than wall time on a shared machine)."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def cli_run(model: Path, cache: Path, out: Path) -> float:
    """Run the CLI once; return the CPU seconds of the run (the CLI process and its guard process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "QSP_SBML_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    env.pop("QSP_SBML_CACHE", None)
    cmd = [sys.executable, "-m", "qsp_sbml", "simulate", str(model), "-r", "7.5 mg po q24h x 7 to pbpk__drug_gi_lumen",
           "--end", "168", "--step", "1", "-s", "pbpk__C_plasma", "-o", str(out)]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def main() -> int:
    import roadrunner

    import qsp_sbml as qs
    from qsp_sbml.simulate import model_cache

    warnings.filterwarnings("ignore", category=qs.errors.UnitWarning)
    repeats = int(os.environ.get("QSP_BENCH_REPEATS", "5"))
    comp, flat = largest_composed()
    flat_sbml = qs.load_model(comp, guard=False).sbml
    root = Path(tempfile.mkdtemp(prefix="qsp-bench-cache-"))
    warm = root / "warm"
    times: dict[str, list[float]] = {k: [] for k in ("compile", "cached_state", "load_cold", "load_cached",
                                                     "cli_cold", "cli_cached", "cpu_cold", "cpu_cached")}
    try:
        os.environ["QSP_SBML_CACHE_DIR"] = str(warm)
        os.environ.pop("QSP_SBML_CACHE", None)
        model_cache.compiled_state(flat_sbml)  # fill the warm cache
        cli_run(comp, warm, root / "out.tsv")
        for k in range(repeats):
            cold = root / f"cold{k}"
            times["compile"].append(timed(lambda: roadrunner.RoadRunner(flat_sbml)))
            model_cache.STATS.clear()
            times["cached_state"].append(timed(lambda: model_cache.compiled_state(flat_sbml)))
            if model_cache.STATS["hit"] != 1:
                raise RuntimeError(f"expected a cache hit, got {dict(model_cache.STATS)}")
            os.environ["QSP_SBML_CACHE_DIR"] = str(cold)
            times["load_cold"].append(timed(lambda: qs.load_model(comp, guard=False)))
            os.environ["QSP_SBML_CACHE_DIR"] = str(warm)
            times["load_cached"].append(timed(lambda: qs.load_model(comp, guard=False)))
            for key, folder, out in (("cold", root / f"clicold{k}", root / "a.tsv"), ("cached", warm, root / "b.tsv")):
                t0 = time.perf_counter()
                times[f"cpu_{key}"].append(cli_run(comp, folder, out))
                times[f"cli_{key}"].append(time.perf_counter() - t0)
        same = (root / "a.tsv").read_text() == (root / "b.tsv").read_text()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"model: {comp.relative_to(REPO)} (flat {flat.stat().st_size / 1024:.0f} kB); libroadrunner "
          f"{roadrunner.__version__}; median of {repeats} alternating repeats")
    print(f"compile (RoadRunner(sbml)):         {1e3 * med['compile']:8.1f} ms CPU")
    print(f"cached compiled state (cache hit):  {1e3 * med['cached_state']:8.1f} ms CPU   "
          f"ratio {med['compile'] / med['cached_state']:.1f}x")
    print(f"load_model, empty cache:            {1e3 * med['load_cold']:8.1f} ms CPU")
    print(f"load_model, warm cache:             {1e3 * med['load_cached']:8.1f} ms CPU   "
          f"ratio {med['load_cold'] / med['load_cached']:.2f}x (validation and flattening are not cached)")
    print(f"qsp-sbml simulate CLI, empty cache: {1e3 * med['cli_cold']:8.1f} ms wall, "
          f"{1e3 * med['cpu_cold']:8.1f} ms CPU")
    print(f"qsp-sbml simulate CLI, warm cache:  {1e3 * med['cli_cached']:8.1f} ms wall, "
          f"{1e3 * med['cpu_cached']:8.1f} ms CPU   ratio (wall) {med['cli_cold'] / med['cli_cached']:.2f}x, "
          f"(CPU) {med['cpu_cold'] / med['cpu_cached']:.2f}x")
    print(f"CPU saved per CLI run: {1e3 * (med['cpu_cold'] - med['cpu_cached']):.0f} ms; identical output: {same}")
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
