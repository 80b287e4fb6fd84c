"""PBPK formulation benchmark: per-subject values as parameters vs derived quantities as assignment rules.

Simulates a 15-day q12h oral regimen (30 doses) of a reference drug for one
subject in the whole-body PBPK module, in two formulations of the same
equations:

* **lean** (the shipped module): volumes, flows, GFR and intrinsic clearance
  are computed once per subject in Python and set as parameter values;
* **rules**: the same quantities written as SBML assignment rules of body
  weight (volumes ~ BW, flows and GFR ~ BW^0.75, CLint ~ liver volume), as a
  model that computes them in the model itself would be written.

Both run side by side in this process; the script prints the time per
subject of each, their ratio and the largest relative difference of the
plasma profiles (they must agree).  Usage::

    python benchmarks/pbpk_formulation.py [--drug midazolam] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import libsbml
import numpy as np

import qsp_sbml as qs
from qsp_sbml.pbpk import load_drug, parameterise
from qsp_sbml.pbpk.build import PARAMETER_UNITS, VOLUMES
from qsp_sbml.physiology import reference, scale_to
from qsp_sbml.resources import project_models_dir

FLOW_PARAMS = [p for p in PARAMETER_UNITS if p.startswith("Q_")] + ["GFR"]
ENZYME_CLINT = [p for p in PARAMETER_UNITS if p.startswith("CLint_")]


def rules_variant(lean_sbml: str, ref_values: dict[str, float], ref_bw: float, bw: float) -> str:
    """The module with volumes, flows, GFR and CLint as assignment rules of ``BW``."""
    doc = libsbml.readSBMLFromString(lean_sbml)
    m = doc.getModel()

    def param(pid: str, value: float, units: str) -> None:
        p = m.createParameter()
        p.setId(pid)
        p.setValue(value)
        p.setUnits(units)
        p.setConstant(True)

    param("BW", bw, "kilogram")
    param("BW_ref", ref_bw, "kilogram")
    derived = (
        [(c, m.getCompartment(c), "litre", f"{c}_ref * BW / BW_ref") for c in VOLUMES]
        + [(q, m.getParameter(q), "litre_per_hour", f"{q}_ref * (BW / BW_ref)^0.75") for q in FLOW_PARAMS]
        + [(k, m.getParameter(k), "litre_per_hour", f"{k}_ref * liver / liver_ref") for k in ENZYME_CLINT]
    )
    for sid, element, units, formula in derived:
        param(f"{sid}_ref", ref_values[sid], units)
        element.setConstant(False)
        rule = m.createAssignmentRule()
        rule.setVariable(sid)
        rule.setMath(libsbml.parseL3Formula(formula))
    return str(libsbml.writeSBMLToString(doc))


def time_subject(model: qs.Model, values: dict[str, float] | None, times: np.ndarray, regimen: str) -> float:
    start = time.perf_counter()
    model.simulate(times, selections=["C_plasma"], parameters=values, regimen=regimen)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drug", default="midazolam")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--dose", type=float, default=7.5, help="mg per oral dose")
    parser.add_argument("--body-weight", type=float, default=85.0)
    args = parser.parse_args(argv)

    drug = load_drug(project_models_dir() / "pbpk" / "drugs" / f"{args.drug}.yaml")
    ref = reference("male")
    subject = scale_to(ref, args.body_weight)
    lean_values = parameterise(drug, subject).values
    ref_values = parameterise(drug, ref).values
    lean_sbml = (project_models_dir() / "pbpk" / "wholebody_pbpk.xml").read_text(encoding="utf-8")
    lean = qs.load_model(lean_sbml, guard=False)
    drug_values = {k: v for k, v in lean_values.items()
                   if k not in VOLUMES and k not in FLOW_PARAMS and k not in ENZYME_CLINT}
    rules = qs.load_model(rules_variant(lean_sbml, ref_values, ref.body_weight, args.body_weight), guard=False)

    times = np.arange(0, 15 * 24 + 1e-9, 0.5)
    regimen = f"{args.dose:g} mg po q12h x 30 to drug_gi_lumen"
    a = lean.simulate(times, selections=["C_plasma"], parameters=lean_values, regimen=regimen)["C_plasma"].to_numpy()
    b = rules.simulate(times, selections=["C_plasma"], parameters=drug_values, regimen=regimen)["C_plasma"].to_numpy()
    scale = np.max(np.abs(a))
    max_rel = float(np.max(np.abs(a - b)) / scale)

    t_lean, t_rules = [], []
    for _ in range(args.repeats):  # interleaved so machine noise hits both alike
        t_lean.append(time_subject(lean, lean_values, times, regimen))
        t_rules.append(time_subject(rules, drug_values, times, regimen))
    lean_s, rules_s = statistics.median(t_lean), statistics.median(t_rules)
    print(f"drug {args.drug}, {args.body_weight:g} kg, {regimen}, {times.size} output times, "
          f"{args.repeats} repeats (median)")
    print(f"lean (per-subject parameter values): {1e3 * lean_s:8.2f} ms per subject")
    print(f"rules (derived quantities as rules): {1e3 * rules_s:8.2f} ms per subject")
    print(f"ratio rules / lean: {rules_s / lean_s:.2f}x   max relative difference of C_plasma: {max_rel:.1e}")
    return 0 if max_rel < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
