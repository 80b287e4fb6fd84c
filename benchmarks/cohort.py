"""Cohort simulation benchmark: our engine vs a bare RoadRunner loop vs an assignment-rule formulation.

Model: the whole-body PBPK module (models/pbpk/wholebody_pbpk.xml) with midazolam, composed with
:func:`qsp_sbml.compose.assemble` (SBML comp, flattened by libSBML) with the molar conversion module
(models/pd/molar_conversion.xml, C [nM] = C_plasma [mg/L] / MW x 1e6, midazolam MW 325.78 g/mol, DrugBank
DB00683 as cited in models/pbpk/drugs/midazolam.yaml) and the indirect-response PD module type I
(models/pd/idr1.xml: dR/dt = kin (1 - Imax C^h / (IC50^h + C^h)) - kout R) with its generic defaults
(kin = kout = 0.1 /h, Imax 1, hill 1, IC50 10 nM; models/pd/idr1.md): a cost benchmark, not a
pharmacological claim.  Regimen: 7.5 mg midazolam po q12h for 14 days (28 doses); one output (the
response R) sampled hourly, 0-336 h.

Cohort: ``healthy_adults`` (NHANES-based covariates), PBPK parameters per subject by
:func:`qsp_sbml.population.subject_parameters` (volumes, flows, GFR, CLint as parameter values).

Measured side by side in one run (CPU seconds of this process, plus of the worker processes for the
process engine):

1. our engine, :func:`qsp_sbml.population.simulate_cohort` with the serial engine;
2. a bare RoadRunner loop on the same model (regimen as SBML events, compiled once; per subject
   ``resetAll``, ``setValues``, ``reset``, ``simulate``);
3. our engine on the same model written the way PK-Sim / MoBi write it, with every derived quantity as an
   assignment rule (``benchmarks/pbpk_formulation.py``'s ``pksim_rules_variant``: Rodgers & Rowland partition
   coefficients as formulas of fu, B:P, logP, pKa and tissue composition, intrinsic clearance as specific
   clearance x liver volume, renal terms from GFR and fu); per subject the same anatomy and drug values as the
   lean module minus the derived ones.  Both formulations give the same trajectories (checked below);
4. our engine with ``ProcessEngine(2)``: parallel efficiency = serial wall time / (2 x parallel wall);
5. the structure-aware path, ``simulate_cohort(..., method="linear-pk")`` (:mod:`qsp_sbml.simulate.linear_pk`:
   the 17 PK states the response needs solved exactly by eigen-decomposition per subject, the response R
   integrated by Dormand-Prince 5(4) at the same tolerances, a batch of subjects at once).  Its accuracy is
   measured against the general path at rtol 1e-10 / atol 1e-14 on the first ``QSP_SBML_BENCH_REF`` subjects
   (default 200): max |difference| / max |reference| of the output.

The work is split into blocks run in turn (1, 2, 3, 5 per block) so that load from other processes hits
them alike.  Usage::

    QSP_SBML_BENCH_N=10000 python benchmarks/cohort.py
    QSP_SBML_BENCH_PARTS=ratios python benchmarks/cohort.py     # 1-3 only (CPU-time ratios; robust to load)
    QSP_SBML_BENCH_PARTS=parallel python benchmarks/cohort.py   # 4 only (wall time: needs a quiet machine)
"""

from __future__ import annotations

import dataclasses
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pbpk_formulation import pksim_rules_variant, rules_inputs

import qsp_sbml as qs
from qsp_sbml.compose.assemble import assemble
from qsp_sbml.engine import ProcessEngine, SerialEngine
from qsp_sbml.pbpk import load_drug
from qsp_sbml.physiology import reference
from qsp_sbml.population import Cohort, sample_population, simulate_cohort, subject_parameters
from qsp_sbml.resources import project_models_dir
from qsp_sbml.simulate.options import IntegratorOptions

MW_MIDAZOLAM = 325.78  # g/mol, DrugBank DB00683 (models/pbpk/drugs/midazolam.yaml)
LINKS = ["pbpk.C_plasma -> conv.C_mass", "conv.C_molar -> pd.C_drug"]
PREFIX = "pbpk__"  # libSBML's flat ids of the PBPK submodel
REGIMEN = f"7.5 mg po q12h x 28 to {PREFIX}drug_gi_lumen"
OUTPUT = "pd__R"


def compose_pd(pbpk_sbml: str) -> str:
    """The flat SBML of ``pbpk_sbml`` -> molar conversion -> IDR type I, composed with ``qsp_sbml.compose``."""
    models = project_models_dir()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pbpk.xml"
        path.write_text(pbpk_sbml, encoding="utf-8")
        composition = assemble({"pbpk": path, "conv": models / "pd" / "molar_conversion.xml",
                                "pd": models / "pd" / "idr1.xml"}, LINKS, {"conv.MW": MW_MIDAZOLAM},
                               name="pbpk_idr1")
    return composition.flat_sbml


