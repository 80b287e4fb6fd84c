"""Numbers of every shipped model, PEtab problem and trial scenario, to check that a refactoring changes none.

Usage (from the repository root)::

    python benchmarks/numbers_snapshot.py --write before.npz            # on the old commit
    python benchmarks/numbers_snapshot.py --compare before.npz          # on the new one

For each model of the library: trajectories of every floating species with the model's values, with
five parameters scaled by 1.1, and (reported apart, because concentration-preserving resizing is a
semantic of its own) with one compartment scaled by 1.1.  For each PEtab problem: the objective and its
gradient at the nominal point.  For each trial scenario: the numbers of its ``summary.json`` with 3
replicates.  ``--compare`` prints the largest relative difference per entry (floor 1e-12 on the
magnitude) and exits 1 when one exceeds ``--rtol`` (default 1e-9).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(os.environ.get("QSP_SBML_ROOT") or Path(__file__).resolve().parents[1])
TIMES = np.array([0.0, 0.5, 1.0, 2.0, 6.0, 12.0, 24.0, 48.0, 96.0])


def _settable(model: Any, kind: str, n: int) -> dict[str, float]:
    """Up to ``n`` constant parameters (or compartments) with a nonzero value and no rule or initial assignment.

    Read from libSBML only, so that the script runs unchanged on older commits.
    """
    m = model.sbml_model
    pool = m.getListOfParameters() if kind == "parameter" else m.getListOfCompartments()
    out = {}
    for x in sorted(pool, key=lambda e: e.getId()):
        if kind == "parameter":
            value = x.getValue() if x.isSetValue() else 0.0
        else:
            value = x.getSize() if x.isSetSize() else 0.0
        if (value and x.getConstant() and m.getRule(x.getId()) is None
                and m.getInitialAssignment(x.getId()) is None):
            out[x.getId()] = float(value)
        if len(out) == n:
            break
    return out


def _models(numbers: dict[str, np.ndarray]) -> None:
    import qsp_sbml as qs
    from qsp_sbml import registry

    for entry in registry.list_models():
        model = qs.load_model(registry.model_path(entry.name), guard=False)
        runs = {"values": {},
                "parameters": {k: 1.1 * v for k, v in _settable(model, "parameter", 5).items()},
                "compartment": {k: 1.1 * v for k, v in _settable(model, "compartment", 1).items()}}
        for label, values in runs.items():
            try:
                df = model.simulate(TIMES, parameters=values)
            except Exception as err:
                print(f"{entry.name} {label}: {type(err).__name__}: {err}", file=sys.stderr)
                continue
            numbers[f"model:{entry.name}:{label}"] = df.to_numpy()


def _petab(numbers: dict[str, np.ndarray]) -> None:
    from qsp_sbml.petab import PetabObjective, PetabProblem

    for yaml_file in sorted((ROOT / "petab_problems").glob("*/*.yaml")):
        problem = PetabProblem.from_yaml(yaml_file, guard=False)
        objective = PetabObjective(problem)
        value, grad = objective(objective.x_nominal, sensi=1)
        numbers[f"petab:{yaml_file.parent.name}"] = np.concatenate(([value], grad))


def _flatten(obj: Any, prefix: str, out: dict[str, float]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}", out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _flatten(v, f"{prefix}[{i}]", out)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix] = float(obj)


def _trials(numbers: dict[str, np.ndarray]) -> None:
    from qsp_sbml.trial import run_trial

    for design in sorted((ROOT / "trials").glob("*.yaml")):
        with tempfile.TemporaryDirectory() as tmp:
            summary = run_trial(design, seed=1, out=Path(tmp) / "out", max_replicates=3)
        flat: dict[str, float] = {}
        _flatten(json.loads(json.dumps(summary, default=str)), "", flat)
        keys = sorted(flat)
        numbers[f"trial:{design.stem}"] = np.array([flat[k] for k in keys])
        numbers[f"trialkeys:{design.stem}"] = np.array(keys)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--compare", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-9)
    parser.add_argument("--skip-trials", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("QSP_SBML_ROOT", str(ROOT))
    warnings.simplefilter("ignore")
    numbers: dict[str, np.ndarray] = {}
    _models(numbers)
    _petab(numbers)
    if not args.skip_trials:
        _trials(numbers)
    if args.write:
        np.savez(args.write, **numbers)
        print(f"wrote {len(numbers)} entries to {args.write}")
        return 0
    ref = dict(np.load(args.compare))
    worst = 0.0
    bad = 0
    for key in sorted(set(ref) | set(numbers)):
        if key.startswith("trialkeys:"):
            continue
        if key not in ref or key not in numbers:
            print(f"{key}: only in {'the reference' if key in ref else 'this run'}")
            bad += 1
            continue
        a, b = ref[key], numbers[key]
        if a.shape != b.shape:
            print(f"{key}: shape {a.shape} vs {b.shape}")
            bad += 1
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)
        rel = np.where(np.isnan(a) & np.isnan(b), 0.0, rel)
        r = float(np.nanmax(rel)) if rel.size else 0.0
        resize = key.endswith(":compartment")
        worst = max(worst, r) if not resize else worst
        flag = "  <-- differs" if r > args.rtol else ""
        bad += bool(flag) and not resize
        if flag or resize:
            print(f"{key}: max relative difference {r:.3g}{flag}")
    print(f"{len(numbers)} entries; max relative difference (compartment runs apart) {worst:.3g}; "
          f"{bad} beyond rtol {args.rtol:g}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
