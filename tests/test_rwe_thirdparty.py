"""qsp_sbml.rwe on third-party FHIR R4 data: 100 Synthea patients no one here wrote (issue 23, acceptance 1).

The bundles are SMART on FHIR's Synthea v2.4.0 R4 sample patients (smart-on-fhir/generated-sample-data,
``R4/SYNTHEA``), reduced to the entries read here by ``tests/data/fhir_thirdparty_subset.py``; sources,
commit and licence in ``tests/data/fhir_thirdparty/SOURCES.md``.  The subset is the first bundles in path
order up to the one that makes 100 patients whose covariates are extracted (118 bundles: the 18 others
died before the reference date and test the skip path).

The covariates our reader extracts are compared with a second, independent reading of the same files:
plain ``json`` and ``pandas``, with its own code table, its own unit factors (UCUM definitions, below) and
its own "latest result on or before the reference date" rule.  Tolerance: relative 1e-12 (both paths
multiply the same recorded number by one factor; only rounding of that product can differ).  Every
resource in the files is then accounted for: in the table, or listed as skipped with the reason the
independent reading expects, and no error.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("fhir.resources.R4B")

from qsp_sbml.errors import FhirError
from qsp_sbml.rwe import CohortExtraction, FhirRecords, default_mapping, extract_cohort, read_fhir, read_mapping

DATA = Path(__file__).resolve().parent / "data" / "fhir_thirdparty"
BUNDLES = DATA / "bundles"
#: The reference date: the sample's dates run to 2021-05 (shifted two years ahead by SMART in 2021), so
#: some results fall after it and some patients were not yet born or had died.
REF = dt.date(2021, 1, 1)
LOINC = "http://loinc.org"
#: The independent code table: LOINC code -> (column, unit asked for), as tests/data/fhir_thirdparty/mapping.yaml.
CODES = {
    "29463-7": ("weight_kg", "kg"),
    "8302-2": ("height_m", "m"),
    "2160-0": ("serum_creatinine_mg_dl", "mg/dL"),
    "14682-9": ("serum_creatinine_mg_dl", "mg/dL"),
    "1751-7": ("albumin_g_l", "g/L"),
    "1975-2": ("bilirubin_umol_l", "umol/L"),
    "1742-6": ("alt_u_l", "U/L"),
    "1920-8": ("ast_u_l", "U/L"),
}
#: Synthea's creatinine, "Creatinine [Mass/volume] in Blood" (read only by the conflict test).
BLOOD_CREATININE = "38483-4"
#: (LOINC code, recorded UCUM unit, unit asked for) -> factor.  UCUM (ucum.org): [lb_av] = 0.45359237 kg,
#: [in_i] = 2.54 cm exactly, m = 100 cm, dL = 0.1 L.  Mass -> amount concentration through the molar mass:
#: 1 mg/dL = 10 mg/L = 10/M mmol/L = 10000/M umol/L, bilirubin M = 584.66 g/mol (PubChem CID 5280352),
#: creatinine M = 113.12 g/mol (PubChem CID 588).  A unit not listed fails the test.
FACTORS = {
    ("29463-7", "kg", "kg"): 1.0,
    ("29463-7", "[lb_av]", "kg"): 0.45359237,
    ("8302-2", "cm", "m"): 0.01,
    ("8302-2", "[in_i]", "m"): 0.0254,
    ("2160-0", "mg/dL", "mg/dL"): 1.0,
    ("1751-7", "g/dL", "g/L"): 10.0,
    ("1975-2", "mg/dL", "umol/L"): 10000.0 / 584.66,
    ("1742-6", "U/L", "U/L"): 1.0,
    ("1920-8", "U/L", "U/L"): 1.0,
    (BLOOD_CREATININE, "mg/dL", "umol/L"): 10000.0 / 113.12,
}
USED_STATUS = {"final", "amended", "corrected"}
REQUIRED = ("weight_kg", "height_m")
#: Patients whose covariates are extracted (issue 23: "for 100 patients"), and bundles in the subset.
N_EXTRACTED, N_BUNDLES = 100, 118
COLUMNS = ("weight_kg", "height_m", "serum_creatinine_mg_dl", "albumin_g_l", "bilirubin_umol_l", "alt_u_l", "ast_u_l")


def _instant(text: str) -> dt.datetime:
    """A FHIR dateTime as a UTC-aware datetime (a date alone is its midnight UTC)."""
    if len(text) == 10:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _independent(codes: dict[str, tuple[str, str]] = CODES) -> dict[str, object]:
    """The second reading: plain json over the bundles, pandas for the latest result per patient and column."""
    entries = []
    for file in sorted(BUNDLES.glob("*.json")):
        bundle = json.loads(file.read_text(encoding="utf-8"))
        assert bundle["resourceType"] == "Bundle"
        entries += [(file.name, e) for e in bundle["entry"]]
    by_url = {e["fullUrl"]: e["resource"] for _, e in entries}
    kinds = Counter(e["resource"]["resourceType"] for _, e in entries)
    patients = {e["resource"]["id"]: e["resource"] for _, e in entries if e["resource"]["resourceType"] == "Patient"}
    until = dt.datetime.combine(REF + dt.timedelta(days=1), dt.time(), dt.UTC)
    rows, unknown, not_used = [], set(), set()
    for _, e in entries:
        r = e["resource"]
        key = f"{r['resourceType']}/{r['id']}"
        if r["resourceType"].startswith("Medication"):
            not_used.add(key)
            continue
        if r["resourceType"] != "Observation":
            continue
        known = [c["code"] for c in r["code"]["coding"] if c["system"] == LOINC and c["code"] in codes]
        if not known:
            unknown.add(key)
            continue
        assert r["status"] in USED_STATUS, key
        column, unit = codes[known[0]]
        q = r["valueQuantity"]
        assert q["system"] == "http://unitsofmeasure.org", key
        subject = by_url.get(r["subject"]["reference"]) or patients[r["subject"]["reference"].split("/")[-1]]
        rows.append(
            {
                "key": key,
                "patient": subject["id"],
                "column": column,
                "time": _instant(r["effectiveDateTime"]),
                "value": q["value"] * FACTORS[(known[0], q["code"], unit)],
            }
        )
    obs = pd.DataFrame(rows)
    same_time = obs[obs.duplicated(["patient", "column", "time"], keep=False)]
    conflicts = {
        tuple(sorted(g["key"])) for _, g in same_time.groupby(["patient", "column", "time"]) if g["value"].nunique() > 1
    }
    after = set(obs.loc[obs["time"] >= until, "key"])
    before = obs[obs["time"] < until].sort_values(["patient", "column", "time"])
    latest = before.groupby(["patient", "column"]).tail(1)
    superseded = set(before["key"]) - set(latest["key"])
    table = latest.pivot(index="patient", columns="column", values="value").reindex(columns=list(COLUMNS))
    cells = latest.set_index(["patient", "column"])["key"].to_dict()
    expected, left_out = {}, {}
    for pid, p in patients.items():
        birth = dt.date.fromisoformat(p["birthDate"])
        died = _instant(p["deceasedDateTime"]) if "deceasedDateTime" in p else None
        row = table.loc[pid] if pid in table.index else pd.Series(index=list(COLUMNS), dtype=float)
        if birth > REF:
            left_out[pid] = "after the reference date"
        elif died is not None and died < until:
            left_out[pid] = "died"
        elif any(pd.isna(row[c]) for c in REQUIRED):
            left_out[pid] = "no " + ", ".join(c for c in REQUIRED if pd.isna(row[c]))
        else:
            expected[pid] = {"age": (REF - birth).days / 365.2425, "sex": p["gender"], **row.to_dict()}
    return {
        "conflicts": conflicts,
        "kinds": kinds,
        "expected": expected,
        "left_out": left_out,
        "unknown": unknown,
        "not_used": not_used,
        "after": after,
        "superseded": superseded,
        "cells": cells,
        "keys": {f"{e['resource']['resourceType']}/{e['resource']['id']}" for _, e in entries},
    }


@pytest.fixture(scope="module")
def independent() -> dict[str, object]:
    return _independent()


@pytest.fixture(scope="module")
def read() -> FhirRecords:
    return read_fhir(BUNDLES)


def _fresh(records: FhirRecords) -> FhirRecords:
    """The same resources with the reader's own findings only (an extraction adds its findings)."""
    return FhirRecords(resources=records.resources, findings=list(records.findings), files=records.files)


