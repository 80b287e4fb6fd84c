"""The ``qsp-sbml`` command line: thin wrappers over the Python API.

Every command prints a human message on bad input and exits 1 (2 for usage
errors), with no traceback unless ``--debug``; ``--json`` prints a result or
error object on stdout.  Output files are written atomically.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import numpy as np

from qsp_sbml import __version__

__all__ = ["main"]

from qsp_sbml.cli.common import _emit_json, handle_errors


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qsp-sbml")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
def main(debug: bool) -> None:
    """QSP and PBPK modelling on SBML: validate, simulate, compose, calibrate, trial.

    \b
    Examples:
      qsp-sbml demo --out demo-report
      qsp-sbml validate models/pbpk/wholebody_pbpk.xml
      qsp-sbml COMMAND --help
    """
    from qsp_sbml import log

    log.configure("DEBUG" if debug else None)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--strict-units", is_flag=True, help="Treat unit inconsistencies as errors.")
@click.option("--strict", is_flag=True, help="Treat every warning as an error (exit 1).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handle_errors
def validate(path: Path, strict_units: bool, strict: bool, as_json: bool) -> None:
    """Validate an input file; exit 1 when it has errors.

    PATH is an SBML (or comp SBML) model, a PEtab problem YAML, or a spec that
    declares its kind on a top-level line: kind: composition, kind: vpop or
    kind: trial (a YAML file without one is refused, never guessed).  Every
    issue names its file, line or row, field or id and what to do.

    \b
    Examples:
      qsp-sbml validate models/pbpk/wholebody_pbpk.xml --strict-units
      qsp-sbml validate petab_problems/theophylline/theophylline.yaml --json
    """
    from qsp_sbml.input_checks import validate_input

    kind, report = validate_input(path, strict_units=strict_units)
    ok = not report.has_errors() and not (strict and report.warnings())
    if as_json:
        _emit_json({"ok": ok, "path": str(path), "kind": kind, "issues": report.to_dicts()})
    else:
        for issue in report:
            if issue.severity >= 30:
                click.echo(issue.format(), err=not ok)
        n_err, n_warn = len(report.errors()), len(report.warnings())
        verdict = "valid" if ok else "INVALID"
        strict_note = " (--strict: warnings count as errors)" if strict and n_warn and not n_err else ""
        click.echo(f"{path}: {verdict} ({n_err} error(s), {n_warn} warning(s)){strict_note}", err=not ok)
    if not ok:
        sys.exit(1)


def _parse_pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint=what)
        out[key.strip()] = value.strip()
    return out


@main.command()
@click.argument("model_path", metavar="MODEL.xml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--regimen", "-r", "regimen_text", help='Dosing, e.g. "100 mg po q12h x 14 to A_gut".')
@click.option("--regimen-table", type=click.Path(dir_okay=False, path_type=Path),
              help="NONMEM-like dosing table (TSV/CSV: time, amt, target|cmt, rate, ii, addl, unit).")
@click.option("--time-unit", help="Unit of the dosing table's times (default: model units).")
@click.option("--target", "-t", "targets", multiple=True,
              help="Dose target: an id for all doses, or ROUTE=ID (e.g. po=A_gut). Repeatable.")
@click.option("--end", type=float, required=True, help="End time (model time units).")
@click.option("--step", type=float, default=None, help="Output step (default: end/100).")
@click.option("--selections", "-s", help="Comma-separated outputs, e.g. 'C,[A_gut]' (default: all species).")
@click.option("--param", "-p", "params", multiple=True, help="Override a value: ID=VALUE. Repeatable.")
@click.option("--molecular-weight", type=float, help="g/mol, to convert mass doses to moles.")
@click.option("--rtol", type=float, default=1e-8, show_default=True)
@click.option("--atol", type=float, default=1e-12, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write a TSV here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def simulate(
    model_path: Path, regimen_text: str | None, regimen_table: Path | None, time_unit: str | None,
    targets: tuple[str, ...], end: float, step: float | None, selections: str | None,
    params: tuple[str, ...], molecular_weight: float | None, rtol: float, atol: float,
    output: Path | None, as_json: bool,
) -> None:
    """Simulate a model under a dosing regimen.

    \b
    Examples:
      qsp-sbml simulate model.xml --regimen "320 mg po q12h x 10 to A_gut" --end 120 -s C
      qsp-sbml simulate model.xml --regimen-table doses.tsv --time-unit h --end 48 -o out.tsv
    """
    from qsp_sbml._io import atomic_write_text
    from qsp_sbml.dosing import Regimen
    from qsp_sbml.loading import load_model
    from qsp_sbml.simulate.options import IntegratorOptions

    if end <= 0:
        raise click.BadParameter("must be > 0", param_hint="--end")
    if step is not None and step <= 0:
        raise click.BadParameter("must be > 0", param_hint="--step")
    if regimen_text and regimen_table:
        raise click.UsageError("give --regimen or --regimen-table, not both")
    target_map = {}
    single_target = None
    for item in targets:
        if "=" in item:
            target_map.update(_parse_pairs((item,), "--target"))
        else:
            single_target = item
    overrides = {}
    for key, value in _parse_pairs(params, "--param").items():
        try:
            overrides[key] = float(value)
        except ValueError:
            raise click.BadParameter(f"{key}={value!r}: not a number", param_hint="--param") from None
    options = IntegratorOptions(rtol=rtol, atol=atol)
    model = load_model(model_path)
    regimen = None
    if regimen_text:
        regimen = Regimen.parse(regimen_text, target=single_target, targets=target_map,
                                molecular_weight=molecular_weight)
    elif regimen_table:
        regimen = Regimen.from_table(regimen_table, time_unit=time_unit, molecular_weight=molecular_weight)
    n = int(round(end / (step or end / 100.0)))
    times = np.linspace(0.0, end, n + 1)
    sels = [s.strip() for s in selections.split(",") if s.strip()] if selections else None
    frame = model.simulate(times, selections=sels, parameters=overrides, regimen=regimen, options=options)
    if output:
        atomic_write_text(output, frame.to_csv(sep="\t", index=False))
    if as_json:
        _emit_json({"ok": True, "model": model.id, "output": str(output) if output else None,
                    "columns": list(frame.columns), "data": frame.to_dict(orient="list")})
    elif output:
        click.echo(f"{model.id}: {len(frame)} time points x {frame.shape[1] - 1} outputs -> {output}")
    else:
        click.echo(frame.to_csv(sep="\t", index=False), nl=False)


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("qsp-sbml-demo"), show_default=True, help="Report folder (replaced whole).")
@click.option("--subjects", "n_subjects", type=click.IntRange(min=2), envvar="QSP_SBML_DEMO_SUBJECTS",
              default=1000, show_default=True, help="Virtual patients per arm ($QSP_SBML_DEMO_SUBJECTS).")
@click.option("--starts", "n_starts", type=click.IntRange(min=1), envvar="QSP_SBML_DEMO_STARTS", default=5,
              show_default=True, help="Calibration starts ($QSP_SBML_DEMO_STARTS).")
@click.option("--replicates", "n_replicates", type=click.IntRange(min=1), envvar="QSP_SBML_DEMO_REPLICATES",
              default=40, show_default=True, help="Replicate trials of the trial step ($QSP_SBML_DEMO_REPLICATES).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of every random draw.")
@click.option("--foundation", is_flag=True,
              help="Run the foundation's closed-form checks (theophylline) instead of the flagship pipeline.")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@handle_errors
def demo(out_dir: Path, n_subjects: int, n_starts: int, n_replicates: int, seed: int, foundation: bool,
         progress: bool | None, as_json: bool) -> None:
    """Run the end-to-end demo on shipped defaults and write a report folder.

    Compose risankizumab PK + Emax + psoriasis modules and simulate the label regimen, calibrate the
    psoriasis module on UltIMMa-1 (PEtab), simulate a virtual population with 90 % prediction bands, run
    the three-arm dose-selection trial (placebo, 18 mg, 150 mg; PASI75 at week 12) with the calibrated
    values; OUT/report.md, OUT/summary.json and PNG plots. Exit 1 if a check fails.

    \b
    Examples:
      qsp-sbml demo --out demo-report
      qsp-sbml demo --subjects 200 --starts 2 --out quick-report
      qsp-sbml demo --foundation --out foundation-report
    """
    if foundation:
        from qsp_sbml.demo import run_foundation

        summary = run_foundation(out_dir)
        if as_json:
            _emit_json(summary)
        else:
            click.echo(f"qsp-sbml demo --foundation: {summary['model']} under '{summary['regimen']}'")
            for key, exp in summary["expected"].items():
                obs = summary["observed"][key]
                click.echo(f"  {key:<22} simulated {obs:12.6g}   closed form {exp:12.6g}")
            for key, value in summary["checks"].items():
                click.echo(f"  {key:<38} {value:.2e}")
            verdict = "all checks passed" if summary["passed"] else "SOME CHECKS FAILED"
            click.echo(f"{verdict} in {summary['wall_time_s']:.1f} s; report: {out_dir.resolve()}/README.md")
        if not summary["passed"]:
            sys.exit(1)
        return
    from qsp_sbml.demo import DemoSettings, run_demo

    settings = DemoSettings(n_subjects=n_subjects, n_starts=n_starts, n_replicates=n_replicates, seed=seed,
                            progress=progress)
    if not as_json:
        click.echo(f"qsp-sbml demo: {n_subjects} virtual patients per arm, {n_starts} calibration starts, "
                   f"{n_replicates} replicate trials, seed {seed}")
    summary = run_demo(out_dir, settings, echo=None if as_json else click.echo)
    if as_json:
        _emit_json(summary)
    else:
        _demo_screen(summary)
    if not summary["passed"]:
        sys.exit(1)


def _demo_screen(summary: dict[str, Any]) -> None:
    """The one-screen summary of a flagship demo run."""
    steps = summary["steps"]
    if "compose" in steps:
        typ = steps["compose"]["typical"]
        click.echo(f"  typical patient: PASI {typ['week16']['PASI']:.3g} at week 16, {typ['week52']['PASI']:.3g} "
                   "at week 52 (baseline 20)")
    if "calibrate" in steps:
        cal = steps["calibrate"]
        fitted = ", ".join(f"{k} {v:.4g}" for k, v in cal["best_x"].items())
        click.echo(f"  calibration: llh {cal['llh']:.4f} ({cal['n_converged']} of {cal['n_starts']} starts "
                   f"converged): {fitted}")
    if "population" in steps:
        for key, rate in steps["population"]["PASI90"].items():
            obs = f", UltIMMa-1 {100 * rate['observed']:.1f} %" if rate["observed"] is not None else ""
            click.echo(f"  PASI90 {key:<18} virtual {100 * rate['PASI90']:5.1f} % "
                       f"(95 % CI {100 * rate['ci95'][0]:.1f}-{100 * rate['ci95'][1]:.1f}), typical patient "
                       f"{100 * rate['typical_formula']:.1f} %{obs}")
    if "trial" in steps:
        for c in steps["trial"]["comparisons"]:
            click.echo(f"  trial {c['endpoint']} {c['treatment']} vs {c['control']}: estimate {c['estimate']:.3f} "
                       f"({c['ci_low']:.3f}, {c['ci_high']:.3f}), power {c['power']:.2f}")
    failed = [k for k, ok in summary["checks"].items() if not ok]
    verdict = "all checks passed" if not failed else f"CHECKS FAILED: {', '.join(failed)}"
    click.echo(f"{verdict} in {summary['wall_time_s']:.1f} s; report: {summary['report']}")


def _register() -> None:
    from qsp_sbml.cli.calibrate import benchmark, calibrate
    from qsp_sbml.cli.compose import compose, ports_group
    from qsp_sbml.cli.disease import disease
    from qsp_sbml.cli.fhir import fhir_group
    from qsp_sbml.cli.gsa import gsa
    from qsp_sbml.cli.interop import antimony_group, crosscheck, omex
    from qsp_sbml.cli.library import examples, library_group, models
    from qsp_sbml.cli.pbpk import pbpk
    from qsp_sbml.cli.petab import petab
    from qsp_sbml.cli.population import simulate_cohort_cmd, vpop
    from qsp_sbml.cli.trial import trial

    main.add_command(pbpk)
    main.add_command(petab)
    main.add_command(compose)
    main.add_command(ports_group)
    main.add_command(calibrate)
    main.add_command(benchmark)
    for command in (omex, antimony_group, crosscheck):
        main.add_command(command)
    main.add_command(vpop)
    main.add_command(simulate_cohort_cmd)
    main.add_command(trial)
    main.add_command(gsa)
    main.add_command(models)
    main.add_command(examples)
    main.add_command(library_group)
    main.add_command(fhir_group)
    main.add_command(disease)


_register()

if __name__ == "__main__":
    main()
