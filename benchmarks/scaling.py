"""Scaling benchmark: time per subject and peak memory per worker from 1,000 to 100,000 subjects; Dask vs processes.

Model, regimen and cohort are those of ``benchmarks/cohort.py`` (its lean formulation: whole-body PBPK with
midazolam composed with models/pd/molar_conversion.xml and the IDR type I module, ``cohort.build_models``;
``cohort.REGIMEN``, 7.5 mg po q12h x 28; output ``cohort.OUTPUT`` hourly 0-336 h; ``healthy_adults``
covariates and :func:`qsp_sbml.population.subject_parameters` per subject, ``cohort.build_cohorts``).

Measured, each run with a fresh pool of 2 worker processes (start-up included):

1. ``simulate_cohort`` with ``ProcessEngine(2)`` at each size of ``QSP_SCALING_N`` (default
   ``1000,10000,100000``): CPU seconds per subject (this process plus its worker processes), wall
   milliseconds per subject, and the peak resident memory of each worker process (``VmHWM`` from
   /proc, sampled every 0.2 s while it runs); ratios of the largest size to the 10,000 (or second
   largest) size.  Targets (issue 10): time per subject at 100,000 within 1.1x of that at 10,000; peak
   memory per worker flat within 10 %.
2. ``DaskEngine(n_workers=2)`` (a LocalCluster on loopback) vs ``ProcessEngine(2)`` on the same
   ``QSP_SCALING_DASK_N`` subjects (default 10,000), run in turn, CPU of the whole run (scheduler in this
   process included) and whether the results are identical.  Target: Dask CPU <= 1.15x the process engine.

``QSP_SCALING_MODEL=mab`` runs the same measurements on a light model instead (the antibody two-compartment
TMDD module, models/pbpk/mab_two_compartment_tmdd.xml, 150 nmol SC every 4 weeks x 3, free antibody daily
for 12 weeks, log-normal IIV of 30 % on CL and the central volume): about 50 times cheaper per subject, so
100,000 subjects fit in minutes, and per-subject overhead (Python, IPC, result handling) weighs more in
the ratios.

``QSP_SCALING_METHOD`` picks ``simulate_cohort``'s method: ``general`` (default, the RoadRunner path) or
``auto`` (the structure-aware path: linear PK solved exactly, only the PD integrated; about 3.5x cheaper per
subject on this model, ``benchmarks/cohort.py``), which makes 100,000 subjects of the PBPK-PD model fit in
about 15 minutes on 2 cores.

``QSP_SCALING_N=`` (empty) skips the sizes, ``QSP_SCALING_DASK_N=0`` the Dask comparison.

After the sizes, the plan for 1,000,000 subjects is printed: CPU-hours, wall time on 2 local workers and
on a 64-worker Dask cluster, and the memory of the result array, each extrapolated (linearly, and stated
as such) from the largest measured size.

Usage (small sizes for a quick provisional run)::

    QSP_SCALING_N=500,2000 QSP_SCALING_DASK_N=2000 python benchmarks/scaling.py
    QSP_SCALING_MODEL=mab python benchmarks/scaling.py
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cohort import OUTPUT, REGIMEN, build_cohorts, build_models

import qsp_sbml as qs
from qsp_sbml.engine import Engine, ProcessEngine
from qsp_sbml.population import Cohort, simulate_cohort

TIMES = np.arange(0.0, 14 * 24 + 1e-9, 1.0)


def make_cohort(n: int, seed: int = 2026) -> Cohort:
    """``n`` subjects of ``healthy_adults`` for the lean model (``benchmarks/cohort.py``'s cohort)."""
    return build_cohorts(n, seed)[0]


def _descendants(pid: int) -> list[int]:
    """Pids of all descendants of ``pid`` (from /proc/*/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                kids = Path(f"/proc/{p}/task/{t}/children").read_text().split()
            except OSError:
                continue
            for k in kids:
                out.append(int(k))
                todo.append(int(k))
    return out


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakRss:
    """Sample the peak RSS (VmHWM) of every descendant process every ``interval`` seconds."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            for pid in _descendants(me):
                hwm = _vm_hwm_kib(pid)
                if hwm is not None:
                    self.peak[pid] = max(hwm, self.peak.get(pid, 0))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def workers_mib(self, n: int) -> list[float]:
        """The ``n`` largest peaks in MiB (the worker processes; helpers such as Dask nannies are smaller)."""
        return sorted((v / 1024 for v in self.peak.values()), reverse=True)[:n]


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


MAB = {"times": np.arange(0.0, 12 * 168 + 1e-9, 24.0), "output": "C_free",
       "regimen": "150 nmol sc q4wk x 3 to mab_sc_depot"}


def mab_setup() -> tuple[qs.Model, Any]:
    """The light model and a cohort factory (log-normal IIV, CV 30 % on CL and the central volume)."""
    from qsp_sbml.population import lognormal_iiv
    from qsp_sbml.resources import project_models_dir

    model = qs.load_model(project_models_dir() / "pbpk" / "mab_two_compartment_tmdd.xml")
    sbml = model.sbml_model
    typical = {"CL": float(sbml.getParameter("CL").getValue()),
               "central": float(sbml.getCompartment("central").getSize())}

    def factory(n: int, seed: int = 2026) -> Cohort:
        return Cohort.from_parts(parameters=lognormal_iiv(typical, n, seed=seed, cv=dict.fromkeys(typical, 0.3)),
                                 seed=seed)

    return model, factory


def run(model: qs.Model, cohort: Cohort, engine: Engine, *, times: np.ndarray = TIMES, output: str = OUTPUT,
        regimen: str = REGIMEN, method: str = "general") -> dict[str, Any]:
    c0, s0, w0 = children_cpu(), time.process_time(), time.perf_counter()
    with PeakRss() as rss:
        res = simulate_cohort(model, cohort, times, outputs=[output], regimen=regimen, engine=engine,
                              progress=False, method=method)
    cpu = children_cpu() - c0 + time.process_time() - s0
    return {"cpu": cpu, "wall": time.perf_counter() - w0, "rss": rss.workers_mib(engine.n_workers),
            "values": res.values, "failed": len(res.failed), "result_mib": res.values.nbytes / 2**20,
            "parent_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def plan_million(n: int, r: dict[str, Any], n_workers: int = 2) -> None:
    """Print the 10^6-subject plan, extrapolated linearly from the measured run ``r`` of ``n`` subjects."""
    big = 1_000_000
    cpu_h = r["cpu"] / n * big / 3600
    print(f"plan for {big:,} subjects (extrapolated linearly from the measured {n:,}, not measured): "
          f"{cpu_h:.1f} CPU-h; {cpu_h / n_workers:.1f} h wall on {n_workers} local workers, "
          f"{cpu_h / 64 * 60:.0f} min on a 64-worker Dask cluster (DaskEngine('dask://HOST:PORT'), e.g. "
          f"dask-jobqueue on SLURM); result array {r['result_mib'] / n * big / 1024:.2f} GiB in the client "
          f"(a resumable chunked run, simulate_cohort(out=DIR, chunk_size=...), keeps it on disk: "
          f"{r['result_mib'] / n * 1e5 / 1024:.2f} GiB per 100,000); peak RSS per worker stays "
          f"{max(r['rss']):.0f} MiB (flat in N, measured)")


def main() -> int:
    warnings.filterwarnings("ignore", category=qs.errors.UnitWarning)  # the IDR parameters carry no units
    sizes = [int(x) for x in os.environ.get("QSP_SCALING_N", "1000,10000,100000").split(",") if x.strip()]
    n_dask = int(os.environ.get("QSP_SCALING_DASK_N", "10000"))
    which = os.environ.get("QSP_SCALING_MODEL", "pbpk")
    method = os.environ.get("QSP_SCALING_METHOD", "general")
    if method not in ("general", "auto"):
        print(f"QSP_SCALING_METHOD={method!r}: use general or auto", file=sys.stderr)
        return 2
    if which == "mab":
        model, factory = mab_setup()
        kw: dict[str, Any] = MAB
        print(f"model: mab_two_compartment_tmdd, {len(model.species_ids)} species; {MAB['regimen']}; output "
              f"{MAB['output']} daily 0-12 weeks; 2 worker processes")
    elif which == "pbpk":
        model, factory, kw = build_models()[0], make_cohort, {"method": method}
        print(f"model: wholebody_pbpk (midazolam) -> molar conversion -> IDR type I (composed), "
              f"{len(model.species_ids)} species; {REGIMEN}; output {OUTPUT} hourly 0-336 h; 2 worker processes; "
              f"simulate_cohort(method={method!r})")
    else:
        print(f"QSP_SCALING_MODEL={which!r}: use pbpk or mab", file=sys.stderr)
        return 2

    rows = []
    for n in sizes:
        cohort = factory(n)
        r = run(model, cohort, ProcessEngine(2), **kw)
        rows.append((n, r))
        print(f"process engine, {n:>7} subjects: {1e3 * r['cpu'] / n:7.2f} ms CPU/subject, "
              f"{1e3 * r['wall'] / n:7.2f} ms wall/subject, peak RSS per worker "
              f"{', '.join(f'{m:.0f}' for m in r['rss'])} MiB, result array {r['result_mib']:.1f} MiB, parent peak "
              f"RSS {r['parent_mib']:.0f} MiB, failed {r['failed']}")
    if len(rows) > 1:
        (n_big, big) = rows[-1]
        (n_ref, ref) = next(((n, r) for n, r in rows if n == 10000 and n != n_big), rows[-2])
        cpu_ratio = (big["cpu"] / n_big) / (ref["cpu"] / n_ref)
        rss_ratio = max(big["rss"]) / max(ref["rss"])
        print(f"CPU per subject {n_big} / {n_ref}: {cpu_ratio:.3f}x (target <= 1.1x); peak RSS per worker "
              f"{n_big} / {n_ref}: {rss_ratio:.3f}x (target within 10 %)")
    if rows:
        plan_million(*rows[-1])

    if n_dask == 0:  # QSP_SCALING_DASK_N=0: sizes only
        print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        return 0
    from qsp_sbml.distributed import DaskEngine

    cohort = factory(n_dask)
    proc = run(model, cohort, ProcessEngine(2), **kw)
    dask = run(model, cohort, DaskEngine(n_workers=2), **kw)
    identical = np.array_equal(proc["values"], dask["values"], equal_nan=True)
    print(f"{n_dask} subjects: process engine {proc['cpu']:.1f} CPU-s ({proc['wall']:.1f} s wall, peak RSS per "
          f"worker {', '.join(f'{m:.0f}' for m in proc['rss'])} MiB); Dask LocalCluster {dask['cpu']:.1f} CPU-s "
          f"({dask['wall']:.1f} s wall, {', '.join(f'{m:.0f}' for m in dask['rss'])} MiB)")
    print(f"Dask CPU / process engine CPU: {dask['cpu'] / proc['cpu']:.3f}x (target <= 1.15x); "
          f"results identical: {identical}")
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
