"""Our PEtab objective vs AMICI's, side by side in one process: CPU time, agreement, set-up cost.

For every problem of ``$QSP_SBML_CONFORMANCE_DIR/benchmark_models`` (default
``../shared/conformance`` beside the checkout) and the shipped problems under
``petab_problems/`` that AMICI can import:

* set-up: ours = ``PetabProblem.from_yaml`` + ``PetabObjective`` + the first
  ``objective(x, sensi=1)`` (which generates and compiles the sensitivity
  model) minus the median of the repeated ones at the same point; AMICI =
  ``petab.Problem.from_yaml`` + ``import_petab_problem``
  (code generation and the C++ compile, CPU of the compiler processes
  included through ``RUSAGE_CHILDREN``).  AMICI's compiled models are cached
  in ``--cache`` (default ``~/.cache/qsp-sbml-amici``, outside the
  repository); on a rerun its set-up is the one measured when the model was
  first built (read back from the cache, marked ``cached``);
* at the nominal point and at ``--points`` seeded random points (``x_nominal
  + U(-0.2, 0.2)`` on the parameters' scales, clipped to the bounds): CPU time
  (``time.process_time``) and wall time of the value and of value+gradient,
  ours and AMICI's alternating, ``--repeats`` times each, medians; AMICI's
  evaluation is what an optimiser's objective pays per call (pyPESTO's
  AmiciObjective): ``fill_in_parameters`` into edatas created once, then
  ``run_simulations`` and the sum of the log-likelihoods, forward
  sensitivities; the user-level ``simulate_petab`` (edatas and parameter
  mapping passed in) is timed once per point beside it and gives the values
  and gradients compared; both at ``rtol=1e-8, atol=1e-12`` (our defaults),
  other settings at each tool's defaults;
* agreement: ``|f_ours - f_amici| / max(|f_amici|, 1)`` and the gradients'
  ``max_j |g_ours - g_amici| / max(||g_amici||_inf, 1e-8)``.

Ratios printed are ours / AMICI (below 1: we are faster).  Isensee_JCB2018 is
opt-in (``--problems Isensee_JCB2018`` or ``--all``): AMICI's compile of it
takes many CPU-minutes.

AMICI is a benchmark-only dependency, in its own virtual environment (see
``benchmarks/README.md``)::

    /work/venv-amici/bin/python benchmarks/amici_compare.py --problems Boehm_JProteomeRes2014,Brannmark_JBC2010
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import sys
import time
import warnings
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OPT_IN = {"Isensee_JCB2018"}
RTOL, ATOL = 1e-8, 1e-12


def _conformance_dir() -> Path:
    env = os.environ.get("QSP_SBML_CONFORMANCE_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "conformance"


def _all_problems() -> dict[str, Path]:
    out = {}
    bench = _conformance_dir() / "benchmark_models"
    if bench.is_dir():
        for p in sorted(bench.iterdir()):
            if (p / f"{p.name}.yaml").is_file():
                out[p.name] = p / f"{p.name}.yaml"
    for p in sorted((ROOT / "petab_problems").iterdir()):
        if (p / f"{p.name}.yaml").is_file():
            out[p.name] = p / f"{p.name}.yaml"
    return out


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the compiler)."""
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime


class Ours:
    """Our objective on one problem."""

    def __init__(self, path: Path) -> None:
        import qsp_sbml.petab as qp

        t0, w0 = _cpu(), time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.problem = qp.PetabProblem.from_yaml(path, guard=False)
        self.objective = qp.PetabObjective(self.problem)
        self.load_cpu = _cpu() - t0
        self.objective(self.objective.x_nominal, sensi=1)
        self.setup_cpu = _cpu() - t0
        self.setup_wall = time.perf_counter() - w0
        self.ids = list(self.problem.x_free_ids)

    def value(self, x: np.ndarray) -> float:
        return float(self.objective(x))

    def value_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = self.objective(x, sensi=1)
        return float(f), np.asarray(g, dtype=float)


