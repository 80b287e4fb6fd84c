"""qsp_sbml.rwe: FHIR R4 records (SYNTHETIC fixtures from tests/data/fhir_synthetic.py) to the tools."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fhir.resources.R4B")

from qsp_sbml.dosing import Regimen, Route
from qsp_sbml.errors import FhirError
from qsp_sbml.rwe import (
    default_mapping,
    extract_cohort,
    extract_doses,
    extract_patients,
    read_fhir,
    read_mapping,
    regimen_from_events,
    twin_data,
)
from qsp_sbml.rwe.quantities import convert
from tests.data import fhir_synthetic as fx

REPO = Path(__file__).resolve().parents[1]
THEO = REPO / "trials" / "fhir_theophylline"
REF = dt.date(2024, 1, 1)


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _two_patients() -> list[dict]:
    return [
        fx.patient("p1", birth="1970-05-02", gender="female"),
        fx.observation("p1-wt-old", "p1", "29463-7", 70.0, "kg", "2022-01-10T09:00:00Z"),
        fx.observation("p1-wt", "p1", "29463-7", 154.0, "[lb_av]", "2023-06-01T09:00:00Z"),
        fx.observation("p1-wt-late", "p1", "29463-7", 75.0, "kg", "2024-02-01T09:00:00Z"),
        fx.observation("p1-ht", "p1", "8302-2", 65.0, "[in_i]", "2023-06-01T09:00:00Z"),
        fx.observation("p1-scr", "p1", "14682-9", 88.4, "umol/L", "2023-06-01T09:00:00Z"),
        fx.observation("p1-alt", "p1", "1742-6", 31.0, "[IU]/L", "2023-06-01T09:00:00Z"),
        fx.observation("p1-bp", "p1", "8480-6", 120.0, "mm[Hg]", "2023-06-01T09:00:00Z"),
        fx.genotype("p1-cyp2d6", "p1", "CYP2D6", "CYP2D6*4.001 / CYP2D6*1.001"),
        fx.patient("p2", birth="1985-11-30", gender="male"),
        fx.observation("p2-wt", "p2", "29463-7", 82.0, "kg", "2023-03-01"),
        fx.observation("p2-ht", "p2", "8302-2", 1.80, "m", "2023-03-01"),
        fx.genotype("p2-cyp2c19", "p2", "CYP2C19", "*1/*2"),
        fx.patient("p3", birth="1990-01-01", gender="female"),  # no weight: skipped with its reason
        fx.observation("p3-ht", "p3", "8302-2", 160.0, "cm", "2023-03-01"),
    ]


def test_default_mapping_codes() -> None:
    m = default_mapping()
    assert m.covariate_for("http://loinc.org", "2160-0") == "serum_creatinine_mg_dl"
    assert m.covariate_for("http://loinc.org", "1920-8") == "ast_u_l"
    assert m.is_genotype("http://loinc.org", "84413-4")
    assert m.covariate_for("http://snomed.info/sct", "29463-7") is None  # the system matters


def test_quantities() -> None:
    assert convert(1.0, "mg/dL", "mg/L") == pytest.approx(10.0)
    assert convert(88.4, "umol/L", "mg/dL", molecular_weight=113.12) == pytest.approx(0.99998, rel=1e-4)
    assert convert(65.0, "[in_i]", "cm") == pytest.approx(165.1)
    with pytest.raises(ValueError, match="molecular_weight"):
        convert(88.4, "umol/L", "mg/dL")
    with pytest.raises(ValueError, match="cannot convert"):
        convert(70.0, "kg", "cm")
    with pytest.raises(ValueError, match="not a unit"):
        convert(1.0, "furlong", "cm")


def test_cohort_from_bundle(tmp_path: Path) -> None:
    path = _write(tmp_path / "b.json", fx.bundle(*_two_patients()))
    res = extract_cohort(read_fhir(path), default_mapping(), reference_date=REF, drop_incomplete=False)
    cov = res.covariates.set_index("subject_id")
    assert list(cov.index) == ["p1", "p2"]
    assert res.incomplete == {
        "serum_creatinine_mg_dl": 1,
        "albumin_g_dl": 2,
        "bilirubin_mg_dl": 2,
        "alt_u_l": 1,
        "ast_u_l": 2,
    }
    complete = extract_cohort(read_fhir(path), default_mapping(), reference_date=REF).covariates
    assert list(complete.columns) == ["subject_id", "age", "sex", "weight_kg", "height_cm"]
    p1 = cov.loc["p1"]
    assert p1["sex"] == "female"
    assert p1["age"] == pytest.approx((REF - dt.date(1970, 5, 2)).days / 365.2425)
    assert p1["weight_kg"] == pytest.approx(154.0 * 0.45359237)  # latest before the reference date, in kg
    assert p1["height_cm"] == pytest.approx(65.0 * 2.54)
    assert p1["serum_creatinine_mg_dl"] == pytest.approx(88.4 * 113.12 / 1e4)
    assert p1["alt_u_l"] == 31.0
    assert np.isnan(p1["ast_u_l"])
    assert cov.loc["p2", "height_cm"] == pytest.approx(180.0)
    geno = res.genotypes.set_index("subject")
    assert geno.loc["p1", "CYP2D6"] == "*4/*1"
    assert geno.loc["p2", "CYP2C19"] == "*1/*2"
    assert geno.loc["p2", "CYP2D6"] == ""
    why = {f.resource: f.kind for f in res.skipped}
    assert why["Observation/p1-bp"] == "unknown-code"
    assert why["Observation/p1-wt-late"] == "after-reference"
    assert why["Observation/p1-wt-old"] == "superseded"
    assert why["Patient/p3"] == "patient-skipped"
    assert "weight_kg" in next(f.message for f in res.skipped if f.resource == "Patient/p3")


def test_folder_and_ndjson_read_the_same(tmp_path: Path) -> None:
    resources = _two_patients()
    one = extract_cohort(
        read_fhir(_write(tmp_path / "b.json", fx.bundle(*resources))), default_mapping(), reference_date=REF
    )
    folder = tmp_path / "folder"
    folder.mkdir()
    _write(folder / "a.json", fx.bundle(*resources[:9], bid="a"))
    _write(folder / "b.json", fx.bundle(*resources[9:], bid="b"))
    nd = tmp_path / "bulk"
    nd.mkdir()
    by_type: dict[str, list[str]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(json.dumps(r))
    for kind, lines in by_type.items():
        (nd / f"{kind}.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for other in (folder, nd):
        got = extract_cohort(read_fhir(other), default_mapping(), reference_date=REF)
        pd.testing.assert_frame_equal(got.covariates, one.covariates)
        pd.testing.assert_frame_equal(got.genotypes, one.genotypes)


def _error_of(tmp_path: Path, *resources: dict, mapping_path: Path | None = None) -> str:
    path = _write(tmp_path / "bad.json", fx.bundle(fx.patient("p1"), *resources))
    mapping = read_mapping(mapping_path) if mapping_path else default_mapping()
    with pytest.raises(FhirError) as err:
        records = read_fhir(path)
        extract_patients(records, mapping)
        extract_doses(records, mapping)
        records.raise_if_errors()
    return str(err.value)


@pytest.mark.parametrize(
    ("resource", "needle"),
    [
        (
            {**fx.administration("a1", "p1", "2023-01-01T08:00:00Z", 100.0), "occurenceDateTime": "2023-01-01"},
            "MedicationAdministration/a1: occurenceDateTime: element not defined in FHIR R4 [not-r4]",
        ),
        ({"resourceType": "ActorDefinition", "id": "x1"}, "'ActorDefinition' is not a FHIR R4 resource type"),
        (
            {k: v for k, v in fx.observation("o1", "p1", "29463-7", 70.0, "kg", "2023-01-01").items() if k != "status"},
            "Observation/o1: status: ",
        ),
        (
            fx.observation("o2", "p1", "2160-0", 1.0, "mm[Hg]", "2023-01-01"),
            "Observation/o2: serum_creatinine_mg_dl: unit",
        ),
        (
            fx.observation("o3", "p1", "29463-7", 70.0, None, "2023-01-01"),
            "Observation/o3: weight_kg: valueQuantity 70.0 has no unit [missing-unit]",
        ),
        (fx.observation("o4", "p1", "29463-7", 900.0, "kg", "2023-01-01"), "Observation/o4: weight_kg = 900 kg"),
        (
            fx.observation("o5", "p1", "8302-2", 170.0, "cm", "2023-01-01T08:00:00Z", system="http://loinc.org"),
            None,
        ),  # fine on its own; see the conflict test
    ],
)
def test_bad_resources_are_named(tmp_path: Path, resource: dict, needle: str | None) -> None:
    if needle is None:
        path = _write(tmp_path / "ok.json", fx.bundle(fx.patient("p1"), resource))
        read_fhir(path).raise_if_errors()
        return
    assert needle in _error_of(tmp_path, resource)


def test_conflicting_results_and_genotypes(tmp_path: Path) -> None:
    text = _error_of(
        tmp_path,
        fx.observation("w1", "p1", "29463-7", 70.0, "kg", "2023-01-01T08:00:00Z"),
        fx.observation("w2", "p1", "29463-7", 72.0, "kg", "2023-01-01T08:00:00Z"),
        fx.genotype("g1", "p1", "CYP2D6", "*1/*4"),
        fx.genotype("g2", "p1", "CYP2D6", "*1/*1"),
    )
    assert "Observation/w2: weight_kg = 72 kg at 2023-01-01 08:00:00+00:00 disagrees with 70 kg" in text
    assert "Observation/g2: CYP2D6 *1/*1 disagrees with *1/*4 (Observation/g1)" in text
    # an identical repeat is not a conflict; it is listed as a duplicate
    path = _write(
        tmp_path / "dup.json",
        fx.bundle(
            fx.patient("p1"),
            fx.observation("w1", "p1", "29463-7", 70.0, "kg", "2023-01-01T08:00:00Z"),
            fx.observation("w2", "p1", "29463-7", 70.0, "kg", "2023-01-01T08:00:00Z"),
            fx.observation("h1", "p1", "8302-2", 170.0, "cm", "2023-01-01T08:00:00Z"),
        ),
    )
    res = extract_cohort(read_fhir(path), default_mapping(), reference_date=REF)
    assert ("Observation/w2", "duplicate") in {(f.resource, f.kind) for f in res.skipped}


def test_bad_genotype_and_bad_subject(tmp_path: Path) -> None:
    text = _error_of(
        tmp_path,
        fx.genotype("g1", "p1", "CYP2D6", "*1/*999"),
        fx.observation("w9", "nobody", "29463-7", 70.0, "kg", "2023-01-01"),
    )
    assert "Observation/g1: " in text and "*999" in text
    assert "Observation/w9: subject 'Patient/nobody' is not a Patient in the input" in text


def test_medication_errors_name_the_resource(tmp_path: Path) -> None:
    mapping = THEO / "mapping.yaml"
    text = _error_of(
        tmp_path,
        fx.administration("nodose", "p1", "2023-01-01T08:00:00Z", None),
        fx.administration("notime", "p1", None, 100.0),
        fx.administration("dateonly", "p1", "2023-01-01", 100.0),
        fx.administration("noroute", "p1", "2023-01-02T08:00:00Z", 100.0, route=None),
        fx.administration("badunit", "p1", "2023-01-03T08:00:00Z", 100.0, unit="mL"),
        mapping_path=mapping,
    )
    assert "MedicationAdministration/nodose: no dosage.dose [no-dose]" in text
    assert "MedicationAdministration/notime: " in text and "effectiveDateTime" in text  # effective[x] is 1..1
    assert "MedicationAdministration/dateonly: effectiveDateTime or effectivePeriod.start 2023-01-01 has no" in text
    assert "MedicationAdministration/noroute: no route, and the mapping gives no default_route" in text
    assert "MedicationAdministration/badunit: dosage.dose: unknown amount unit 'mL'" in text


def test_request_and_infusion_become_a_regimen(tmp_path: Path) -> None:
    mapping = read_mapping(THEO / "mapping.yaml")
    path = _write(
        tmp_path / "m.json",
        fx.bundle(
            fx.patient("p1"),
            fx.request("r1", "p1", "2024-01-01T08:00:00Z", "2024-01-08T08:00:00Z", 300.0, every_h=12),
            fx.administration("iv1", "p1", "2024-01-10T08:00:00Z", 500.0, route=fx.IV, rate_mg_h=1000.0),
            fx.administration("skip", "p1", "2024-01-11T08:00:00Z", 500.0, status="not-done"),
            fx.administration("other", "p1", "2024-01-11T08:00:00Z", 5.0, drug="caffeine"),
        ),
    )
    records = read_fhir(path)
    mapping = mapping.model_copy(update={"medication_sources": ("MedicationAdministration", "MedicationRequest")})
    events = extract_doses(records, mapping)["p1"]
    records.raise_if_errors()
    reg = regimen_from_events(events, t0=events[0].start, mapping=mapping)
    adm = reg.administrations()
    assert len(adm) == 15  # 7 days twice daily, strictly before the end, plus the infusion
    assert adm[13].time == pytest.approx(156.0)
    iv = adm[14]
    assert (iv.route, iv.target, iv.time, iv.duration) == (Route.IV_INFUSION, "A", 216.0, 0.5)
    why = {f.resource: f.kind for f in records.skipped()}
    assert why == {"MedicationAdministration/skip": "status", "MedicationAdministration/other": "unknown-code"}


def test_requests_are_not_doses_by_default(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "m.json",
        fx.bundle(
            fx.patient("p1"), fx.request("r1", "p1", "2024-01-01T08:00:00Z", "2024-01-08T08:00:00Z", 300.0, every_h=12)
        ),
    )
    records = read_fhir(path)
    assert extract_doses(records, read_mapping(THEO / "mapping.yaml")) == {}
    assert [f.kind for f in records.skipped()] == ["not-used"]


def test_mapping_errors_name_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("kind: fhir-mapping\ncovariates:\n  weight_kg:\n    codes: ['29463-7']\n    unit: kg\n")
    with pytest.raises(FhirError, match=r"m.yaml, line 4, field covariates.weight_kg.codes: .*system\|code"):
        read_mapping(bad)
    bad.write_text("kind: fhir-mapping\ncovariates:\n  w:\n    codes: ['http://loinc.org|1']\n    unit: stone\n")
    with pytest.raises(FhirError, match=r"line 5, field covariates.w.unit: unit 'stone'"):
        read_mapping(bad)
    bad.write_text(
        "kind: fhir-mapping\ncovariates:\n  a: {codes: ['s|1'], unit: kg}\n  b: {codes: ['s|1'], unit: kg}\n"
    )
    with pytest.raises(FhirError, match="feeds both covariates.a and covariates.b"):
        read_mapping(bad)
    bad.write_text("covariates: {}\n")
    with pytest.raises(FhirError, match="kind: fhir-mapping"):
        read_mapping(bad)


def test_twin_data_matches_the_hand_written_inputs() -> None:
    data = twin_data(read_fhir(THEO / "record.json"), read_mapping(THEO / "mapping.yaml"))
    assert data.t0 == dt.datetime(2024, 3, 4, 8, tzinfo=dt.UTC)
    expected_times = [2.0, 11.5, 25.5, 35.75, 48.0]
    assert data.observations["time_h"].tolist() == expected_times
    assert data.observations["value"].tolist() == [v for _, v in fx.THEO_LEVELS[1:]]  # ug/mL == mg/L
    assert [f.resource for f in data.skipped if f.kind == "before-t0"] == ["Observation/theo-1-level-0"]
    by_text = Regimen.parse("320 mg po q12h x 4 to A_gut")
    assert [(a.time, a.amount, a.target, a.route) for a in data.regimen.administrations()] == [
        (a.time, a.amount, a.target, a.route) for a in by_text.administrations()
    ]


@pytest.mark.slow
def test_twin_fit_from_fhir_equals_fit_from_csv(tmp_path: Path) -> None:
    """The twin built from the record reproduces the fit from the equivalent CSV + regimen text (1e-9)."""
    from qsp_sbml.loading import load_model
    from qsp_sbml.resources import ONE_COMPARTMENT_ORAL
    from qsp_sbml.trial.n_of_1 import read_patient
    from qsp_sbml.trial.twin import ResidualError, TwinPrior, fit_twin

    data = twin_data(read_fhir(THEO / "record.json"), read_mapping(THEO / "mapping.yaml"))
    patient_csv, history = data.write(tmp_path)
    csv_obs = pd.DataFrame(
        {"time_h": [2.0, 11.5, 25.5, 35.75, 48.0], "output": "C", "value": [7.9, 5.1, 11.6, 7.4, 7.9]}
    )
    hand = tmp_path / "hand.csv"
    csv_obs.to_csv(hand, index=False)
    model = load_model(ONE_COMPARTMENT_ORAL)
    prior = TwinPrior.from_cv({"CL": 2.814, "ka": 1.571}, {"CL": 0.3, "ka": 0.5})
    error = ResidualError(additive=0.5, proportional=0.1)

    def fit(obs: pd.DataFrame, regimen: str) -> np.ndarray:
        times = obs["time_h"].to_numpy()

        def predict(theta: np.ndarray) -> np.ndarray:
            sim = model.simulate(
                np.concatenate([[0.0], times]),
                selections=["C"],
                parameters=dict(zip(prior.names, map(float, theta), strict=True)),
                regimen=regimen,
            )
            return sim["C"].to_numpy()[1:]

        post = fit_twin(predict, obs["value"].to_numpy(), prior, error, n_proposals=20, seed=3, starts=1)
        return post.theta_map

    from_fhir = fit(read_patient(patient_csv), history.read_text().strip())
    from_csv = fit(read_patient(hand), "320 mg po q12h x 4 to A_gut")
    np.testing.assert_allclose(from_fhir, from_csv, rtol=1e-9, atol=0)


def test_cli_cohort_and_twin(tmp_path: Path, run) -> None:
    path = _write(tmp_path / "b.json", fx.bundle(*_two_patients()))
    out = tmp_path / "cov.tsv"
    result = run(
        "fhir",
        "cohort",
        path,
        "--reference-date",
        "2024-01-01",
        "-o",
        out,
        "--genotypes",
        tmp_path / "geno.tsv",
        "--skipped",
        tmp_path / "skipped.tsv",
        "--cohort",
        tmp_path / "c.parquet",
    )
    assert result.exit_code == 0, result.output
    assert "2 patient(s) from 1 file(s); 1 patient(s) skipped" in result.output
    assert "serum_creatinine_mg_dl: no value for 1 patient(s); column left out" in result.output
    from qsp_sbml.pharmacogenomics.table import read_genotypes
    from qsp_sbml.population.cohort import Cohort
    from qsp_sbml.population.covariates import read_covariates

    cov = read_covariates(out)  # the vpop reader accepts the table
    assert cov["subject_id"].tolist() == ["p1", "p2"]
    assert read_genotypes(tmp_path / "geno.tsv").loc["p1", "CYP2D6"] == "*4/*1"
    assert Cohort.read_parquet(tmp_path / "c.parquet").columns["genotypes"] == ("CYP2C19", "CYP2D6")
    skipped = pd.read_csv(tmp_path / "skipped.tsv", sep="\t")
    assert "Observation/p1-bp" in set(skipped["resource"])
    twin_out = tmp_path / "twin"
    result = run("fhir", "twin", THEO / "record.json", "--mapping", THEO / "mapping.yaml", "-o", twin_out)
    assert result.exit_code == 0, result.output
    assert (twin_out / "history.txt").read_text().startswith("320 mg po at 0 h to A_gut")


def test_cli_bad_input_exits_1_and_writes_nothing(tmp_path: Path, run) -> None:
    path = _write(
        tmp_path / "b.json",
        fx.bundle(fx.patient("p1"), fx.observation("heavy", "p1", "29463-7", 900.0, "kg", "2023-01-01")),
    )
    out = tmp_path / "cov.tsv"
    result = run("fhir", "cohort", path, "--reference-date", "2024-01-01", "-o", out, "--skipped", tmp_path / "s.tsv")
    assert result.exit_code == 1
    assert "Observation/heavy: weight_kg = 900 kg" in result.output
    assert not out.exists() and not (tmp_path / "s.tsv").exists()
    result = run("fhir", "twin", path, "--mapping", THEO / "mapping.yaml", "-o", tmp_path / "t")
    assert result.exit_code == 1 and not (tmp_path / "t").exists()


def test_n_of_1_design_reads_the_patient_from_fhir(tmp_path: Path) -> None:
    import yaml

    from qsp_sbml.errors import TrialDesignError
    from qsp_sbml.trial.n_of_1 import validate

    design = validate(yaml.safe_load((THEO / "design.yaml").read_text()), source=THEO / "design.yaml")
    assert design.observations is not None
    assert design.observations["time_h"].tolist() == [2.0, 11.5, 25.5, 35.75, 48.0]

    def key(text: str) -> list[tuple]:
        return [(a.time, a.amount, a.target, a.route) for a in Regimen.parse(text).administrations()]

    assert key(design.history) == key("320 mg po q12h x 4 to A_gut")
    spec = yaml.safe_load((THEO / "design.yaml").read_text())
    spec["history"] = "320 mg po q12h x 4 to A_gut"
    with pytest.raises(TrialDesignError, match="history: the history comes from the FHIR record"):
        validate(spec, source=THEO / "design.yaml")
    del spec["history"]
    spec["synthetic_patient"] = {"truth": {"CL": 2.0, "ka": 1.0}, "seed": 1}
    with pytest.raises(TrialDesignError, match="synthetic_patient: a synthetic patient is a CSV patient file"):
        validate(spec, source=THEO / "design.yaml")
    bad = _write(
        tmp_path / "record.json",
        fx.bundle(
            fx.patient("theo-1"),
            fx.administration("d1", "theo-1", "2024-03-04T08:00:00Z", 320.0),
            fx.observation("lvl", "theo-1", "4049-3", 7.9, "U/L", "2024-03-04T10:00:00Z"),
        ),
    )
    (tmp_path / "mapping.yaml").write_text((THEO / "mapping.yaml").read_text())
    spec = yaml.safe_load((THEO / "design.yaml").read_text())
    spec["model"] = str(THEO / spec["model"])
    with pytest.raises(TrialDesignError, match=r"(?s)patient: .*Observation/lvl: C: cannot convert"):
        validate(spec, source=tmp_path / "design.yaml")
    assert bad.exists()


def _random_cohort(n: int, seed: int) -> list[dict]:
    """``n`` synthetic patients with repeated weights (kg or lb), heights (cm or in), creatinine (mg/dL or umol/L)."""
    rng = np.random.default_rng(seed)
    out: list[dict] = []
    for i in range(n):
        pid = f"r{i:03d}"
        birth = dt.date(1930, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 70)))
        out.append(fx.patient(pid, birth=birth.isoformat(), gender=str(rng.choice(["male", "female"]))))
        for k in range(int(rng.integers(1, 5))):
            when = (
                (dt.datetime(2020, 1, 1, 8, tzinfo=dt.UTC) + dt.timedelta(days=int(rng.integers(0, 5 * 365))))
                .isoformat()
                .replace("+00:00", "Z")
            )
            kg = float(np.round(rng.uniform(45, 120), 1))
            lb = bool(rng.random() < 0.3)
            out.append(
                fx.observation(
                    f"{pid}-w{k}",
                    pid,
                    "29463-7",
                    round(kg / 0.45359237, 2) if lb else kg,
                    "[lb_av]" if lb else "kg",
                    when,
                )
            )
            cm = float(np.round(rng.uniform(150, 195), 1))
            inch = bool(rng.random() < 0.3)
            out.append(
                fx.observation(
                    f"{pid}-h{k}", pid, "8302-2", round(cm / 2.54, 2) if inch else cm, "[in_i]" if inch else "cm", when
                )
            )
            mg = float(np.round(rng.uniform(0.5, 2.0), 2))
            umol = bool(rng.random() < 0.5)
            out.append(
                fx.observation(
                    f"{pid}-s{k}",
                    pid,
                    "14682-9" if umol else "2160-0",
                    round(mg * 88.4, 1) if umol else mg,
                    "umol/L" if umol else "mg/dL",
                    when,
                )
            )
    return out


def _independent_reading(bundle: dict, ref: dt.date) -> pd.DataFrame:
    """The expected covariates, read with json and pandas only (a second path; no qsp_sbml.rwe code)."""
    res = pd.json_normalize([e["resource"] for e in bundle["entry"]])
    pats = res[res["resourceType"] == "Patient"].set_index("id")
    obs = res[res["resourceType"] == "Observation"].copy()
    obs["patient"] = obs["subject.reference"].str.removeprefix("Patient/")
    obs["code"] = [c[0]["code"] for c in obs["code.coding"]]
    obs["when"] = pd.to_datetime(obs["effectiveDateTime"], utc=True)
    factor = {
        "kg": 1.0,
        "[lb_av]": 0.45359237,
        "cm": 1.0,
        "[in_i]": 2.54,
        "mg/dL": 1.0,
        "umol/L": 113.12 * 1e-6 * 1e3 / 10,
    }  # umol/L -> mg/dL: x MW (g/mol) x 1e-6 mol x 1e3 mg / 10 dL
    obs["value"] = obs["valueQuantity.value"] * obs["valueQuantity.code"].map(factor)
    obs["column"] = obs["code"].map(
        {
            "29463-7": "weight_kg",
            "8302-2": "height_cm",
            "2160-0": "serum_creatinine_mg_dl",
            "14682-9": "serum_creatinine_mg_dl",
        }
    )
    obs = obs[obs["when"] < pd.Timestamp(ref + dt.timedelta(days=1), tz="UTC")]
    latest = obs.sort_values("when").groupby(["patient", "column"])["value"].last().unstack()
    out = pd.DataFrame(
        {
            "subject_id": pats.index,
            "age": [(ref - dt.date.fromisoformat(b)).days / 365.2425 for b in pats["birthDate"]],
            "sex": pats["gender"].to_numpy(),
        }
    )
    out = out.join(latest, on="subject_id")
    return out.dropna().reset_index(drop=True)


def test_hundred_patients_match_an_independent_reading(tmp_path: Path) -> None:
    bundle = fx.bundle(*_random_cohort(100, seed=23))
    ref = dt.date(2023, 6, 30)
    got = extract_cohort(
        read_fhir(_write(tmp_path / "b.json", bundle)),
        default_mapping(),
        reference_date=ref,
        required=("age", "sex", "weight_kg", "height_cm", "serum_creatinine_mg_dl"),
    ).covariates
    expected = _independent_reading(bundle, ref)
    assert 50 < len(expected) < 100  # some patients have no result before the reference date
    got = got.set_index("subject_id").loc[expected["subject_id"]].reset_index()
    assert list(got["subject_id"]) == list(expected["subject_id"])
    assert list(got["sex"]) == list(expected["sex"])
    for column in ("age", "weight_kg", "height_cm", "serum_creatinine_mg_dl"):
        np.testing.assert_allclose(
            got[column].to_numpy(dtype=float), expected[column].to_numpy(dtype=float), rtol=1e-12, err_msg=column
        )


def test_statement_and_medication_reference(tmp_path: Path) -> None:
    mapping = read_mapping(THEO / "mapping.yaml").model_copy(update={"medication_sources": ("MedicationStatement",)})
    med = {
        "resourceType": "Medication",
        "id": "theo",
        "code": {"coding": [{"system": fx.DRUGS, "code": "theophylline"}]},
    }
    statement = {
        "resourceType": "MedicationStatement",
        "id": "s1",
        "status": "completed",
        "medicationReference": {"reference": "Medication/theo"},
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {"start": "2024-01-01T08:00:00Z"},
        "dosage": [
            {
                "route": {"coding": [{"system": fx.SNOMED, "code": fx.ORAL}]},
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d", "count": 6}},
                "doseAndRate": [{"doseQuantity": {"value": 200, "unit": "mg", "system": fx.UCUM, "code": "mg"}}],
            }
        ],
    }
    prn = {**statement, "id": "s2", "dosage": [{**statement["dosage"][0], "asNeededBoolean": True}]}
    records = read_fhir(_write(tmp_path / "s.json", fx.bundle(fx.patient("p1"), med, statement)))
    events = extract_doses(records, mapping)["p1"]
    records.raise_if_errors()
    reg = regimen_from_events(events, t0=events[0].start, mapping=mapping)
    assert [a.time for a in reg.administrations()] == [0.0, 12.0, 24.0, 36.0, 48.0, 60.0]
    assert {a.target for a in reg.administrations()} == {"A_gut"}
    records = read_fhir(_write(tmp_path / "p.json", fx.bundle(fx.patient("p1"), med, prn)))
    extract_doses(records, mapping)
    assert (
        "MedicationStatement/s2: an as-needed dosage does not say when doses were taken" in records.errors()[0].format()
    )


def test_censored_local_units_and_impossible_age(tmp_path: Path) -> None:
    censored = fx.observation("bloq", "p1", "2160-0", 0.2, "mg/dL", "2023-01-01T08:00:00Z")
    censored["valueQuantity"]["comparator"] = "<"
    local = fx.observation("w", "p1", "29463-7", 70.0, "kg", "2023-01-01T08:00:00Z")
    local["valueQuantity"].update({"system": "http://example.org/local-units", "code": "KILO"})
    path = _write(
        tmp_path / "b.json",
        fx.bundle(
            fx.patient("p1"), censored, local, fx.observation("h", "p1", "8302-2", 170.0, "cm", "2023-01-01T08:00:00Z")
        ),
    )
    res = extract_cohort(read_fhir(path), default_mapping(), reference_date=REF, drop_incomplete=False)
    assert res.covariates.loc[0, "weight_kg"] == 70.0  # the unit text, not the local code
    assert ("Observation/bloq", "censored") in {(f.resource, f.kind) for f in res.skipped}
    old = _write(tmp_path / "old.json", fx.bundle(fx.patient("p9", birth="1890-01-01")))
    with pytest.raises(FhirError, match=r"Patient/p9: age 134.0 years .* is outside 0-120"):
        extract_cohort(read_fhir(old), default_mapping(), reference_date=REF)


def test_validate_reads_a_mapping(tmp_path: Path, run) -> None:
    assert run("validate", THEO / "mapping.yaml").exit_code == 0
    bad = tmp_path / "m.yaml"
    bad.write_text("kind: fhir-mapping\ncovariates:\n  w: {codes: ['x'], unit: kg}\n")
    result = run("validate", bad)
    assert result.exit_code == 1
    assert "line 3, field covariates.w.codes: a code must be written 'system|code'" in result.output


def test_cohort_leaves_out_the_dead_and_lists_every_resource(tmp_path: Path) -> None:
    """A patient who died on or before the reference date is not in a cohort at that date; a death after it
    does not matter; a death without a date (or with a partial one) skips the patient.  The skipped patient's
    results, dosing records, and results of a column left out are listed, each with its reason."""
    resources = []
    for pid, deceased in (
        ("alive", None),
        ("died-before", {"deceasedDateTime": "2023-12-31T23:00:00Z"}),
        ("died-on", {"deceasedDateTime": "2024-01-01"}),
        ("died-after", {"deceasedDateTime": "2024-01-02T00:00:00Z"}),
        ("died-when", {"deceasedBoolean": True}),
        ("died-partial", {"deceasedDateTime": "2023"}),
    ):
        resources += [
            {**fx.patient(pid), **(deceased or {})},
            fx.observation(f"{pid}-wt", pid, "29463-7", 70.0, "kg", "2023-06-01T09:00:00Z"),
            fx.observation(f"{pid}-ht", pid, "8302-2", 170.0, "cm", "2023-06-01T09:00:00Z"),
        ]
    resources.append(fx.observation("alive-alb", "alive", "1751-7", 4.0, "g/dL", "2023-06-01T09:00:00Z"))
    resources.append(
        {
            "resourceType": "MedicationRequest",
            "id": "mr-1",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "theophylline"},
            "subject": {"reference": "Patient/alive"},
        }
    )
    path = _write(tmp_path / "b.json", fx.bundle(*resources))
    records = read_fhir(path)
    res = extract_cohort(records, default_mapping(), reference_date=REF)
    assert list(res.covariates["subject_id"]) == ["alive", "died-after"]
    why = {}
    for f in res.skipped:
        why.setdefault(f.resource, []).append((f.kind, f.message))
    assert "died 2023-12-31" in why["Patient/died-before"][0][1]
    assert "died 2024-01-01" in why["Patient/died-on"][0][1]
    assert "deceasedBoolean" in why["Patient/died-when"][0][1]
    assert "partial" in why["Patient/died-partial"][0][1]
    assert why["Observation/died-on-wt"] == [("patient-skipped", "weight_kg of Patient/died-on, which is skipped")]
    assert why["MedicationRequest/mr-1"][0][0] == "not-used"
    assert why["Observation/alive-alb"][0][0] == "column-left-out"  # died-after has no albumin
    used = {
        "Patient/alive",
        "Patient/died-after",
        *(f"Observation/{p}-{c}" for p in ("alive", "died-after") for c in ("wt", "ht")),
    }
    assert used.isdisjoint(why)
    assert used | set(why) == {f"{r['resourceType']}/{r['id']}" for r in resources}
