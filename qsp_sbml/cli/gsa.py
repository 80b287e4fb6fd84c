"""``qsp-sbml gsa``: Morris screening or Sobol indices of a model's outputs from a ``kind: gsa`` spec."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from qsp_sbml.cli.common import _emit_json, check_engine_spec, handle_errors

__all__ = ["gsa"]


@click.command("gsa")
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--method", type=click.Choice(["morris", "sobol"]), help="Default: the spec's method.")
@click.option(
    "--n",
    "n",
    type=int,
    help="Morris trajectories, or Sobol base sample (a power of two >= 16); default: the spec's n.",
)
@click.option("--seed", type=int, help="Seed of the design and bootstrap (default: the spec's seed).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Output folder (written whole at the end); must not exist unless --force.",
)
@click.option(
    "--engine",
    default="serial",
    show_default=True,
    callback=check_engine_spec,
    help="serial, process, dask or dask://HOST:PORT.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (process and local dask engines).")
@click.option(
    "--checkpoint",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of finished chunks while the runs go (default OUT.checkpoint; removed on success).",
)
@click.option("--resume", is_flag=True, help="Continue the run kept in the checkpoint folder.")
@click.option(
    "--chunk-size", type=click.IntRange(min=1), default=256, show_default=True, help="Runs per checkpoint chunk."
)
@click.option(
    "--resamples",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="Bootstrap resamples of the intervals.",
)
@click.option(
    "--petab",
    "petab_yaml",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A PEtab problem to copy to OUT/petab with the parameters below --fix-below (ST) fixed (Sobol).",
)
@click.option(
    "--fix-below",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Total-order threshold for --petab.",
)
@click.option(
    "--petab-map",
    multiple=True,
    metavar="FACTOR=ID[,ID]",
    help="A factor's PEtab parameter id(s) when they differ (a group, or Vc=V); repeatable.",
)
@click.option("--no-plots", is_flag=True, help="Write the tables only.")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@handle_errors
def gsa(
    spec_path: Path,
    method: str | None,
    n: int | None,
    seed: int | None,
    out_dir: Path,
    engine: str,
    workers: int | None,
    checkpoint: Path | None,
    resume: bool,
    chunk_size: int,
    resamples: int,
    petab_yaml: Path | None,
    fix_below: float,
    petab_map: tuple[str, ...],
    no_plots: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Global sensitivity analysis: Morris mu*/sigma or Sobol first/total-order indices.

    SPEC.yaml (kind: gsa) lists the uncertain parameters (bounds, factor ranges or distributions; groups,
    correlations), the model, the regimen, the output times and the outputs (values at a time, NCA metrics,
    time to a threshold, biomarker summaries, trajectories).  Writes OUT/indices.tsv (indices with bootstrap
    intervals), samples.tsv, convergence.tsv (Sobol: N/2 versus N), summary.json, summary.txt and plots;
    with --petab, OUT/petab/ is that PEtab problem with the parameters below --fix-below fixed at nominal.

    \b
    Example:
      qsp-sbml gsa midazolam_iv.yaml --method sobol --n 256 --seed 1 --out results/gsa
    """
    from qsp_sbml.engine import as_engine
    from qsp_sbml.sensitivity.report import screen, summary, write_results
    from qsp_sbml.sensitivity.run import read_spec, run_gsa
    from qsp_sbml.sensitivity.spec import SensitivityError

    spec, doc = read_spec(spec_path)
    method = method or spec.method
    n_option = n
    n = n if n is not None else spec.n
    seed = seed if seed is not None else spec.seed
    missing = [o for o, v in (("--method", method), ("--n", n), ("--seed", seed)) if v is None]
    if missing:
        raise SensitivityError(f"{spec_path}: give {', '.join(missing)} (or method/n/seed in the spec)")
    assert method is not None and n is not None and seed is not None  # noqa: S101  (checked above)
    from qsp_sbml.sensitivity.design import check_n

    try:
        check_n(method, n)
    except SensitivityError as err:  # name where n came from: the option, or the spec's n field
        where = f"{spec_path}, --n" if n_option is not None else doc.where("n")
        raise SensitivityError(f"{where}: {err}") from None
    mapping: dict[str, list[str]] = {}
    for item in petab_map:
        factor, sep, ids = item.partition("=")
        if not sep or not factor or not ids:
            raise click.BadParameter(f"{item!r}: use FACTOR=ID or FACTOR=ID1,ID2", param_hint="--petab-map")
        mapping[factor] = ids.split(",")
    if petab_yaml is not None and method != "sobol":
        raise SensitivityError("--petab fixes parameters by their total-order indices: use --method sobol")
    if petab_yaml is not None and not petab_yaml.is_file():
        raise SensitivityError(f"--petab: no such file {petab_yaml}")
    if out_dir.exists() and not force:
        raise SensitivityError(f"{out_dir} exists; choose another --out or pass --force to replace it")
    ckpt = checkpoint or out_dir.with_name(out_dir.name + ".checkpoint")
    if ckpt.exists() and not resume and any(ckpt.iterdir()):
        raise SensitivityError(f"{ckpt} holds a previous run; pass --resume to continue it, or remove it")
    if resume and not ckpt.is_dir():
        raise SensitivityError(f"--resume: no checkpoint folder {ckpt}")
    existed = ckpt.exists()
    try:
        result = run_gsa(
            spec,
            method=method,
            n=n,
            seed=seed,
            engine=as_engine(engine, workers),
            checkpoint=ckpt,
            resume=resume,
            chunk_size=chunk_size,
            num_resamples=resamples,
            doc=doc,
        )
    except (SensitivityError, ValueError) as err:
        # bad input found before any run leaves nothing behind; an interrupted run keeps its chunks for --resume
        if not existed and ckpt.is_dir() and not any(ckpt.iterdir()):
            ckpt.rmdir()
        elif ckpt.is_dir() and any(ckpt.iterdir()):
            err.add_note(f"finished runs are kept in {ckpt}; rerun with --resume after fixing the cause")
        raise
    write_results(result, out_dir, plots=not no_plots, petab=petab_yaml, fix_below=fix_below, petab_mapping=mapping)
    shutil.rmtree(ckpt, ignore_errors=True)  # the results are whole: the checkpoint has served
    if as_json:
        _emit_json({"ok": True, "out": str(out_dir), "summary": summary(result)})
    else:
        for line in screen(result):
            click.echo(line)
        if petab_yaml is not None:
            import json

            fixed = json.loads((out_dir / "petab_fixed.json").read_text(encoding="utf-8"))
            click.echo(
                f"PEtab problem with ST < {fix_below:g} fixed: {out_dir / 'petab'} "
                f"(fixed: {', '.join(fixed['fixed']) or 'none'}; kept: {', '.join(fixed['kept']) or 'none'})"
            )
        click.echo(f"wrote {out_dir}")
