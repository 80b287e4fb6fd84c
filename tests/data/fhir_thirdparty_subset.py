"""Rebuild tests/data/fhir_thirdparty/ from SMART on FHIR's Synthea R4 sample bundles (third-party data).

Source: https://github.com/smart-on-fhir/generated-sample-data, folder ``R4/SYNTHEA`` (Synthea v2.4.0 FHIR R4
transaction bundles, one per patient; Apache-2.0, see tests/data/fhir_thirdparty/SOURCES.md).  Give a local
clone (or bare git directory) of that repository::

    git clone https://github.com/smart-on-fhir/generated-sample-data /tmp/gsd
    python tests/data/fhir_thirdparty_subset.py /tmp/gsd

The first 100 bundles of ``R4/SYNTHEA`` at commit ``COMMIT`` in path order whose blob the given copy
holds are taken (the copy this was first run on, a partial mirror, lacked 14 of the largest blobs; the
bundles not available are printed and listed in SOURCES.md; with ``--manifest
tests/data/fhir_thirdparty/manifest.tsv`` a full clone gives the same selection).  They are reduced to the
entries the test reads; every kept entry (``fullUrl``, ``resource``, ``request``) is copied unchanged (only
the JSON whitespace is compacted).  Kept: the Patient, every MedicationRequest and Medication, and the
Observations whose LOINC code is in ``KEEP_LOINC`` (the default mapping's covariate codes, Synthea's
blood creatinine, and sodium and eGFR as results the mapping does not read).  Each bundle is written as
``bundles/<Patient.id>.json``, and ``manifest.tsv`` lists the source path and blob of each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

COMMIT = "25ac8089f0464b8673c7669509dc0bb8f4883773"
FOLDER = "R4/SYNTHEA/"
N_PATIENTS = 100
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
    available = []
    for path, blob in rows:
        if subprocess.run([GIT, "-C", args.repo, "cat-file", "-e", blob], capture_output=True).returncode == 0:
            available.append((path, blob))
        elif len(available) < N_PATIENTS:
            print(f"not available in this copy: {path} (blob {blob})", file=sys.stderr)
    out = OUT / "bundles"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json"):
        old.unlink()
    manifest = ["file\tsource_path\tsource_blob\tentries_kept\tentries_total"]
    for path, blob in available[:N_PATIENTS]:
        bundle = json.loads(_git(args.repo, "cat-file", "blob", blob))
        entries = bundle["entry"]
        kept = [e for e in entries if _keep(e["resource"])]
        patients = [e["resource"]["id"] for e in kept if e["resource"]["resourceType"] == "Patient"]
        if len(patients) != 1:
            print(f"{path}: {len(patients)} Patient resources, expected 1", file=sys.stderr)
            return 1
        reduced = {**bundle, "entry": kept}
        name = f"{patients[0]}.json"
        (out / name).write_text(json.dumps(reduced, ensure_ascii=False, separators=(",", ":")) + "\n", "utf-8")
        manifest.append(f"{name}\t{path}\t{blob}\t{len(kept)}\t{len(entries)}")
    (OUT / "manifest.tsv").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    print(f"{len(manifest) - 1} bundles written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
