"""PBPK formulation benchmark: per-subject values as parameters vs derived quantities as assignment rules.

Simulates a 15-day q12h oral regimen (30 doses) of a reference drug for one
subject in the whole-body PBPK module, in two formulations of the same
equations:

* **lean** (the shipped module): partition coefficients, intrinsic clearances
  and renal terms are computed once per subject in Python
  (:func:`qsp_sbml.pbpk.parameterise`) and set as parameter values;
* **rules** (:func:`pksim_rules_variant`): the same quantities written as SBML
  assignment rules of the drug's properties and the individual's anatomy, the
  way PK-Sim / MoBi models define them (formulas evaluated by the simulator).

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
from qsp_sbml.pbpk.drugs import DrugRecord
from qsp_sbml.pbpk.partition import PH_ERYTHROCYTE, PH_INTRACELLULAR, PH_PLASMA, RR_HEMATOCRIT, CompoundType
from qsp_sbml.pbpk.structure import ENZYMES, TISSUES, kp
from qsp_sbml.physiology import Physiology, reference, scale_to, tissue_composition
from qsp_sbml.resources import project_models_dir


def pksim_rules_variant(lean_sbml: str, drug: DrugRecord, ref: Physiology) -> str:
    """The module with every drug- and physiology-derived quantity written as an assignment rule, as PK-Sim does.

    In PK-Sim / MoBi a parameter is a value or a formula of other parameters ("Formulas are used to define
    parameters", MoBi manual, https://docs.open-systems-pharmacology.org/working-with-mobi/mobi-documentation/
    parameters-formulas-tags); the partition coefficients of the chosen calculation method are such formulas of
    the drug's lipophilicity, pKa and fraction unbound and of the tissue composition (OSPSuite.Core test
    ``tests/OSPSuite.Core.IntegrationTests/BlackBoxIntegrationTests.cs`` asserts that "Partition coefficient
    (intracellular/plasma)" carries the "PARTITION COEFFICIENT FORMULA"; OSP models re-evaluate it after
    changing "Fraction unbound (plasma)" by resetting the parameter to its formula), and metabolic clearance is
    a specific clearance times the organ's enzyme amount.  Individual anatomy (organ volumes, blood flows,
    GFR) is sampled per individual by PK-Sim's create-individual algorithm and enters simulations as values
    (OSP forum issue 120), as it does here.

    So, as rules: every ``Kp_<tissue>`` by Rodgers & Rowland (:func:`qsp_sbml.pbpk.partition.kp_rodgers_rowland`,
    with its ionisation ratios as rules of pKa and the tissue composition as parameters); ``CLint_<enzyme>`` =
    specific clearance x liver volume; the renal terms (``f_reabsorption``, ``CL_renal_secretion``) from the
    GFR-scaled renal clearance and the filtration ``fu x GFR``.  Per-subject values stay the same as in the lean
    module (volumes, flows, GFR, fu, B:P, enzyme multipliers), so both formulations compute the same numbers.
    Drugs using Poulin & Theil or measured Kp overrides keep those Kp as values (not written as rules here).
    """
    if drug.kp_method != "rodgers_rowland":
        raise ValueError(f"{drug.id}: the rules variant writes Rodgers & Rowland Kp formulas only")
    doc = libsbml.readSBMLFromString(lean_sbml)
    m = doc.getModel()

    def param(pid: str, value: float, units: str = "dimensionless") -> None:
        p = m.createParameter()
        p.setId(pid)
        p.setValue(value)
        p.setUnits(units)
        p.setConstant(True)

    def rule(sid: str, formula: str) -> None:
        element = m.getParameter(sid)
        if element is None:
            p = m.createParameter()
            p.setId(sid)
            p.setUnits("dimensionless")
            element = p
        element.setConstant(False)
        element.unsetValue()
        r = m.createAssignmentRule()
        r.setVariable(sid)
        math = libsbml.parseL3Formula(formula)
        if math is None:
            raise ValueError(f"{sid}: {libsbml.getLastParseL3Error()}")
        r.setMath(math)

    ion = drug.ionisation
    param("logP", drug.log_p)
    for name, ph in (("pH_p", PH_PLASMA), ("pH_iw", PH_INTRACELLULAR), ("pH_bc", PH_ERYTHROCYTE)):
        param(name, ph)
    if ion.kind in (CompoundType.BASE, CompoundType.ACID):
        param("pKa", ion.pka[0])
    for x, ph_id in (("X_p", "pH_p"), ("X_iw", "pH_iw"), ("X_bc", "pH_bc")):
        if ion.kind is CompoundType.BASE:
            rule(x, f"10^(pKa - {ph_id})")
        elif ion.kind is CompoundType.ACID:
            rule(x, f"10^({ph_id} - pKa)")
        else:  # neutral (0) or multi-pKa classes: the Henderson-Hasselbalch ratio as a value
            param(x, ion.ionised_ratio({"X_p": PH_PLASMA, "X_iw": PH_INTRACELLULAR, "X_bc": PH_ERYTHROCYTE}[x]))
    rule("P_ow", "10^logP")
    rule("P_vo", "10^(1.115 * logP - 1.35)")
    comp = tissue_composition()
    for name, c in comp.items():
        param(f"fEW_{name}", c.f_ew)
        param(f"fIW_{name}", c.f_iw)
        param(f"fNL_{name}", c.f_nl)
        param(f"fNP_{name}", c.f_np)
        param(f"AP_{name}", c.acidic_pl)
        param(f"AR_{name}", c.albumin_ratio if ion.binds_albumin else c.lipoprotein_ratio)

    def lipids(t: str, p: str) -> str:
        return f"({p} * fNL_{t} + (0.3 * {p} + 0.7) * fNP_{t}) / (1 + X_p)"

    param("Hct_RR", RR_HEMATOCRIT)
    if ion.binds_acidic_phospholipids:
        rule("KpuBC", "(Hct_RR - 1 + BP) / (Hct_RR * fu)")
        rule("KA_AP", f"(KpuBC - (1 + X_bc) / (1 + X_p) * fIW_erythrocytes - {lipids('erythrocytes', 'P_ow')})"
                      " * (1 + X_p) / (AP_erythrocytes * X_bc)")
        binding = "KA_AP * AP_{t} * X_iw / (1 + X_p)"
    else:
        free = f"1 / fu - 1 - {lipids('plasma', 'P_ow')}"
        rule("KA_PR", f"piecewise({free}, {free} > 0, 0)")  # a negative binding constant is set to zero
        binding = "KA_PR * AR_{t}"
    tissues = [t for t in TISSUES if t not in ("rest", "thyroid")]
    for t in tissues:
        if t in drug.kp_overrides:
            continue
        p = "P_vo" if t == "adipose" else "P_ow"
        rule(kp(t), f"fu * (fEW_{t} + (1 + X_iw) / (1 + X_p) * fIW_{t} + {binding.format(t=t)} + {lipids(t, p)})")
    for t in ("rest", "thyroid"):
        if t not in drug.kp_overrides:
            rule(kp(t), kp("muscle"))

    # metabolism: specific clearance (per litre of liver) x liver volume
    lean = parameterise(drug, ref).values
    for e in ENZYMES:
        param(f"CLspec_{e}", lean[f"CLint_{e}"] / ref.volumes["liver"], "per_hour")
        rule(f"CLint_{e}", f"CLspec_{e} * liver")
    # kidney: renal clearance proportional to GFR, split into filtration (minus reabsorption) and secretion
    cl_r = lean["fu"] * ref.gfr * (1 - lean["f_reabsorption"]) + lean["CL_renal_secretion"]
    param("CLR_per_GFR", cl_r / ref.gfr)
    rule("CL_renal", "CLR_per_GFR * GFR")
    rule("f_reabsorption", "piecewise(0, CL_renal >= fu * GFR, 1 - CL_renal / (fu * GFR))")
    rule("CL_renal_secretion", "piecewise(CL_renal - fu * GFR, CL_renal >= fu * GFR, 0)")
    return str(libsbml.writeSBMLToString(doc))


def rules_inputs(drug: DrugRecord, lean_values: dict[str, float]) -> dict[str, float]:
    """Per-subject values of the rules variant from the lean module's: the derived ids left out, plus the
    specific clearances and renal clearance per GFR (our parameterisation back-calculates them against the
    subject's sex-specific reference adult, so they are per-subject inputs, not drug constants)."""
    derived = set(derived_ids(drug))
    out = {k: v for k, v in lean_values.items() if k not in derived}
    out.update({f"CLspec_{e}": lean_values[f"CLint_{e}"] / lean_values["liver"] for e in ENZYMES})
    cl_r = (lean_values["fu"] * lean_values["GFR"] * (1 - lean_values["f_reabsorption"])
            + lean_values["CL_renal_secretion"])
    out["CLR_per_GFR"] = cl_r / lean_values["GFR"]
    return out


def derived_ids(drug: DrugRecord) -> list[str]:
    """Ids the rules variant sets by assignment rules (leave them out of its cohort)."""
    kps = [kp(t) for t in TISSUES if t not in drug.kp_overrides]
    return [*kps, *(f"CLint_{e}" for e in ENZYMES), "f_reabsorption", "CL_renal_secretion"]


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
    lean_sbml = (project_models_dir() / "pbpk" / "wholebody_pbpk.xml").read_text(encoding="utf-8")
    lean = qs.load_model(lean_sbml, guard=False)
    rules_values = rules_inputs(drug, lean_values)
    rules = qs.load_model(pksim_rules_variant(lean_sbml, drug, ref), guard=False)

    times = np.arange(0, 15 * 24 + 1e-9, 0.5)
    regimen = f"{args.dose:g} mg po q12h x 30 to drug_gi_lumen"
    a = lean.simulate(times, selections=["C_plasma"], parameters=lean_values, regimen=regimen)["C_plasma"].to_numpy()
    b = rules.simulate(times, selections=["C_plasma"], parameters=rules_values, regimen=regimen)["C_plasma"].to_numpy()
    scale = np.max(np.abs(a))
    max_rel = float(np.max(np.abs(a - b)) / scale)

    t_lean, t_rules = [], []
    for _ in range(args.repeats):  # interleaved so machine noise hits both alike
        t_lean.append(time_subject(lean, lean_values, times, regimen))
        t_rules.append(time_subject(rules, rules_values, times, regimen))
    lean_s, rules_s = statistics.median(t_lean), statistics.median(t_rules)
    print(f"drug {args.drug}, {args.body_weight:g} kg, {regimen}, {times.size} output times, "
          f"{args.repeats} repeats (median)")
    print(f"lean (per-subject parameter values): {1e3 * lean_s:8.2f} ms per subject")
    print(f"rules (derived quantities as rules): {1e3 * rules_s:8.2f} ms per subject")
    print(f"ratio rules / lean: {rules_s / lean_s:.2f}x   max relative difference of C_plasma: {max_rel:.1e}")
    return 0 if max_rel < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