def build_models() -> tuple[qs.Model, qs.Model]:
    """The lean and the rules formulation of the composed PBPK + IDR model (flat, loaded)."""
    drug = load_drug(project_models_dir() / "pbpk" / "drugs" / "midazolam.yaml")
    pbpk = (project_models_dir() / "pbpk" / "wholebody_pbpk.xml").read_text(encoding="utf-8")
    lean = qs.load_model(compose_pd(pbpk), guard=False)
    rules = qs.load_model(compose_pd(pksim_rules_variant(pbpk, drug, reference("male"))), guard=False)
    return lean, rules


def build_cohorts(n: int, seed: int = 2026) -> tuple[Cohort, Cohort]:
    """``n`` healthy adults: their parameters for the lean and for the rules formulation (flat ids)."""
    drug = load_drug(project_models_dir() / "pbpk" / "drugs" / "midazolam.yaml")
    cov = sample_population("healthy_adults", n, seed=seed)
    lean_values = [subject_parameters(drug, row).values for _, row in cov.iterrows()]
    params = pd.DataFrame(lean_values).add_prefix(PREFIX)
    rules_params = pd.DataFrame([rules_inputs(drug, v) for v in lean_values]).add_prefix(PREFIX)
    return (Cohort.from_parts(covariates=cov, parameters=params, seed=seed),
            Cohort.from_parts(parameters=rules_params, seed=seed))


def bare_loop(sbml_events: str, names: list[str], values: np.ndarray, grid: np.ndarray,
              options: IntegratorOptions) -> np.ndarray:
    import roadrunner

    rr = roadrunner.RoadRunner(sbml_events)
    options.apply(rr)
    rr.timeCourseSelections = ["time", OUTPUT]
    out = np.empty((len(values), len(grid)))
    for k, row in enumerate(values):
        rr.resetAll()
        rr.setValues(names, row.tolist())
        rr.reset()
        out[k] = np.asarray(rr.simulate(times=grid))[:, 1]
    return out


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> int:
    # the appended IDR parameters carry no units (a cost benchmark): silence the unit warnings they cause
    warnings.filterwarnings("ignore", category=qs.errors.UnitWarning)
    n = int(os.environ.get("QSP_SBML_BENCH_N", "10000"))
    parts = os.environ.get("QSP_SBML_BENCH_PARTS", "all")
    if parts not in ("all", "ratios", "parallel"):
        print(f"QSP_SBML_BENCH_PARTS={parts!r}: use all, ratios or parallel", file=sys.stderr)
        return 2
    lean, rules = build_models()
    t0 = time.perf_counter()
    cohort, rules_cohort = build_cohorts(n)
    print(f"cohort of {n} built in {time.perf_counter() - t0:.1f} s (not timed below)")
    times = np.arange(0.0, 14 * 24 + 1e-9, 1.0)
    print(f"model: wholebody_pbpk (midazolam) + IDR type I response, {len(lean.species_ids)} species; "
          f"{REGIMEN}; output {OUTPUT} hourly 0-336 h; {n} subjects")
    ok = True
    if parts in ("all", "ratios"):
        ok &= _ratios(lean, rules, cohort, rules_cohort, times, n)
    if parts in ("all", "parallel"):
        ok &= _parallel(lean, cohort, times)
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0 if ok else 1