class Amici:
    """AMICI's objective on one problem (model compiled into ``cache``)."""

    def __init__(self, path: Path, name: str, cache: Path) -> None:
        import petab.v1 as petab
        from amici.importers.petab.v1 import import_petab_problem
        from amici.sim.sundials import SensitivityMethod
        from amici.sim.sundials.petab.v1 import create_edatas
        from amici.sim.sundials.petab.v1._parameter_mapping import create_parameter_mapping

        outdir = cache / name
        record = cache / f"{name}.setup.json"
        built = outdir.is_dir() and record.is_file()
        t0, w0 = _cpu(), time.perf_counter()
        self.petab = petab.Problem.from_yaml(path)
        self.model = import_petab_problem(self.petab, outdir, model_name=f"amici_{name}")
        self.solver = self.model.create_solver()
        self.solver.set_relative_tolerance(RTOL)
        self.solver.set_absolute_tolerance(ATOL)
        self.solver.set_sensitivity_method(SensitivityMethod.forward)
        conditions = self.petab.get_simulation_conditions_from_measurement_df()
        self.edatas = create_edatas(self.model, self.petab, conditions)
        self.mapping = create_parameter_mapping(self.petab, conditions, True, self.model)
        cpu, wall = _cpu() - t0, time.perf_counter() - w0
        if built:
            saved = json.loads(record.read_text())
            self.setup_cpu, self.setup_wall, self.cached = saved["cpu"], saved["wall"], True
        else:
            record.write_text(json.dumps({"cpu": cpu, "wall": wall}))
            self.setup_cpu, self.setup_wall, self.cached = cpu, wall, False
        self.ids = list(self.petab.x_free_ids)
        free = self.mapping.free_symbols
        self.defaults = {i: v for i, v in zip(self.petab.x_ids, self.petab.get_x_nominal(scaled=True), strict=True)
                         if i in free}

    def core(self, x: np.ndarray, order: int) -> float:
        """What an optimiser's objective pays per call (as pyPESTO's): parameters into the edatas, simulate, sum."""
        from amici.sim.sundials import SensitivityOrder, run_simulations
        from amici.sim.sundials.petab.v1 import fill_in_parameters

        self.solver.set_sensitivity_order(SensitivityOrder.first if order else SensitivityOrder.none)
        params = self.defaults | {i: float(v) for i, v in zip(self.ids, x, strict=True) if i in self.defaults}
        fill_in_parameters(self.edatas, params, True, self.mapping, self.model, warn_unused=False)
        rdatas = run_simulations(self.model, self.solver, self.edatas)
        return -float(sum(r.llh for r in rdatas))

    def _run(self, x: np.ndarray, order: int) -> dict[str, Any]:
        from amici.sim.sundials import SensitivityOrder
        from amici.sim.sundials.petab.v1 import simulate_petab

        self.solver.set_sensitivity_order(SensitivityOrder.first if order else SensitivityOrder.none)
        params = dict(zip(self.ids, (float(v) for v in x), strict=True))
        return simulate_petab(self.petab, amici_model=self.model, solver=self.solver, problem_parameters=params,
                              scaled_parameters=True, scaled_gradients=True, edatas=self.edatas,
                              parameter_mapping=self.mapping)

    def value(self, x: np.ndarray) -> float:
        llh = self._run(x, 0)["llh"]
        return -float(llh) if llh is not None and math.isfinite(llh) else math.inf

    def value_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        res = self._run(x, 1)
        llh, sllh = res["llh"], res["sllh"]
        if llh is None or not math.isfinite(llh) or sllh is None:
            return math.inf, np.full(len(x), np.nan)
        return -float(llh), -np.array([sllh[i] for i in self.ids], dtype=float)


def _timed(fn: Any, *args: Any) -> tuple[Any, float, float]:
    t0, w0 = time.process_time(), time.perf_counter()
    out = fn(*args)
    return out, time.process_time() - t0, time.perf_counter() - w0


def _points(ours: Ours, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x0 = np.asarray(ours.objective.x_nominal, dtype=float)
    lb, ub = np.asarray(ours.problem.lb, dtype=float), np.asarray(ours.problem.ub, dtype=float)
    return [x0] + [np.clip(x0 + rng.uniform(-0.2, 0.2, len(x0)), lb, ub) for _ in range(n)]


def _rel(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)):
        return 0.0 if a == b else math.inf
    return abs(a - b) / max(abs(b), 1.0)


def _grad_rel(a: np.ndarray, b: np.ndarray) -> float:
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.inf
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-8))


