"""``qsp-sbml vpop`` and ``qsp-sbml simulate-cohort``: virtual populations and cohort simulation."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from qsp_sbml.cli.common import _emit_json, check_engine_spec, handle_errors

__all__ = ["simulate_cohort_cmd", "vpop"]


@click.command("vpop")
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-n", "n", type=click.IntRange(min=1), required=True,
              help="Number of candidate subjects (the cohort is smaller after plausible-patient selection).")
@click.option("--seed", type=int, required=True, help="Seed of every random draw (recorded in the cohort).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Cohort Parquet file to write.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@handle_errors
def vpop(spec_path: Path, n: int, seed: int, output: Path, as_json: bool) -> None:
    """Build a virtual population (a cohort table) from a YAML spec.

    The spec names a population preset or covariate table, genotypes, IIV, posterior draws and an optional
    plausible-patient selection (see qsp_sbml.population.spec).

    \b
    Example:
      qsp-sbml vpop vpop.yaml -n 1000 --seed 1 -o cohort.parquet
    """
    from qsp_sbml.population.spec import build_vpop

    cohort, summary = build_vpop(spec_path, n, seed=seed)
    cohort.to_parquet(output)
    summary = {"ok": True, "output": str(output), "seed": seed, **summary,
               "columns": {k: list(v) for k, v in cohort.columns.items()}}
    if as_json:
        _emit_json(summary)
    else:
        extra = f" (selected from {summary['n_candidates']} candidates)" if "n_plausible" in summary else ""
        click.echo(f"{output}: {cohort.n} subjects{extra}, {len(cohort.parameter_columns)} parameter column(s)")


def _times(text: str) -> list[float]:
    """``"0:336:1"`` (start:stop:step, stop included) or ``"0,1,2,4"``."""
    import numpy as np

    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            return [float(x) for x in np.arange(start, stop + step / 2, step)]
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r}: use START:STOP:STEP or a comma-separated list", param_hint="--times")\
            from None


@click.command("simulate-cohort")
@click.argument("model_path", metavar="MODEL.xml", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("cohort_path", metavar="COHORT.parquet", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--regimen", "-r", "regimen_text", help='Dosing, e.g. "7.5 mg po q12h x 28 to drug_gi_lumen".')
@click.option("--times", "times_text", required=True, help="Output times: START:STOP:STEP or a list a,b,c.")
@click.option("--output", "outputs", multiple=True, required=True, help="Model output (selection). Repeatable.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the results.")
@click.option("--engine", default="serial", show_default=True, callback=check_engine_spec,
              help="serial, process, dask (a local Dask cluster) or dask://HOST:PORT (an existing scheduler).")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (process engine, local Dask cluster).")
@click.option("--batch-size", type=click.IntRange(min=1),
              help="Subjects per task (default: 64, fewer for small cohorts on several workers).")
@click.option("--nca-interval", help="NCA over one dosing interval START,END (both output times).")
@click.option("--require", "required", multiple=True, help="A parameter every subject must give. Repeatable.")
@click.option("--strict", is_flag=True, help="Fail (exit 1, no output) if any subject fails.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Wall-clock limit per subject in seconds (process engine): a subject past it is cut off and "
                   "marked 'timeout'.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Subjects per checkpoint chunk (OUT/chunks/, removed when the run completes).")
@click.option("--resume", is_flag=True, help="Continue a run killed before it completed (same inputs and OUT).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option("--method", type=click.Choice(["general", "auto", "linear-pk"]), default="general", show_default=True,
              help="auto: solve a linear PK part exactly where the model has one (PBPK-PD), else the general "
                   "path (provenance.json says which); linear-pk: fail when it has none.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@handle_errors
def simulate_cohort_cmd(model_path: Path, cohort_path: Path, regimen_text: str | None, times_text: str,
                        outputs: tuple[str, ...], out_dir: Path, engine: str, workers: int | None,
                        batch_size: int | None,
                        nca_interval: str | None, required: tuple[str, ...], strict: bool, timeout: float | None,
                        chunk_size: int, resume: bool, progress: bool | None, method: str, as_json: bool) -> None:
    """Simulate every subject of a cohort under a regimen; write tidy Parquet, arrays and NCA.

    Writes OUT/timecourses.parquet (subject_id, time, output, value), OUT/subjects.parquet (status, fail_time,
    message), OUT/nca.parquet, OUT/trajectories.npz (values[subject, time, output] + coords) and
    OUT/provenance.json; all or nothing.  Failed subjects are listed, not fatal (unless --strict): "failed"
    (the integrator failed), "crashed" (the subject killed its worker process), "timeout" (past --timeout).

    While it runs, finished chunks of subjects are kept in OUT/chunks/ with a manifest; after a kill, the same
    command with --resume simulates only the missing chunks and gives the same result as an uninterrupted run.

    \b
    Example:
      qsp-sbml simulate-cohort models/pbpk/wholebody_pbpk.xml cohort.parquet \\
        -r "7.5 mg po q12h x 28 to drug_gi_lumen" --times 0:336:1 --output C_plasma -o results/
    """
    import warnings

    from qsp_sbml.engine import as_engine
    from qsp_sbml.errors import SimulationError, SimulationWarning
    from qsp_sbml.loading import load_model
    from qsp_sbml.population.cohort import Cohort
    from qsp_sbml.population.simulation import simulate_cohort

    times = _times(times_text)
    interval = None
    if nca_interval:
        try:
            a, b = (float(x) for x in nca_interval.split(","))
        except ValueError:
            raise click.BadParameter(f"{nca_interval!r}: use START,END", param_hint="--nca-interval") from None
        interval = (a, b)
    cohort = Cohort.read_parquet(cohort_path)
    model = load_model(model_path)
    existed = out_dir.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SimulationWarning)  # failures are reported below
        try:
            result = simulate_cohort(model, cohort, times, outputs=list(outputs), regimen=regimen_text,
                                     engine=as_engine(engine, workers), batch_size=batch_size, required=required,
                                     strict=strict, progress=progress, timeout=timeout, out=out_dir / "chunks",
                                     chunk_size=chunk_size, resume=resume, method=method)
        except SimulationError:  # --strict: a failed command leaves the output folder as it was
            shutil.rmtree(out_dir / "chunks", ignore_errors=True)
            if not existed and out_dir.is_dir() and not any(out_dir.iterdir()):
                out_dir.rmdir()
            raise
    result.to_folder(out_dir, interval=interval,
                     provenance={"model": str(model_path), "cohort": str(cohort_path),
                                 "cohort_provenance": dict(cohort.provenance)})
    shutil.rmtree(out_dir / "chunks", ignore_errors=True)  # the results are whole: the checkpoint has served
    failed = [{"subject_id": str(s), "status": st, "message": m} for s, st, m in
              zip(result.subject_ids, result.status, result.messages, strict=True) if st != "ok"]
    summary = {"ok": True, "out": str(out_dir), "n": cohort.n, "n_failed": len(failed),
               "failures": result.attrs["failures"], "failed": failed}
    if as_json:
        _emit_json(summary)
    else:
        click.echo(f"{out_dir}: {cohort.n - len(result.failed)} of {cohort.n} subjects simulated")
        if failed:
            kinds = ", ".join(f"{v} {k}" for k, v in result.attrs["failures"].items())
            click.echo(f"{len(failed)} subject(s) not simulated ({kinds}):", err=True)
        for item in failed[:10]:
            click.echo(f"  subject {item['subject_id']} {item['status']}: {item['message']}", err=True)
        if len(failed) > 10:
            click.echo(f"  ... and {len(failed) - 10} more (OUT/subjects.parquet)", err=True)
