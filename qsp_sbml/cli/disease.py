"""``qsp-sbml disease ...``: population-level calibration of a disease module on a split file, and prediction."""

from __future__ import annotations

from pathlib import Path

import click

from qsp_sbml.cli.common import _emit_json, handle_errors

__all__ = ["disease"]


@click.group()
def disease() -> None:
    """Disease modules at the population level: fit calibration arms, predict held-back arms.

    \b
    Example:
      qsp-sbml disease calibrate models/disease/validation/psoriasis_split.yaml --out results/psoriasis
    """


@disease.command("calibrate")
@click.argument("split", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Results folder (written whole: parameters.tsv, starts.tsv, predictions.tsv, metrics.json).")
@click.option("--patients", type=click.IntRange(min=10), default=200, show_default=True,
              help="Virtual patients (the same in every arm: common random numbers).")
@click.option("--starts", type=click.IntRange(min=1), default=3, show_default=True, help="Optimiser starts.")
@click.option("--maxiter", type=click.IntRange(min=1), default=60, show_default=True,
              help="L-BFGS-B iterations per start.")
@click.option("--draws", type=click.IntRange(min=2), default=20, show_default=True,
              help="Parameter draws for the prediction intervals.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of the virtual population, the starts and the draws.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@handle_errors
def calibrate_cmd(split: Path, out: Path, patients: int, starts: int, maxiter: int, draws: int, seed: int,
                  as_json: bool) -> None:
    """Fit the calibration arms of SPLIT, predict its prediction arms, write the tables to --out.

    Rows and metrics of the calibration set are labelled "fitted", those of the prediction set
    "predicted"; the 90 % prediction interval combines parameter uncertainty (Fisher information)
    and replicate trials of each arm's size.  A bad split file exits 1 naming file, line and field,
    before anything is simulated or written.

    \b
    Example:
      qsp-sbml disease calibrate models/disease/validation/psoriasis_split.yaml --out results/psoriasis \\
          --patients 100 --starts 2 --maxiter 15 --draws 20 --seed 1
    """
    from qsp_sbml._io import check_output_folder
    from qsp_sbml.calibrate.population import (
        PopulationProblem,
        fit_population,
        population_metrics,
        predict_arms,
        write_population_results,
    )

    problem = PopulationProblem.from_file(split, n_patients=patients, seed=seed)  # a bad split is named first
    check_output_folder(out, marker="metrics.json", what="disease calibration results")
    fit = fit_population(problem, starts=starts, seed=seed, maxiter=maxiter)
    table = predict_arms(fit, draws=draws, seed=seed)
    metrics = population_metrics(table)
    write_population_results(out, fit, table, metrics)
    if as_json:
        _emit_json({"ok": True, "out": str(out), "nllh": fit.nllh, "metrics": metrics})
        return
    click.echo(fit.parameters().to_string(index=False))
    click.echo(table.to_string(index=False))
    for label, m in metrics.items():
        click.echo(f"{label}: " + ", ".join(f"{k} {v}" for k, v in m.items()))
    click.echo(f"wrote {out}")
