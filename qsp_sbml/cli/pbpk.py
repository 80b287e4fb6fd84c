"""``qsp-sbml pbpk ...``: whole-body PBPK validation and parameter inspection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qsp_sbml.cli.common import _emit_json, handle_errors

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["pbpk"]


def _defaults() -> tuple[Path, Path, Path]:
    from qsp_sbml.resources import project_models_dir

    root = project_models_dir() / "pbpk"
    return root / "drugs", root / "validation" / "observed_pk.tsv", root / "wholebody_pbpk.xml"


@click.group()
def pbpk() -> None:
    """Whole-body PBPK and antibody modules: validation against clinical PK, partition coefficients.

    \b
    Examples:
      qsp-sbml pbpk validate --plot pbpk_validation.png
      qsp-sbml pbpk kp models/pbpk/drugs/midazolam.yaml
      qsp-sbml pbpk fit --drug midazolam
      qsp-sbml pbpk ddi verify --report ddi-report
      qsp-sbml pbpk antibody
    """


@pbpk.command("validate")
@click.option("--drugs", "drugs_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of drug records (default: models/pbpk/drugs).")
@click.option("--observed", type=click.Path(dir_okay=False, path_type=Path),
              help="Observed clinical PK table (default: models/pbpk/validation/observed_pk.tsv).")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Whole-body PBPK SBML (default: models/pbpk/wholebody_pbpk.xml).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the table as TSV.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a predicted-vs-observed figure (.png/.pdf/.svg; needs the 'plot' extra).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def validate_cmd(drugs_dir: Path | None, observed: Path | None, model_path: Path | None,
                 output: Path | None, plot_path: Path | None, as_json: bool) -> None:
    """Simulate every clinical study of the observed table; print predicted vs observed.

    Exits 1 when GMFE(AUC) > 2, GMFE(Cmax) > 2 or fewer than 67 % of the
    predictions fall within 2-fold.

    \b
    Example:
      qsp-sbml pbpk validate -o pbpk-validation.tsv
    """
    from qsp_sbml._io import atomic_write_text
    from qsp_sbml.loading import load_model
    from qsp_sbml.pbpk.drugs import load_drugs
    from qsp_sbml.pbpk.validation import THRESHOLDS, load_observations, validate

    if drugs_dir is None or observed is None or model_path is None:
        default_drugs, default_observed, default_model = _defaults()
        drugs_dir, observed, model_path = (drugs_dir or default_drugs, observed or default_observed,
                                           model_path or default_model)
    drugs = load_drugs(drugs_dir)
    observations = load_observations(observed, drugs)
    model = load_model(model_path)
    result = validate(observations, drugs, model)
    table = result.table()
    summary = result.summary()
    failures = result.failures()
    if output is not None:
        atomic_write_text(output, table.to_csv(sep="\t", index=False))
    if plot_path is not None:
        from qsp_sbml.plot import predicted_vs_observed

        predicted_vs_observed(table, plot_path, title="Whole-body PBPK: predicted vs observed")
    if as_json:
        _emit_json({"ok": not failures, "summary": summary, "thresholds": THRESHOLDS, "failures": failures,
                    "comparisons": table.to_dict("records")})
    else:
        shown = table[["drug", "study", "route", "dose_mg", "metric", "observed", "predicted", "fold"]]
        click.echo(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
        click.echo(
            f"\n{int(summary['n'])} predictions: GMFE AUC {summary['gmfe_auc']:.2f}, "
            f"GMFE Cmax {summary['gmfe_cmax']:.2f}, GMFE t1/2 {summary['gmfe_t_half']:.2f}, "
            f"within 2-fold {100 * summary['within_2fold']:.0f} %"
        )
        click.echo("PASS" if not failures else "FAIL: " + "; ".join(failures))
    if failures:
        raise click.exceptions.Exit(1)


@pbpk.command("qualify")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Report folder to write (replaced whole, only when everything succeeded).")
@click.option("--drug", "drug_names", multiple=True, help="Qualify only this drug (repeatable; default: all).")
@click.option("--observed", type=click.Path(dir_okay=False, path_type=Path),
              help="Observed profiles (default: models/pbpk/validation/observed_profiles.tsv).")
@click.option("--drugs", "drugs_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of drug records (default: models/pbpk/drugs).")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Whole-body PBPK SBML (default: models/pbpk/wholebody_pbpk.xml).")
@click.option("--ddi-table", type=click.Path(dir_okay=False, path_type=Path),
              help="DDI verification table written by 'pbpk ddi verify --report' "
                   "(default: models/pbpk/validation/ddi_verification.tsv).")
@click.option("--no-ddi", is_flag=True, help="Leave the DDI section out.")
@click.option("--paediatric", "paediatric_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Paediatric studies table (default: models/pbpk/validation/paediatric_studies.tsv).")
@click.option("--no-paediatric", is_flag=True, help="Leave the paediatric section out.")
@click.option("--renal", "renal_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Renal-impairment profiles (default: models/pbpk/validation/renal_impairment_profiles.tsv).")
@click.option("--no-renal", is_flag=True, help="Leave the renal-impairment section out.")
@click.option("--hepatic", "hepatic_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Hepatic-impairment studies (default: models/pbpk/validation/hepatic_impairment_studies.tsv).")
@click.option("--no-hepatic", is_flag=True, help="Leave the hepatic-impairment section out.")
@click.option("--strict", is_flag=True, help="Exit 1 when the verification acceptance figures are not met.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@handle_errors
def qualify_cmd(report_dir: Path, drug_names: tuple[str, ...], observed: Path | None, drugs_dir: Path | None,
                model_path: Path | None, ddi_table: Path | None, no_ddi: bool, paediatric_path: Path | None,
                no_paediatric: bool, renal_path: Path | None, no_renal: bool, hepatic_path: Path | None,
                no_hepatic: bool, strict: bool, as_json: bool) -> None:
    """Predict every observed concentration-time profile; write a qualification report folder.

    Per drug and per group (model-building / verification): GMFE of AUC and
    Cmax, fraction within 2-fold, concentration GMFE; predicted-vs-observed
    profile plots (log and linear), a goodness-of-fit plot, per-study table,
    the DDI table with Guest's limits, the paediatric studies (AUC and CL
    predicted vs observed), the renal-impairment arms (AUC ratio to the
    study's healthy arm, predicted vs observed), the hepatic-impairment
    studies (cirrhotic / healthy ratios of CL, F, fu) and summary.json.
    Nothing is fitted.

    \b
    Example:
      qsp-sbml pbpk qualify --report pbpk-qualification
      qsp-sbml pbpk qualify --drug fluconazole --no-ddi --report fluconazole-report
    """
    from qsp_sbml._io import check_output_folder
    from qsp_sbml.loading import load_model
    from qsp_sbml.pbpk.drugs import load_drugs
    from qsp_sbml.pbpk.hepatic_impairment import load_hepatic_studies, predict_hepatic
    from qsp_sbml.pbpk.paediatric import predict_paediatric
    from qsp_sbml.pbpk.qualification import ProfileError, load_profiles, qualify, summarise
    from qsp_sbml.pbpk.qualification_report import REPORT_MARKER, failures, write_report
    from qsp_sbml.pbpk.renal_impairment import compare_renal, load_renal_arms, simulate_arms
    from qsp_sbml.resources import project_models_dir

    default_drugs, _, default_model = _defaults()
    validation = project_models_dir() / "pbpk" / "validation"
    observed = observed or validation / "observed_profiles.tsv"
    drugs = load_drugs(drugs_dir or default_drugs)
    profiles = load_profiles(observed, drugs)
    ddi = None if no_ddi else _read_ddi_table(ddi_table or validation / "ddi_verification.tsv")
    paediatric_source = str(paediatric_path or "models/pbpk/validation/paediatric_studies.tsv")
    paediatric_studies = [] if no_paediatric else _paediatric_studies(
        paediatric_path or validation / "paediatric_studies.tsv", drugs, drug_names)
    renal_source = str(renal_path or "models/pbpk/validation/renal_impairment_profiles.tsv")
    renal_arms = [] if no_renal else load_renal_arms(renal_path or validation / "renal_impairment_profiles.tsv", drugs)
    hepatic_source = str(hepatic_path or "models/pbpk/validation/hepatic_impairment_studies.tsv")
    hepatic_studies = [] if no_hepatic else [s for s in load_hepatic_studies(
        hepatic_path or validation / "hepatic_impairment_studies.tsv", drugs) if not drug_names or s.drug in drug_names]
    unknown = sorted(set(drug_names) - {p.drug for p in profiles})
    if unknown:
        renal_only = sorted(set(unknown) & {a.drug for a in renal_arms})
        raise ProfileError(f"--drug {', '.join(unknown)}: no profiles in {observed}; drugs with profiles: "
                           f"{sorted({p.drug for p in profiles})}"
                           + (f" ({', '.join(renal_only)}: renal-impairment arms only, in the report of every "
                              "drug: leave out --drug)" if renal_only else ""))
    if drug_names:
        profiles = [p for p in profiles if p.drug in drug_names]
        renal_arms = [a for a in renal_arms if a.drug in drug_names]
    # every input is read and checked; the folder is written whole: refuse, before any simulation, one this
    # command did not write
    check_output_folder(report_dir, marker=REPORT_MARKER, what="PBPK qualification report", option="--report")
    model = load_model(model_path or default_model)
    paediatric = predict_paediatric(paediatric_studies, drugs, model) if paediatric_studies else None
    renal_curves = simulate_arms(renal_arms, drugs, model) if renal_arms else None
    renal = compare_renal(renal_arms, renal_curves) if renal_curves else None
    hepatic = predict_hepatic(hepatic_studies, drugs, model) if hepatic_studies else None
    studies, points, predictions = qualify(profiles, drugs, model)
    summary = summarise(studies, points)
    command = "qsp-sbml pbpk qualify" + "".join(f" --drug {d}" for d in drug_names) + " --report DIR"
    write_report(report_dir, studies=studies, points=points, predictions=predictions, summary=summary,
                 command=command, observed=str(observed), ddi_table=ddi,
                 ddi_source=str(ddi_table or "models/pbpk/validation/ddi_verification.tsv"),
                 paediatric=paediatric, paediatric_source=paediatric_source, renal=renal, renal_source=renal_source,
                 renal_curves=renal_curves, hepatic=hepatic, hepatic_source=hepatic_source, records=drugs)
    fails = failures(summary)
    if as_json:
        paed = [] if paediatric is None else paediatric.drop(columns="reference").to_dict("records")
        kidney = [] if renal is None else renal.drop(columns="reference").to_dict("records")
        liver = [] if hepatic is None else hepatic.drop(columns="reference").to_dict("records")
        _emit_json({"ok": not fails, "summary": summary, "failures": fails, "report": str(report_dir),
                    "paediatric": paed, "renal": kidney, "hepatic": liver})
    else:
        for drug, groups in summary.items():
            for group, f in groups.items():
                click.echo(f"{drug:<13} {group:<12} {f['n_profiles']:4.0f} profiles: GMFE AUC {f['gmfe_auc']:.2f}, "
                           f"Cmax {f['gmfe_cmax']:.2f}, concentrations {f['conc_gmfe']:.2f}")
        for _, r in (paediatric.iterrows() if paediatric is not None else ()):
            click.echo(f"paediatric   {r['study']:<16} age {r['age_y']:g} y: AUC ratio {r['auc_ratio']:.2f}, "
                       f"{r['cl_kind']} ratio {r['cl_ratio']:.2f}{'' if r['within_2fold'] else ' (outside 2-fold)'}")
        for _, r in (renal[renal["role"] == "impaired"].iterrows() if renal is not None else ()):
            click.echo(f"renal        {r['dataset']:<16} eGFR {r['egfr']:g}: AUC ratio to control observed "
                       f"{r['obs_ratio_to_control']:.2f}, predicted {r['pred_ratio_to_control']:.2f}"
                       f"{'' if r['within_2fold'] else ' (outside 2-fold)'}")
        for _, r in (hepatic.iterrows() if hepatic is not None else ()):
            click.echo(f"hepatic      {r['drug']} {r['study']} {r['quantity']} Child-Pugh {r['child_pugh']}: ratio "
                       f"observed {r['observed_ratio']:.2f}, predicted {r['predicted_ratio']:.2f}"
                       f"{'' if r['within_2fold'] else ' (outside 2-fold)'}")
        click.echo(("acceptance met" if not fails else "acceptance not met: " + "; ".join(fails))
                   + f"; report in {report_dir}")
    if fails and strict:
        raise click.exceptions.Exit(1)


@pbpk.command("fit")
@click.option("--drug", "drug_names", multiple=True, help="Fit only this drug (repeatable; default: the plan's drugs).")
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Fit plan (default: models/pbpk/validation/building_fit.yaml).")
@click.option("--observed", type=click.Path(dir_okay=False, path_type=Path),
              help="Observed profiles (default: models/pbpk/validation/observed_profiles.tsv); only rows of "
                   "group 'building' are read by the fit.")
@click.option("--drugs", "drugs_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of drug records (default: models/pbpk/drugs).")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Whole-body PBPK SBML (default: models/pbpk/wholebody_pbpk.xml).")
@click.option("--starts", type=click.IntRange(0, 100), default=0, show_default=True,
              help="Also fit from this many random starting points inside the plan's bounds, to check for other "
                   "minima (the estimate stays the one from the record's values).")
@click.option("--profile", is_flag=True, help="Also compute profile-likelihood 95 % intervals (slower: about a "
                                                "minute for midazolam's 24 profiles).")
@click.option("--write", is_flag=True, help="Write the fitted values and their sources into the drug records "
                                            "(all or none, after every fit converged).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def fit_cmd(drug_names: tuple[str, ...], plan_path: Path | None, observed: Path | None, drugs_dir: Path | None,
            model_path: Path | None, starts: int, profile: bool, write: bool, as_json: bool) -> None:
    """Estimate kp_scale (and ka) of each drug from its model-building profiles only.

    The plan names the parameters, bounds, loss and drugs; verification
    profiles are never read. Without --write nothing is changed.

    \b
    Example:
      qsp-sbml pbpk fit --drug midazolam
      qsp-sbml pbpk fit --write
    """
    from qsp_sbml.loading import load_model
    from qsp_sbml.pbpk.building_fit import BuildingFitError, fit_drug, load_plan, write_all_fitted
    from qsp_sbml.pbpk.drugs import load_drugs
    from qsp_sbml.pbpk.qualification import load_profiles
    from qsp_sbml.resources import project_models_dir

    default_drugs, _, default_model = _defaults()
    validation = project_models_dir() / "pbpk" / "validation"
    plan = load_plan(plan_path or validation / "building_fit.yaml")
    drugs_dir = drugs_dir or default_drugs
    drugs = load_drugs(drugs_dir)
    names = list(drug_names) or plan.drugs
    unknown = sorted(set(names) - set(drugs))
    if unknown:
        raise BuildingFitError(f"--drug {', '.join(unknown)}: no record in {drugs_dir}; records: {sorted(drugs)}")
    profiles = load_profiles(observed or validation / "observed_profiles.tsv", drugs)
    model = load_model(model_path or default_model)
    fits = [fit_drug(drugs[n], profiles, model, plan, plan_source=str(plan_path or "models/pbpk/validation/"
                                                                   "building_fit.yaml"),
                     observed_source=str(observed or "models/pbpk/validation/observed_profiles.tsv"), starts=starts,
                     profile=profile)
            for n in names]
    failed = [f.drug for f in fits if not f.success]
    if failed:
        raise BuildingFitError(f"the fit did not converge for {', '.join(failed)}; no record was changed")
    if write:
        write_all_fitted({drugs_dir / f"{f.drug}.yaml": f for f in fits})
    if as_json:
        _emit_json({"written": write, "fits": [
            {"drug": f.drug, "parameters": {n: {"initial": i, "fitted": v, "ci95": list(c), "at_bound": b,
                                                "profile_ci95": list(f.profile_ci95[k]) if f.profile_ci95 else None}
                                            for k, (n, i, v, c, b) in enumerate(zip(f.names, f.initial, f.fitted,
                                                                                    f.ci95, f.at_bound, strict=True))},
             "studies": list(f.studies), "n_profiles": f.n_profiles, "n_points": f.n_points,
             "other_starts": f.other_starts, "better_starts": f.better_starts,
             "gmfe_before": f.gmfe_before, "gmfe_after": f.gmfe_after} for f in fits]})
        return
    for f in fits:
        values = ", ".join(f"{n} {i:.3g} -> {v:.3g}"
                           + (" (at a bound)" if b else f" (95 % CI {c[0]:.3g}-{c[1]:.3g}"
                              + (f"; profile {f.profile_ci95[k][0]:.3g}-{f.profile_ci95[k][1]:.3g}"
                                 if f.profile_ci95 else "") + ")")
                           for k, (n, i, v, c, b) in enumerate(zip(f.names, f.initial, f.fitted, f.ci95, f.at_bound,
                                                                   strict=True)))
        click.echo(f"{f.drug:<15} {values}; {f.n_profiles} building profiles, {f.n_points} points: "
                   f"concentration GMFE {f.gmfe_before:.2f} -> {f.gmfe_after:.2f}"
                   + (f"; {f.better_starts} of {f.other_starts} other starts reached a lower cost"
                      + (" (WARNING: another minimum)" if f.better_starts else "") if f.other_starts else ""))
    click.echo(f"written to the records in {drugs_dir}" if write else "nothing written (use --write)")


@pbpk.command("antibody")
@click.option("--observed", type=click.Path(dir_okay=False, path_type=Path),
              help="Observed antibody exposure (default: models/pbpk/validation/antibody_observed.tsv).")
@click.option("--split", "split_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Split file whose drugs give the PK values "
                   "(default: models/disease/validation/psoriasis_split.yaml).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the table as TSV.")
@click.option("--strict", is_flag=True, help="Exit 1 when an antibody's GMFE exceeds 1.5.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@handle_errors
def antibody_cmd(observed: Path | None, split_path: Path | None, output: Path | None, strict: bool,
                 as_json: bool) -> None:
    """Predict observed antibody exposure (AUC/dose, Cmax, trough) with the disease modules' antibody PK.

    Every row of the observed table is simulated with the antibody module and the split file's values for
    that antibody; nothing is fitted.  Prints predicted vs observed and the GMFE per antibody (issue 19
    asks for <= 1.5).

    \b
    Example:
      qsp-sbml pbpk antibody -o antibody-pk.tsv
    """
    from qsp_sbml._io import atomic_write_text
    from qsp_sbml.pbpk.antibody_verification import (
        GMFE_LIMIT,
        load_antibody_observations,
        split_antibodies,
        verify_antibodies,
    )
    from qsp_sbml.resources import project_models_dir

    models = project_models_dir()
    antibodies = split_antibodies(split_path or models / "disease" / "validation" / "psoriasis_split.yaml")
    observations = load_antibody_observations(observed or models / "pbpk" / "validation" / "antibody_observed.tsv",
                                              antibodies)
    result = verify_antibodies(observations, antibodies)
    table, summary, fails = result.table, result.summary(), result.failures()
    if output is not None:
        atomic_write_text(output, table.to_csv(sep="\t", index=False))
    if as_json:
        _emit_json({"ok": not fails, "gmfe_limit": GMFE_LIMIT, "summary": summary, "failures": fails,
                    "comparisons": table.to_dict("records")})
    else:
        shown = table[["antibody", "study", "metric", "observed", "predicted", "fold"]]
        click.echo(shown.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
        click.echo("")
        for name, s in summary.items():
            click.echo(f"{name:<14} {s['n']:3.0f} rows: predicted GMFE {s['gmfe']:.2f}, within 1.5-fold "
                       f"{100 * s['within_1_5fold']:.0f} %, within 2-fold {100 * s['within_2fold']:.0f} %")
        click.echo(f"GMFE <= {GMFE_LIMIT} for every antibody" if not fails else "not met: " + "; ".join(fails))
    if fails and strict:
        raise click.exceptions.Exit(1)


def _paediatric_studies(path: Path, drugs: Any, drug_names: tuple[str, ...]) -> list[Any]:
    from qsp_sbml.pbpk.paediatric import load_paediatric_studies

    return [s for s in load_paediatric_studies(path, drugs) if not drug_names or s.drug in drug_names]


def _read_ddi_table(path: Path) -> pd.DataFrame:
    import pandas as pd

    from qsp_sbml.pbpk.qualification import ProfileError

    needed = ("role", "study", "perpetrator", "victim_route", "obs_auc_ratio", "dyn_auc_ratio", "static_auc_ratio",
              "dyn_inside_guest", "static_inside_guest")
    try:
        table = pd.read_csv(path, sep="\t")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ProfileError(f"{path}: cannot read the DDI verification table ({err})") from None
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ProfileError(f"{path}: missing column(s) {missing} (write it with 'qsp-sbml pbpk ddi verify --report')")
    for col in ("obs_auc_ratio", "dyn_auc_ratio", "static_auc_ratio"):
        bad = pd.to_numeric(table[col], errors="coerce").isna() | (pd.to_numeric(table[col], errors="coerce") <= 0)
        if bad.any():
            line = int(bad.to_numpy().argmax()) + 2  # header on line 1
            raise ProfileError(f"{path}:{line}, column {col}: {table[col].iloc[line - 2]!r} is not a positive number")
    return table


@pbpk.command("kp")
@click.argument("drug_file", metavar="DRUG.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@handle_errors
def kp_cmd(drug_file: Path, as_json: bool) -> None:
    """Print the tissue:plasma partition coefficients and clearances of a drug record (reference male).

    \b
    Example:
      qsp-sbml pbpk kp models/pbpk/drugs/midazolam.yaml --json
    """
    from qsp_sbml.pbpk.drugs import load_drug
    from qsp_sbml.pbpk.parameters import parameterise
    from qsp_sbml.physiology import reference

    drug = load_drug(drug_file)
    p = parameterise(drug, reference("male"))
    kps = {k[3:]: v for k, v in p.values.items() if k.startswith("Kp_")}
    if as_json:
        _emit_json({"drug": drug.id, "method": drug.kp_method, "kp": kps,
                    "cl_hepatic_l_per_h": p.cl_hepatic, "cl_renal_l_per_h": p.cl_renal})
        return
    click.echo(f"{drug.name} ({drug.kp_method}):")
    for tissue, value in kps.items():
        click.echo(f"  {tissue:<10} {value:8.3f}")
    click.echo(f"CL hepatic {p.cl_hepatic:.3g} L/h, CL renal {p.cl_renal:.3g} L/h (reference male)")


from qsp_sbml.cli.ddi import ddi  # noqa: E402 -- registered under ``pbpk`` (the subcommand lives in its own module)

pbpk.add_command(ddi)