@pytest.fixture(scope="module")
def ours(read: FhirRecords) -> tuple[FhirRecords, CohortExtraction]:
    records = _fresh(read)
    mapping = read_mapping(DATA / "mapping.yaml")
    return records, extract_cohort(
        records, mapping, reference_date=REF, required=("age", "sex", *REQUIRED), drop_incomplete=False
    )


def test_the_data_is_third_party_synthea_r4() -> None:
    files = sorted(BUNDLES.glob("*.json"))
    assert len(files) == N_BUNDLES
    manifest = pd.read_csv(DATA / "manifest.tsv", sep="\t")
    assert sorted(manifest["file"]) == [f.name for f in files]
    # the subset rule: source paths in order, taken up to (and including) the 100th patient extracted
    assert list(manifest["source_path"]) == sorted(manifest["source_path"])
    assert (manifest["subset_reading"] == "extracted").sum() == N_EXTRACTED
    assert manifest["subset_reading"].iloc[-1] == "extracted"
    first = json.loads(files[0].read_text(encoding="utf-8"))
    patient = next(e["resource"] for e in first["entry"] if e["resource"]["resourceType"] == "Patient")
    assert "Synthea" in patient["text"]["div"] and "v2.4.0" in patient["text"]["div"]
    assert (DATA / "SOURCES.md").is_file()


