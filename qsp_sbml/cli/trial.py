"""``qsp-sbml trial``: run a virtual-trial design file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from qsp_sbml.cli.common import _emit_json, handle_errors

__all__ = ["trial"]


def _engine(value: str) -> Any:
    from qsp_sbml.engine import ProcessEngine, SerialEngine

    if value == "serial":
        return SerialEngine()
    if value == "process":
        return ProcessEngine()
    if value.isdigit() and int(value) > 0:
        return ProcessEngine(int(value))
    raise click.BadParameter(f"{value!r}: use serial, process or a number of worker processes", param_hint="--engine")


def _screen(summary: dict[str, Any], out: Path) -> list[str]:
    from qsp_sbml.trial.report import fmt

    kind = summary.get("type")
    if kind is not None and kind != "parallel":  # the other kinds say what matters in their results
        import importlib

        from qsp_sbml.trial.runner import KINDS

        screen = importlib.import_module(KINDS[kind]).screen
        return [*screen(summary), f"wrote {out / 'summary.json'} and {out / 'report.md'}"]
    lines = []
    d = summary.get("design", {})
    lines.append(f"{d.get('name', 'trial')} ({d.get('type', '?')}): seed {d.get('seed')}, "
                 f"{d.get('replicates', '?')} replicates, n = {d.get('n', '?')}")
    for pop, entry in (summary.get("populations") or {}).items():
        lines.append(f"  {pop}: expected n {fmt(entry.get('expected_n'), 4)}")
        for c in entry.get("comparisons", []):
            pos = c.get("probability_of_success")
            lines.append(f"    {c['endpoint']} {c['treatment']} vs {c['control']}: estimate {fmt(c['estimate'])} "
                         f"[{fmt(c['ci_low'])}, {fmt(c['ci_high'])}], power {fmt(c['power'])}"
                         + (f", PoS {fmt(pos)}" if pos is not None else ""))
        for ep, by in (entry.get("required_n") or {}).items():
            for trt, n in by.items():
                if len({r["n"] for r in entry.get("power_curve", [])}) > 1:
                    lines.append(f"    required n ({ep} {trt}, power >= {fmt(entry.get('target_power'))}): {fmt(n)}")
        ds = entry.get("dose_selection")
        if ds:
            picked = ", ".join(f"{k}: {fmt(v)}" for k, v in ds["probability_selected"].items())
            lines.append(f"    probability each dose is selected: {picked}")
        a = entry.get("adaptive")
        if a:
            c = a["conditional"]
            lines.append(f"    group-sequential: power {fmt(c['sequential_power'])}, expected n "
                         f"{fmt(c['expected_n'], 4)}; fixed: power {fmt(c['fixed_power'])}, n {c['fixed_n']}")
    lines.append(f"wrote {out / 'summary.json'} and {out / 'report.md'}")
    return lines


@click.command("trial")
@click.argument("design", metavar="DESIGN.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=int, required=True, help="Seed of every random stream (same seed, same summary).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder (summary.json, report.md, PNG plots); must not exist unless --force.")
@click.option("--engine", "engine_name", default="serial", show_default=True,
              help="serial, process (all cores) or a number of worker processes.")
@click.option("--max-replicates", type=click.IntRange(min=1),
              help="Cap the replicate trials (quick runs; default: the design's, or $QSP_SBML_TRIAL_MAX_REPLICATES).")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@handle_errors
def trial(design: Path, seed: int, out_dir: Path, engine_name: str, max_replicates: int | None, force: bool,
          as_json: bool) -> None:
    """Simulate a virtual clinical trial described by a design file.

    Power, probability of success, effect estimates with confidence intervals, power curves,
    group-sequential operating characteristics; writes OUT/summary.json and OUT/report.md.

    \b
    Example:
      qsp-sbml trial trials/psoriasis_dose_selection.yaml --seed 1 --out results/psoriasis
    """
    import json

    from qsp_sbml.trial.runner import run_trial, to_json

    engine = _engine(engine_name)
    summary = run_trial(design, seed=seed, out=out_dir, engine=engine, force=force, max_replicates=max_replicates)
    if as_json:
        _emit_json({"ok": True, "out": str(out_dir), "summary": json.loads(to_json(summary))})
    else:
        for line in _screen(summary, out_dir):
            click.echo(line)
