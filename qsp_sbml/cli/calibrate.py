"""``qsp-sbml calibrate`` and ``qsp-sbml benchmark`` (registered in :mod:`qsp_sbml.cli`)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import click

from qsp_sbml.cli.common import _emit_json, check_engine_spec, handle_errors

__all__ = ["benchmark", "calibrate"]


def _check_out_dir(out_dir: Path) -> None:
    from qsp_sbml._io import check_output_folder
    from qsp_sbml.errors import CalibrationError

    # summary.json alone would also pass a demo report folder
    check_output_folder(out_dir, marker=("summary.json", "starts.tsv"), what="calibration output",
                        error=CalibrationError)


#: ``qsp_sbml.calibrate.multistart.OPTIMIZERS`` (not imported here: the CLI starts without pyPESTO).
_OPTIMIZERS = ["fides", "fides-sr1", "fides-fim", "fides-hybrid", "L-BFGS-B"]


@click.command()
@click.argument("problem", metavar="PROBLEM.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--starts", type=click.IntRange(min=1), default=20, show_default=True, help="Number of starts.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the uniform start points.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder (written whole or not at all).")
@click.option("--optimizer", type=click.Choice(_OPTIMIZERS), default="fides", show_default=True)
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes for the starts (pyPESTO MultiProcessEngine when > 1).")
@click.option("--engine", callback=check_engine_spec,
              help="Run the starts on: serial, process (--processes workers), dask (a local Dask cluster of "
                   "--processes workers) or dask://HOST:PORT (an existing scheduler). Default: from --processes.")
@click.option("--max-iter", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Iteration limit of each start.")
@click.option("--rtol", type=float, default=1e-8, show_default=True, help="CVODE relative tolerance.")
@click.option("--atol", type=float, default=1e-12, show_default=True, help="CVODE absolute tolerance.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@handle_errors
def calibrate(problem: Path, starts: int, seed: int, out_dir: Path, optimizer: str, processes: int,
              engine: str | None, max_iter: int, rtol: float, atol: float, as_json: bool) -> None:
    """Multistart calibration of a PEtab problem with pyPESTO on our objective.

    Writes OUT/summary.json (best_fval, best_x on the linear scale, n_starts,
    n_converged = starts within 0.1 of the best, wall_time_s), OUT/starts.tsv,
    OUT/result.h5 (pyPESTO store), OUT/waterfall.png and OUT/fit.png.

    \b
    Example:
      qsp-sbml calibrate petab_problems/theophylline/theophylline.yaml --starts 50 --seed 1 --out fit
    """
    from qsp_sbml.calibrate import CalibrationRun, multistart
    from qsp_sbml.errors import CalibrationError
    from qsp_sbml.petab import ObjectiveOptions, PetabObjective, PetabProblem
    from qsp_sbml.simulate.options import IntegratorOptions

    _check_out_dir(out_dir)
    options = ObjectiveOptions(integrator=IntegratorOptions(rtol=rtol, atol=atol))
    objective = PetabObjective(PetabProblem.from_yaml(problem), options=options)
    from qsp_sbml.engine import as_engine

    result = multistart(objective, n_starts=starts, seed=seed, optimizer=optimizer, max_iter=max_iter,
                        engine=processes if engine is None else as_engine(engine, processes))
    if not math.isfinite(result.best_fval):
        first = result.starts["message"].iloc[0]
        raise CalibrationError(f"{problem}: all {starts} starts failed (first: {first}); nothing written")
    summary: dict[str, Any] = {"problem": str(problem), **result.summary()}
    CalibrationRun(summary, result.starts, result).to_folder(out_dir, objective=objective,
                                                             best_x_scaled=result.best_x_scaled)
    if as_json:
        _emit_json({"ok": True, "out": str(out_dir), **summary})
    else:
        click.echo(f"{problem}: best objective {result.best_fval:.6g} ({summary['n_converged']} of {starts} "
                   f"starts within 0.1, {summary['n_failed']} failed) in {result.wall_time_s:.1f} s -> {out_dir}")
        for pid, value in summary["best_x"].items():
            click.echo(f"  {pid:<24} {value:.6g}")


@click.command()
@click.argument("dirs", metavar="DIR...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--starts", type=click.IntRange(min=0), default=0, show_default=True,
              help="Starts of a small calibration per problem (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the start points.")
@click.option("--optimizer", type=click.Choice(_OPTIMIZERS), default="fides", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the table as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@handle_errors
def benchmark(dirs: tuple[Path, ...], starts: int, seed: int, optimizer: str, output: Path | None,
              as_json: bool) -> None:
    """Evaluate PEtab problems at nominal parameters against their reference; exit 1 if any fails.

    Each DIR is a problem folder (with its YAML) or a folder of problem folders.
    Reference: reference_llh.yaml beside the problem (llh) or simulatedData_*.tsv
    (simulations), numpy.isclose with rtol = atol = 1e-3.

    \b
    Example:
      qsp-sbml benchmark benchmark_models/ --starts 3 -o benchmark.csv
    """
    from qsp_sbml._io import atomic_write_text
    from qsp_sbml.calibrate.benchmark import run_benchmark

    table = run_benchmark(list(dirs), starts=starts, seed=seed, optimizer=optimizer)
    failed = table["status"].isin(["fail", "error"])
    if output:
        atomic_write_text(output, table.to_csv(index=False))
    if as_json:
        rows = json.loads(table.to_json(orient="records"))
        _emit_json({"ok": not bool(failed.any()), "n_problems": len(table), "n_failed": int(failed.sum()),
                    "output": str(output) if output else None, "rows": rows})
    else:
        shown = table.drop(columns=["path"] + (["best_fval", "n_converged"] if starts == 0 else []))
        click.echo(shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.6g}"))
        click.echo(f"{len(table)} problem(s): {int((table['status'] == 'pass').sum())} passed, "
                   f"{int(failed.sum())} failed" + (f"; table -> {output}" if output else ""))
    if failed.any():
        sys.exit(1)