def test_covariates_match_an_independent_reading(ours, independent) -> None:  # type: ignore[no-untyped-def]
    records, ex = ours
    assert records.errors() == []
    assert sum(independent["kinds"].values()) > 3000
    expected = independent["expected"]
    cov = ex.covariates.set_index("subject_id")
    assert sorted(cov.index) == sorted(expected)
    assert len(expected) == N_EXTRACTED
    assert len(expected) + len(independent["left_out"]) == N_BUNDLES
    # the subset script's own reading (which chose the bundles) agrees with this one
    manifest = pd.read_csv(DATA / "manifest.tsv", sep="\t")
    chosen = {f.removesuffix(".json") for f in manifest.loc[manifest["subset_reading"] == "extracted", "file"]}
    assert chosen == set(expected)
    compared = Counter()
    for pid, want in expected.items():
        got = cov.loc[pid]
        assert got["sex"] == want["sex"], pid
        assert got["age"] == pytest.approx(want["age"], rel=1e-12, abs=0.0), pid
        for column in COLUMNS:
            if pd.isna(want[column]):
                assert math.isnan(got[column]), (pid, column)
            else:
                assert got[column] == pytest.approx(want[column], rel=1e-12, abs=0.0), (pid, column)
                compared[column] += 1
    # the check is not empty: every patient kept has weight and height, and the laboratory columns have values
    assert compared["weight_kg"] == compared["height_m"] == len(expected)
    for column in ("albumin_g_l", "bilirubin_umol_l", "alt_u_l", "ast_u_l"):
        assert compared[column] >= 5, column
    assert compared["serum_creatinine_mg_dl"] == 0  # Synthea 2.4 writes creatinine in blood (38483-4) only
    assert independent["conflicts"] == set()
    skipped = {f.resource: f for f in ex.skipped if f.kind == "patient-skipped" and f.resource.startswith("Patient/")}
    assert set(skipped) == {f"Patient/{p}" for p in independent["left_out"]}
    for pid, why in independent["left_out"].items():
        assert why in skipped[f"Patient/{pid}"].message, (pid, skipped[f"Patient/{pid}"].message)


def test_every_resource_is_used_or_listed_with_its_reason(read, ours, independent) -> None:  # type: ignore[no-untyped-def]
    # read = validated + listed as not read (other types) + errors; the subset holds read types only
    assert len(read.resources) + len(read.findings) == sum(independent["kinds"].values())
    assert Counter(r.type for r in read.resources) == independent["kinds"]
    _, ex = ours
    reasons: dict[str, set[str]] = {}
    for f in ex.skipped:
        reasons.setdefault(f.resource, set()).add(f.kind)
    kept = set(independent["expected"])
    used = {f"Patient/{p}" for p in kept} | {k for (p, _), k in independent["cells"].items() if p in kept}
    assert used.isdisjoint(reasons), sorted(used & set(reasons))[:5]
    assert used | set(reasons) == independent["keys"]
    want = dict.fromkeys(independent["unknown"], "unknown-code")
    want |= dict.fromkeys(independent["not_used"], "not-used")
    want |= dict.fromkeys(independent["after"], "after-reference")
    want |= dict.fromkeys(independent["superseded"], "superseded")
    want |= {k: "patient-skipped" for (p, _), k in independent["cells"].items() if p not in kept}
    want |= {f"Patient/{p}": "patient-skipped" for p in independent["left_out"]}
    assert all(len(v) == 1 for v in reasons.values()), [k for k, v in reasons.items() if len(v) > 1][:5]
    assert {k: v.pop() for k, v in reasons.items()} == want
    assert all(f.message for f in ex.skipped)


def test_columns_left_out_are_listed_per_result(read, independent) -> None:  # type: ignore[no-untyped-def]
    """With the default ``drop_incomplete``, the results of a column left out are listed, not lost."""
    mapping = read_mapping(DATA / "mapping.yaml")
    ex = extract_cohort(_fresh(read), mapping, reference_date=REF, required=("age", "sex", *REQUIRED))
    assert list(ex.covariates.columns) == ["subject_id", "age", "sex", "weight_kg", "height_m"]
    kept = set(independent["expected"])
    want = {k for (p, c), k in independent["cells"].items() if p in kept and c not in REQUIRED}
    assert want
    assert {f.resource for f in ex.skipped if f.kind == "column-left-out"} == want