def _ratios(lean: qs.Model, rules: qs.Model, cohort: Cohort, rules_cohort: Cohort, times: np.ndarray, n: int) -> bool:
    """Parts 1-3: CPU seconds of our engine, the bare loop and the rules formulation, in interleaved blocks."""
    n_blocks = max(1, min(10, n // 100))
    params = cohort.parameters()
    names = list(params.columns)
    sbml_events = lean.to_sbml(REGIMEN, end=float(times[-1]))
    blocks = np.array_split(np.arange(n), n_blocks)
    cpu = {"engine": 0.0, "bare": 0.0, "rules": 0.0, "linear": 0.0}
    ours = np.empty((n, times.size))
    fast = np.empty((n, times.size))
    bare = np.empty((n, times.size))
    by_rules = np.empty((n, times.size))
    failed = 0
    for idx in blocks:
        sub = cohort.select(np.isin(np.arange(n), idx))
        c0 = time.process_time()
        res = simulate_cohort(lean, sub, times, outputs=[OUTPUT], regimen=REGIMEN, engine=SerialEngine(),
                              progress=False)
        c1 = time.process_time()
        bare[idx] = bare_loop(sbml_events, names, params.to_numpy()[idx], times, lean.options)
        c2 = time.process_time()
        res_r = simulate_cohort(rules, rules_cohort.select(np.isin(np.arange(n), idx)), times, outputs=[OUTPUT],
                                regimen=REGIMEN, engine=SerialEngine(), progress=False)
        c3 = time.process_time()
        res_l = simulate_cohort(lean, sub, times, outputs=[OUTPUT], regimen=REGIMEN, engine=SerialEngine(),
                                progress=False, method="linear-pk")
        c4 = time.process_time()
        cpu["engine"] += c1 - c0
        cpu["bare"] += c2 - c1
        cpu["rules"] += c3 - c2
        cpu["linear"] += c4 - c3
        fast[idx] = res_l.values[:, :, 0]
        failed += len(res_l.failed) + res_l.attrs["general_subjects"]
        ours[idx] = res.values[:, :, 0]
        by_rules[idx] = res_r.values[:, :, 0]
        failed += len(res.failed) + len(res_r.failed)
    max_diff = float(np.max(np.abs(ours - bare)))
    rules_rel = float(np.max(np.abs(by_rules - ours)) / np.max(np.abs(ours)))
    rate = {k: n / v for k, v in cpu.items()}
    print(f"parts 1-3, 5 in {n_blocks} interleaved blocks (CPU seconds of this process)")
    print(f"our engine (serial):          {rate['engine']:8.1f} subjects per CPU-second")
    print(f"bare RoadRunner loop:         {rate['bare']:8.1f} subjects per CPU-second")
    print(f"rules formulation (engine):   {rate['rules']:8.1f} subjects per CPU-second")
    print(f"structure-aware (linear-pk):  {rate['linear']:8.1f} subjects per CPU-second")
    print(f"engine overhead over bare loop: {100 * (cpu['engine'] / cpu['bare'] - 1):+.1f} %   (target <= 5 %)")
    print(f"lean / rules formulation:       {cpu['rules'] / cpu['engine']:.2f}x   (target >= 1.5x)")
    print(f"structure-aware / bare loop:    {rate['linear'] / rate['bare']:.2f}x subjects per CPU-second "
          "(target >= 2x)")
    lin_rel = _accuracy(lean, cohort, times, fast, min(n, int(os.environ.get("QSP_SBML_BENCH_REF", "200"))))
    bare_rel = float(np.max(np.abs(fast - bare)) / np.max(np.abs(bare)))
    print(f"max |engine - bare| of {OUTPUT}: {max_diff:.1e}; max relative |rules - lean|: {rules_rel:.1e}; "
          f"failed subjects (or handed to the general path): {failed}")
    print(f"structure-aware path, max relative difference of {OUTPUT}: {lin_rel:.1e} against the general path at "
          f"rtol 1e-10/atol 1e-14 (target <= 1e-6); {bare_rel:.1e} against the bare loop (rtol "
          f"{lean.options.rtol:g}/atol {lean.options.atol:g})")
    return max_diff < 1e-9 and rules_rel < 1e-6 and lin_rel <= 1e-6 and failed == 0


def _accuracy(lean: qs.Model, cohort: Cohort, times: np.ndarray, fast: np.ndarray, n_ref: int) -> float:
    """Max |structure-aware - general at rtol 1e-10/atol 1e-14| / max |reference| on the first ``n_ref`` subjects."""
    tight = dataclasses.replace(lean.options, rtol=1e-10, atol=1e-14)
    sub = cohort.select(np.arange(cohort.n) < n_ref)
    ref = simulate_cohort(lean, sub, times, outputs=[OUTPUT], regimen=REGIMEN, engine=SerialEngine(),
                          progress=False, options=tight).values[:, :, 0]
    return float(np.max(np.abs(fast[:n_ref] - ref)) / np.max(np.abs(ref)))


def _parallel(lean: qs.Model, cohort: Cohort, times: np.ndarray) -> bool:
    """Part 4: wall time of the process engine with 2 workers vs the serial engine (needs a quiet machine)."""
    w0, k0, s0 = time.perf_counter(), children_cpu(), time.process_time()
    par = simulate_cohort(lean, cohort, times, outputs=[OUTPUT], regimen=REGIMEN, engine=ProcessEngine(2),
                          progress=False)
    wall_par = time.perf_counter() - w0
    cpu_par = children_cpu() - k0 + time.process_time() - s0
    w1, c1 = time.perf_counter(), time.process_time()
    ser = simulate_cohort(lean, cohort, times, outputs=[OUTPUT], regimen=REGIMEN, engine=SerialEngine(),
                          progress=False)
    wall_ser, cpu_ser = time.perf_counter() - w1, time.process_time() - c1
    identical = np.array_equal(par.values, ser.values, equal_nan=True)
    print(f"process engine, 2 workers: wall {wall_par:.1f} s vs serial wall {wall_ser:.1f} s; parallel efficiency "
          f"{wall_ser / (2 * wall_par):.2f} (target >= 0.85); CPU of the parallel run / serial CPU "
          f"{cpu_par / cpu_ser:.2f}; results identical to serial: {identical}")
    return identical


if __name__ == "__main__":
    sys.exit(main())
