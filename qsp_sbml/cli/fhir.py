"""``qsp-sbml fhir``: FHIR R4 records to a cohort table or to one patient's twin data."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from qsp_sbml.cli.common import _emit_json, handle_errors

__all__ = ["fhir_group"]


def _mapping(path: Path | None) -> Any:
    from qsp_sbml.rwe import default_mapping, read_mapping

    return read_mapping(path) if path is not None else default_mapping()


def _skipped_table(findings: list[Any]) -> str:
    import pandas as pd

    frame = pd.DataFrame([f.as_dict() for f in findings], columns=["file", "resource", "severity", "kind", "message"])
    return frame.to_csv(sep="\t", index=False)


def _counts(findings: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in findings:
        out[f.kind] = out.get(f.kind, 0) + 1
    return dict(sorted(out.items()))


@click.group("fhir")
def fhir_group() -> None:
    """Read FHIR R4 records (Bundle JSON, a folder of them, NDJSON bulk export).

    \b
    Examples:
      qsp-sbml fhir cohort records/ --reference-date 2024-01-01 -o covariates.tsv
      qsp-sbml fhir twin patient.json --mapping theophylline.yaml -o twin/
    """


@fhir_group.command("cohort")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--reference-date", required=True, help="Date (YYYY-MM-DD) at which ages and covariates are taken.")
@click.option(
    "--mapping",
    "mapping_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="FHIR mapping YAML (kind: fhir-mapping); default: the shipped mapping.",
)
@click.option(
    "--require",
    "required",
    multiple=True,
    help="A covariate column every kept patient must have (besides age, sex, weight_kg, height_cm).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Covariate table (.tsv or .csv) for vpop's covariates: {file: ...}.",
)
@click.option(
    "--genotypes",
    "genotypes_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Genotype table (.tsv) with a subject column and one column per gene.",
)
@click.option(
    "--cohort",
    "cohort_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Cohort Parquet file (covariates and genotypes) for simulate-cohort.",
)
@click.option(
    "--skipped",
    "skipped_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TSV listing every resource or patient not used, with the reason.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@handle_errors
def cohort_cmd(
    inputs: tuple[Path, ...],
    reference_date: str,
    mapping_path: Path | None,
    required: tuple[str, ...],
    output: Path,
    genotypes_out: Path | None,
    cohort_out: Path | None,
    skipped_out: Path | None,
    as_json: bool,
) -> None:
    """Covariates (at a reference date) and CPIC genotypes of every patient in INPUTS.

    Every input problem (not FHIR R4, a missing required element, a unit that does not convert, an
    impossible value, conflicting results) is listed with its resource id; then the command exits 1 and
    writes nothing.

    \b
    Examples:
      qsp-sbml fhir cohort bundles/ --reference-date 2024-01-01 -o covariates.tsv --genotypes genotypes.tsv \\
        --skipped skipped.tsv
      qsp-sbml fhir cohort export/Patient.ndjson export/Observation.ndjson --reference-date 2024-01-01 \\
        --cohort cohort.parquet -o covariates.tsv
    """
    from qsp_sbml._io import atomic_write_text
    from qsp_sbml.rwe import extract_cohort, read_fhir
    from qsp_sbml.rwe.cohort import REQUIRED

    try:
        ref = dt.date.fromisoformat(reference_date)
    except ValueError:
        raise click.BadParameter(
            f"{reference_date!r} is not a date YYYY-MM-DD", param_hint="--reference-date"
        ) from None
    mapping = _mapping(mapping_path)
    unknown = [c for c in required if c not in mapping.covariates]
    if unknown:
        raise click.BadParameter(
            f"{unknown[0]!r} is not a covariate of the mapping ({', '.join(mapping.covariates)})",
            param_hint="--require",
        )
    records = read_fhir(list(inputs))
    result = extract_cohort(records, mapping, reference_date=ref, required=(*REQUIRED, *required))
    sep = "," if output.suffix.lower() == ".csv" else "\t"
    texts = {output: result.covariates.to_csv(sep=sep, index=False, float_format="%.17g")}
    if genotypes_out is not None:
        texts[genotypes_out] = result.genotypes.to_csv(sep="\t", index=False)
    if skipped_out is not None:
        texts[skipped_out] = _skipped_table(result.skipped)
    cohort = result.to_cohort() if cohort_out is not None else None
    for path, text in texts.items():
        atomic_write_text(path, text)
    if cohort is not None and cohort_out is not None:
        cohort.to_parquet(cohort_out)  # type: ignore[attr-defined]
    missing = result.incomplete
    summary = {
        "ok": True,
        "output": str(output),
        "n": len(result.covariates),
        "files": len(records.files),
        "skipped": _counts(result.skipped),
        "columns_left_out": missing,
    }
    if as_json:
        _emit_json(summary)
        return
    n_pat = sum(1 for f in result.skipped if f.kind == "patient-skipped" and f.resource.startswith("Patient/"))
    click.echo(
        f"{output}: {len(result.covariates)} patient(s) from {len(records.files)} file(s); "
        f"{n_pat} patient(s) skipped; {len(result.skipped)} resource(s) not used"
        + (f" (listed in {skipped_out})" if skipped_out else "")
    )
    for column, n in missing.items():
        click.echo(
            f"  {column}: no value for {n} patient(s); column left out (--require {column} keeps it "
            "and skips those patients)"
        )


@fhir_group.command("twin")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--mapping",
    "mapping_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="FHIR mapping YAML with observables and medications.",
)
@click.option("--patient", help="Patient id (needed when the input holds several patients).")
@click.option("--t0", "t0_text", help="Time origin (ISO date-time with zone); default: the first dose.")
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for patient.csv (time_h, output, value) and history.txt (the regimen).",
)
@click.option(
    "--skipped",
    "skipped_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TSV listing every resource not used, with the reason.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@handle_errors
def twin_cmd(
    inputs: tuple[Path, ...],
    mapping_path: Path,
    patient: str | None,
    t0_text: str | None,
    out_dir: Path,
    skipped_out: Path | None,
    as_json: bool,
) -> None:
    """One patient's observations and dosing history, as the N-of-1 design reads them.

    The design's ``patient:`` names OUT/patient.csv and its ``history:`` takes the text of
    OUT/history.txt.

    \b
    Examples:
      qsp-sbml fhir twin trials/fhir_theophylline/record.json --mapping trials/fhir_theophylline/mapping.yaml \\
        -o twin/
    """
    from qsp_sbml._io import atomic_write_text
    from qsp_sbml.rwe import read_fhir, twin_data

    t0 = None
    if t0_text is not None:
        try:
            t0 = dt.datetime.fromisoformat(t0_text)
        except ValueError:
            raise click.BadParameter(f"{t0_text!r} is not an ISO date-time", param_hint="--t0") from None
        if t0.tzinfo is None:
            raise click.BadParameter("give a time zone (e.g. 2024-03-01T08:00:00+00:00)", param_hint="--t0")
    records = read_fhir(list(inputs))
    data = twin_data(records, _mapping(mapping_path), patient=patient, t0=t0)
    patient_csv, history = data.write(out_dir)
    if skipped_out is not None:
        atomic_write_text(skipped_out, _skipped_table(data.skipped))
    summary = {
        "ok": True,
        "patient": data.patient,
        "t0": data.t0.isoformat(),
        "observations": len(data.observations),
        "doses": len(data.regimen.administrations()),
        "history": data.regimen.to_text(),
        "files": [str(patient_csv), str(history)],
        "skipped": _counts(data.skipped),
    }
    if as_json:
        _emit_json(summary)
        return
    click.echo(
        f"Patient/{data.patient}: {len(data.observations)} observation(s), "
        f"{len(data.regimen.administrations())} dose(s) from {data.t0.isoformat()}"
    )
    click.echo(f"  {patient_csv}\n  {history}: {data.regimen.to_text()}")
    if data.skipped:
        click.echo(f"  {len(data.skipped)} resource(s) not used", err=False)
    sys.stdout.flush()
