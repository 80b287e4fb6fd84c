"""Rebuild tests/data/fhir_thirdparty/ from SMART on FHIR's Synthea R4 sample bundles (third-party data).

Source: https://github.com/smart-on-fhir/generated-sample-data, folder ``R4/SYNTHEA`` (Synthea v2.4.0 FHIR R4
transaction bundles, one per patient; Apache-2.0, see tests/data/fhir_thirdparty/SOURCES.md).  Give a local
clone (or bare git directory) of that repository::

    git clone https://github.com/smart-on-fhir/generated-sample-data /tmp/gsd
    python tests/data/fhir_thirdparty_subset.py /tmp/gsd

The bundles of ``R4/SYNTHEA`` at commit ``COMMIT`` whose blob the given copy holds are taken in path
order until ``N_EXTRACTED`` of them hold a patient whose covariates are extracted at ``REFERENCE_DATE``
(the test's reference date); every bundle before that point whose patient is left out (dead, not yet
born, or without a weight or a height on or before that date) is kept too, so the test compares the
covariates of 100 patients and also exercises the skip path.  Which patients are extracted is decided
here by this script's own reading of the bundle (plain ``json``: ``_left_out``), not by the package's
reader; the test checks the package against a third reading and checks that this one agrees.  The copy
this was first run on, a partial mirror, lacked 14 of the largest blobs; the bundles not available are
printed and listed in SOURCES.md; with ``--manifest tests/data/fhir_thirdparty/manifest.tsv`` a full
clone gives the same selection.  They are reduced to the entries the test reads; every kept entry
(``fullUrl``, ``resource``, ``request``) is copied unchanged (only the JSON whitespace is compacted).
Kept: the Patient, every MedicationRequest and Medication, and the Observations whose LOINC code is in
``KEEP_LOINC`` (the default mapping's covariate codes, Synthea's blood creatinine, and sodium and eGFR as
results the mapping does not read).  Each bundle is written as ``bundles/<Patient.id>.json``, and
``manifest.tsv`` lists the source path and blob of each and this script's reading of its patient
(``extracted``, or why the patient is left out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

COMMIT = "25ac8089f0464b8673c7669509dc0bb8f4883773"
FOLDER = "R4/SYNTHEA/"
#: Bundles are taken until this many patients are extracted (issue 23: "covariates extracted for 100 patients").
N_EXTRACTED = 100
#: The reference date of tests/test_rwe_thirdparty.py (``REF``).
REFERENCE_DATE = dt.date(2021, 1, 1)
#: The covariates the test requires: LOINC body weight and body height.
REQUIRED_LOINC = {"29463-7": "weight", "8302-2": "height"}
#: Observation statuses whose results are used (as the reader's).
USED_STATUS = ("final", "amended", "corrected")
KEEP_TYPES = ("Patient", "MedicationRequest", "Medication")
KEEP_LOINC = (
    "29463-7",  # Body weight
    "8302-2",  # Body height
    "2160-0",  # Creatinine [Mass/volume] in Serum or Plasma
    "14682-9",  # Creatinine [Moles/volume] in Serum or Plasma
    "38483-4",  # Creatinine [Mass/volume] in Blood (Synthea's metabolic panel)
    "1751-7",  # Albumin [Mass/volume] in Serum or Plasma
    "1975-2",  # Bilirubin.total [Mass/volume] in Serum or Plasma
    "1742-6",  # Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma
    "1920-8",  # Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma
    "2947-0",  # Sodium [Moles/volume] in Blood (not read by the default mapping)
    "33914-3",  # Glomerular filtration rate/1.73 sq M.predicted (not read by the default mapping)
)
OUT = Path(__file__).resolve().parent / "fhir_thirdparty"
GIT = shutil.which("git") or "git"


def _git(repo: str, *args: str) -> bytes:
    return subprocess.run([GIT, "-C", repo, *args], check=True, capture_output=True).stdout


def _keep(resource: dict) -> bool:
    kind = resource.get("resourceType")
    if kind in KEEP_TYPES:
        return True
    if kind != "Observation":
        return False
    codings = (resource.get("code") or {}).get("coding") or []
    return any(c.get("system") == "http://loinc.org" and c.get("code") in KEEP_LOINC for c in codings)


def _instant(text: str) -> dt.datetime:
    """A FHIR date or dateTime as a UTC-aware datetime (a date alone is its midnight UTC)."""
    if len(text) == 10:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _left_out(resources: list[dict]) -> str | None:
    """Why the bundle's patient gives no covariates at ``REFERENCE_DATE`` (None: extracted).

    Left out: gender other than male/female, no full birth date or one after the reference date, dead on or
    before that day (a death without a date counts), or no weight or no height result (LOINC, used status)
    on or before that day.
    """
    until = dt.datetime.combine(REFERENCE_DATE + dt.timedelta(days=1), dt.time(), dt.UTC)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    if patient.get("gender") not in ("male", "female"):
        return "gender neither male nor female"
    birth = patient.get("birthDate", "")
    if len(birth) != 10:
        return "no full birth date"
    if dt.date.fromisoformat(birth) > REFERENCE_DATE:
        return "born after the reference date"
    if patient.get("deceasedBoolean") is True:
        return "died (no date)"
    death = patient.get("deceasedDateTime")
    if death is not None and (len(death) < 10 or _instant(death) < until):
        return "died before the reference date"
    seen = set()
    for r in resources:
        if r["resourceType"] != "Observation" or r.get("status") not in USED_STATUS:
            continue
        when = r.get("effectiveDateTime")
        if "valueQuantity" not in r or when is None or _instant(when) >= until:
            continue
        codes = {c.get("code") for c in r["code"].get("coding", []) if c.get("system") == "http://loinc.org"}
        seen |= {REQUIRED_LOINC[c] for c in codes if c in REQUIRED_LOINC}
    missing = [name for name in REQUIRED_LOINC.values() if name not in seen]
    return "no " + " and no ".join(missing) if missing else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", help="clone or git directory of smart-on-fhir/generated-sample-data")
    parser.add_argument("--manifest", help="take exactly the source paths listed in this manifest.tsv")
    args = parser.parse_args(argv)
    listing = _git(args.repo, "ls-tree", "-r", "-z", COMMIT, FOLDER).decode("utf-8").split("\0")
    rows = sorted((line.split("\t", 1)[1], line.split("\t", 1)[0].split()[2]) for line in listing if line)
    if args.manifest:
        wanted = {line.split("\t")[1] for line in Path(args.manifest).read_text("utf-8").splitlines()[1:] if line}
        rows = [r for r in rows if r[0] in wanted]
    available, missing = [], []
    for path, blob in rows:
        if subprocess.run([GIT, "-C", args.repo, "cat-file", "-e", blob], capture_output=True).returncode == 0:
            available.append((path, blob))
        else:
            missing.append((path, blob))
    out = OUT / "bundles"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json"):
        old.unlink()
    manifest = ["file\tsource_path\tsource_blob\tentries_kept\tentries_total\tsubset_reading"]
    extracted = 0
    for path, blob in available:
        if extracted == N_EXTRACTED:
            break
        bundle = json.loads(_git(args.repo, "cat-file", "blob", blob))
        entries = bundle["entry"]
        kept = [e for e in entries if _keep(e["resource"])]
        patients = [e["resource"]["id"] for e in kept if e["resource"]["resourceType"] == "Patient"]
        if len(patients) != 1:
            print(f"{path}: {len(patients)} Patient resources, expected 1", file=sys.stderr)
            return 1
        why = _left_out([e["resource"] for e in entries])
        extracted += why is None
        reduced = {**bundle, "entry": kept}
        name = f"{patients[0]}.json"
        (out / name).write_text(json.dumps(reduced, ensure_ascii=False, separators=(",", ":")) + "\n", "utf-8")
        manifest.append(f"{name}\t{path}\t{blob}\t{len(kept)}\t{len(entries)}\t{why or 'extracted'}")
    if extracted < N_EXTRACTED:
        print(f"only {extracted} patients extracted from {len(manifest) - 1} bundles", file=sys.stderr)
        return 1
    last = available[len(manifest) - 2][0]
    for path, blob in missing:
        if path < last:
            print(f"not available in this copy: {path} (blob {blob})", file=sys.stderr)
    (OUT / "manifest.tsv").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    print(f"{len(manifest) - 1} bundles written to {out} ({extracted} patients extracted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
