"""``qsp-sbml pbpk ddi ...``: drug-drug interaction predictions (dynamic and static) and their verification."""

from __future__ import annotations

from pathlib import Path

import click

from qsp_sbml.cli.common import _emit_json, handle_errors

__all__ = ["ddi"]


def _drugs_dir(drugs_dir: Path | None) -> Path:
    from qsp_sbml.resources import project_models_dir

    return drugs_dir or project_models_dir() / "pbpk" / "drugs"


def _doses(text: str) -> tuple[tuple[float, float], ...]:
    out = []
    for item in text.replace(",", " ").split():
        t, sep, a = item.partition(":")
        try:
            out.append((float(t), float(a)))
        except ValueError:
            raise click.BadParameter(f"{item!r} must read time_h:mg (e.g. '0:400 24:200')") from None
        if not sep:
            raise click.BadParameter(f"{item!r} must read time_h:mg (e.g. '0:400 24:200')")
    return tuple(out)


@click.group()
def ddi() -> None:
    """Drug-drug interactions: victim + perpetrator composed PBPK (dynamic) and the net-effect equation (static).

    \b
    Examples:
      qsp-sbml pbpk ddi predict midazolam itraconazole --victim-dose 7.5 --victim-time 73 \\
          --perpetrator-doses "0:200 24:200 48:200 72:200"
      qsp-sbml pbpk ddi verify --report ddi-report
    """


@ddi.command("predict")
@click.argument("victim")
@click.argument("perpetrator")
@click.option("--victim-dose", type=float, required=True, help="Victim dose, mg.")
@click.option("--victim-route", type=click.Choice(["po", "iv"]), default="po", show_default=True)
@click.option("--victim-time", type=float, default=0.0, show_default=True,
              help="Victim dose time, h after the first perpetrator dose.")
@click.option("--perpetrator-doses", required=True, help="Perpetrator doses as 'time_h:mg' pairs: '0:400 24:200'.")
@click.option("--perpetrator-route", type=click.Choice(["po", "iv"]), default="po", show_default=True)
@click.option("--infusion", "infusion_h", type=float, default=0.0, show_default=True,
              help="IV perpetrator infusion duration, h (0: bolus).")
@click.option("--drugs", "drugs_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of drug records (default: models/pbpk/drugs).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def predict_cmd(victim: str, perpetrator: str, victim_dose: float, victim_route: str, victim_time: float,
                perpetrator_doses: str, perpetrator_route: str, infusion_h: float, drugs_dir: Path | None,
                as_json: bool) -> None:
    """Predict the victim's AUC and Cmax ratios with a perpetrator regimen (reference adult male).

    Dynamic: victim and perpetrator whole-body PBPK composed with the
    enzyme-turnover module; static: the net-effect equation.

    \b
    Example:
      qsp-sbml pbpk ddi predict midazolam rifampicin --victim-dose 7.5 --victim-time 113 \\
          --perpetrator-doses "0:600 24:600 48:600 72:600 96:600"
    """
    from dataclasses import asdict

    from qsp_sbml.pbpk.drugs import load_drugs
    from qsp_sbml.pbpk.interaction import DdiStudy, predict_ddi

    study = DdiStudy(victim=victim, perpetrator=perpetrator, victim_dose_mg=victim_dose, victim_route=victim_route,
                     victim_time_h=victim_time, perpetrator_doses=_doses(perpetrator_doses),
                     perpetrator_route=perpetrator_route, perpetrator_infusion_h=infusion_h)
    pred = predict_ddi(study, load_drugs(_drugs_dir(drugs_dir)))
    if as_json:
        _emit_json(asdict(pred))
        return
    click.echo(f"{victim} with {perpetrator}: AUC ratio {pred.auc_ratio:.3g} (dynamic), "
               f"{pred.static_auc_ratio:.3g} (static); Cmax ratio {pred.cmax_ratio:.3g} (dynamic)")
    click.echo(f"perpetrator Cmax {pred.perpetrator_cmax:.3g} mg/L; static [I]h,u {pred.inlet_conc_um:.3g} uM, "
               f"[I]g {pred.gut_conc_um:.3g} uM")


@ddi.command("verify")
@click.option("--studies", type=click.Path(dir_okay=False, path_type=Path),
              help="DDI study table (default: models/pbpk/validation/ddi_studies.tsv).")
@click.option("--drugs", "drugs_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of drug records (default: models/pbpk/drugs).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write ddi_verification.md/.tsv and ddi_auc_ratios.png into this folder (needs the 'plot' extra).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def verify_cmd(studies: Path | None, drugs_dir: Path | None, report_dir: Path | None, as_json: bool) -> None:
    """Predict every clinical DDI study of the table; print predicted vs observed ratios.

    Exits 1 when the dynamic predictions miss the acceptance figures (GMFE of
    AUC ratios <= 1.5 and >= 80 % inside Guest's limits).

    \b
    Example:
      qsp-sbml pbpk ddi verify --report models/pbpk/validation
    """
    from qsp_sbml.pbpk.ddi_verification import (
        ACCEPTANCE,
        failures,
        load_ddi_studies,
        summarise,
        verify,
        write_report,
    )
    from qsp_sbml.pbpk.drugs import load_drugs
    from qsp_sbml.resources import project_models_dir

    drugs = load_drugs(_drugs_dir(drugs_dir))
    observations = load_ddi_studies(studies or project_models_dir() / "pbpk" / "validation" / "ddi_studies.tsv",
                                    drugs)
    table = verify(observations, drugs)
    summary = summarise(table)
    fails = failures(summary)
    if report_dir is not None:
        write_report(table, summary, report_dir)
    if as_json:
        _emit_json({"ok": not fails, "summary": summary, "acceptance": ACCEPTANCE, "failures": fails,
                    "studies": table.to_dict("records")})
    else:
        shown = table[["id", "study", "perpetrator", "victim_route", "obs_auc_ratio", "dyn_auc_ratio",
                       "static_auc_ratio", "obs_cmax_ratio", "dyn_cmax_ratio"]]
        click.echo(shown.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
        click.echo(f"\n{int(summary['n'])} verification studies: dynamic GMFE {summary['dyn_gmfe_auc']:.2f}, "
                   f"inside Guest {100 * summary['dyn_inside_guest']:.0f} %; static GMFE "
                   f"{summary['static_gmfe_auc']:.2f}, inside Guest {100 * summary['static_inside_guest']:.0f} %")
        click.echo("PASS" if not fails else "FAIL: " + "; ".join(fails))
    if fails:
        raise click.exceptions.Exit(1)