def compare(name: str, path: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """Print and return one problem's figures."""
    ours = Ours(path)
    try:
        amici = Amici(path, name, args.cache)
    except Exception as err:  # report why AMICI could not take this problem and go on
        print(f"{name}: AMICI could not import it: {type(err).__name__}: {str(err)[:200]}")
        return None
    perm = [ours.ids.index(i) for i in amici.ids]
    rows = []
    for k, x in enumerate(_points(ours, args.points, args.seed)):
        xa = x[perm]
        # agreement (and the CPU of AMICI's user-level call) from simulate_petab, once per point
        fa, sp_f, _ = _timed(amici.value, xa)
        (_fa1, ga), sp_g, _ = _timed(amici.value_gradient, xa)
        t: dict[str, list[float]] = {key: [] for key in ("of", "af", "og", "ag", "ofw", "afw", "ogw", "agw")}
        for _ in range(args.repeats):
            fo, c, w = _timed(ours.value, x)
            t["of"].append(c), t["ofw"].append(w)
            _, c, w = _timed(amici.core, xa, 0)
            t["af"].append(c), t["afw"].append(w)
            (_fo1, go), c, w = _timed(ours.value_gradient, x)
            t["og"].append(c), t["ogw"].append(w)
            _, c, w = _timed(amici.core, xa, 1)
            t["ag"].append(c), t["agw"].append(w)
        m = {key: median(v) for key, v in t.items()}
        row = {"point": k, "f_ours": fo, "f_amici": fa, "df": _rel(fo, fa), "dg": _grad_rel(go[perm], ga),
               "simulate_petab_f": sp_f, "simulate_petab_g": sp_g, **m}
        rows.append(row)
        print(f"  {name:26s} pt{k} f={fo:13.6f} |df|={row['df']:.1e} |dg|={row['dg']:.1e} "
              f"value {m['of'] * 1e3:8.2f} / {m['af'] * 1e3:8.2f} ms = {m['of'] / max(m['af'], 1e-9):6.2f}x "
              f"grad {m['og'] * 1e3:8.2f} / {m['ag'] * 1e3:8.2f} ms = {m['og'] / max(m['ag'], 1e-9):6.2f}x "
              f"(simulate_petab {sp_f * 1e3:.1f} / {sp_g * 1e3:.1f} ms)", flush=True)
    # set-up: the first value+gradient minus a repeated one at the same (nominal) point
    setup_ours = max(ours.setup_cpu - rows[0]["og"], ours.load_cpu)
    return {"problem": name, "n_x": len(ours.ids), "setup_ours": setup_ours, "setup_amici": amici.setup_cpu,
            "setup_ours_wall": ours.setup_wall, "setup_amici_wall": amici.setup_wall, "amici_cached": amici.cached,
            "rows": rows}


def _summary(results: list[dict[str, Any]]) -> None:
    print()
    print(f"{'problem':28s} {'n_x':>4s} {'value ours/AMICI':>17s} {'grad ours/AMICI':>16s} {'max |df|':>9s} "
          f"{'max |dg|':>9s} {'set-up ours [s]':>15s} {'AMICI [s]':>10s} {'AMICI/ours':>10s}")
    for r in results:
        rows = r["rows"]
        fv = median(x["of"] / max(x["af"], 1e-9) for x in rows)
        gv = median(x["og"] / max(x["ag"], 1e-9) for x in rows)
        print(f"{r['problem']:28s} {r['n_x']:4d} {fv:16.2f}x {gv:15.2f}x {max(x['df'] for x in rows):9.1e} "
              f"{max(x['dg'] for x in rows):9.1e} {r['setup_ours']:15.2f} {r['setup_amici']:10.1f}"
              f"{'*' if r['amici_cached'] else ' '}{r['setup_amici'] / max(r['setup_ours'], 1e-9):9.1f}x")
    print("CPU seconds (process_time; AMICI's set-up includes the compiler's child processes); ratios: median over "
          "the points of the per-point median CPU ratios; * AMICI's set-up as measured when its cache was built")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", default="", help="comma-separated problem names (default: all but opt-in)")
    parser.add_argument("--all", action="store_true", help="include the opt-in problems (Isensee_JCB2018)")
    parser.add_argument("--points", type=int, default=3, help="seeded random points besides the nominal one")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per point (medians)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "qsp-sbml-amici")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    # the model extensions must be wrapped by the SWIG that built AMICI (pip's, in AMICI's venv), not a system one
    venv_swig = Path(sys.executable).parent / "swig"
    if "SWIG" not in os.environ and venv_swig.is_file():
        os.environ["SWIG"] = str(venv_swig)
    logging.getLogger("amici").setLevel(logging.ERROR)
    problems = _all_problems()
    names = [n.strip() for n in args.problems.split(",") if n.strip()] or [
        n for n in problems if args.all or n not in OPT_IN]
    unknown = [n for n in names if n not in problems]
    if unknown:
        print(f"unknown problems {unknown}; known: {sorted(problems)}", file=sys.stderr)
        return 1
    skipped = sorted(set(problems) - set(names) & OPT_IN)
    if skipped:
        print(f"opt-in, not run (AMICI's compile takes many CPU-minutes; name them with --problems): {skipped}")
    import amici

    import qsp_sbml

    print(f"AMICI {amici.__version__}, qsp-sbml {qsp_sbml.__version__}, numpy {np.__version__}, python "
          f"{sys.version.split()[0]}; rtol={RTOL:g} atol={ATOL:g}; {args.points} random points, {args.repeats} "
          "repeats")
    results = []
    for name in names:
        try:
            r = compare(name, problems[name], args)
        except Exception as err:  # one failure is reported, the others still run
            print(f"{name}: failed: {type(err).__name__}: {str(err)[:300]}")
            continue
        if r is not None:
            results.append(r)
    if results:
        _summary(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