def test_default_mapping_gives_the_same_cohort_in_its_units(read, independent) -> None:  # type: ignore[no-untyped-def]
    ex = extract_cohort(_fresh(read), default_mapping(), reference_date=REF, drop_incomplete=False)
    cov = ex.covariates.set_index("subject_id")
    assert sorted(cov.index) == sorted(independent["expected"])
    for pid, want in independent["expected"].items():
        assert cov.loc[pid, "height_cm"] == pytest.approx(100.0 * want["height_m"], rel=1e-12), pid
        for ours_, theirs, factor in (
            ("albumin_g_dl", "albumin_g_l", 0.1),
            ("bilirubin_mg_dl", "bilirubin_umol_l", 584.66e-4),
        ):
            if pd.isna(want[theirs]):
                assert math.isnan(cov.loc[pid, ours_])
            else:
                assert cov.loc[pid, ours_] == pytest.approx(factor * want[theirs], rel=1e-12), (pid, ours_)
    unknown = {f.resource for f in ex.skipped if f.kind == "unknown-code"}
    blood = set(_independent({**CODES, BLOOD_CREATININE: ("blood_creatinine_umol_l", "umol/L")})["cells"].values())
    blood -= set(independent["cells"].values())
    assert blood and blood <= unknown  # Synthea's blood creatinine is listed: the default reads serum/plasma only


def test_conflicting_results_are_reported_not_chosen(read, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Synthea 2.4 writes some creatinine results twice at one instant with different values (two panels of
    one encounter): a column reading them refuses the input and names both results of each pair."""
    codes = {**CODES, BLOOD_CREATININE: ("blood_creatinine_umol_l", "umol/L")}
    conflicts = _independent(codes)["conflicts"]
    assert len(conflicts) >= 1
    text = (DATA / "mapping.yaml").read_text(encoding="utf-8") + (
        "  blood_creatinine_umol_l:\n"
        f'    codes: ["{LOINC}|{BLOOD_CREATININE}"]\n'
        "    unit: umol/L\n"
        "    molecular_weight: 113.12\n"
        "    range: [4.4, 2210.0]\n"
    )
    (tmp_path / "mapping.yaml").write_text(text, encoding="utf-8")
    mapping = read_mapping(tmp_path / "mapping.yaml")
    with pytest.raises(FhirError) as err:
        extract_cohort(_fresh(read), mapping, reference_date=REF, required=("age", "sex", *REQUIRED))
    found = {f.resource: f.message for f in err.value.findings}
    assert {f.kind for f in err.value.findings} == {"conflict"}
    assert len(found) == len(conflicts)
    for pair in conflicts:
        reported = [k for k in pair if k in found]
        assert len(reported) == 1, pair
        other = next(k for k in pair if k != reported[0])
        assert other in found[reported[0]]


def test_cli_cohort_writes_the_same_table(run, independent, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``qsp-sbml fhir cohort`` (default mapping) on the folder: the same patients and values, every
    resource in the table or in the skipped list."""
    out, skipped_out = tmp_path / "cov.tsv", tmp_path / "skipped.tsv"
    result = run("fhir", "cohort", BUNDLES, "--reference-date", str(REF), "-o", out, "--skipped", skipped_out)
    assert result.exit_code == 0, result.output
    assert "100 patient(s) from 118 file(s); 18 patient(s) skipped" in result.output
    cov = pd.read_csv(out, sep="\t").set_index("subject_id")
    assert list(cov.columns) == ["age", "sex", "weight_kg", "height_cm"]
    assert sorted(cov.index) == sorted(independent["expected"])
    for pid, want in independent["expected"].items():
        assert cov.loc[pid, "sex"] == want["sex"]
        assert cov.loc[pid, "age"] == pytest.approx(want["age"], rel=1e-12)
        assert cov.loc[pid, "weight_kg"] == pytest.approx(want["weight_kg"], rel=1e-12)
        assert cov.loc[pid, "height_cm"] == pytest.approx(100.0 * want["height_m"], rel=1e-12)
    listed = set(pd.read_csv(skipped_out, sep="\t")["resource"])
    in_table = {f"Patient/{p}" for p in cov.index} | {
        k for (p, c), k in independent["cells"].items() if p in cov.index and c in REQUIRED
    }
    assert in_table.isdisjoint(listed)
    assert in_table | listed == independent["keys"]
