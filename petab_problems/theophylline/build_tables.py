"""Regenerate the PEtab tables of this folder from ``theoph_source.csv``.

Run from anywhere: ``python petab_problems/theophylline/build_tables.py``.
The source file holds R's ``datasets::Theoph`` as read (see README.md for
where it was read); this script only reshapes it, it changes no value.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    """Write conditions.tsv and measurements.tsv."""
    with (HERE / "theoph_source.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    conditions: dict[str, tuple[str, str, float]] = {}
    measurements = []
    for row in rows:
        cid = f"subject_{int(row['Subject']):02d}"
        # Dose is in mg/kg, Wt in kg: the dose in mg goes into the gut depot at t = 0.
        dose_mg = round(float(row["Dose"]) * float(row["Wt"]), 6)
        conditions.setdefault(cid, (row["Wt"], row["Dose"], dose_mg))
        measurements.append((cid, row["Time"], row["conc"]))
    with (HERE / "conditions.tsv").open("w") as fh:
        fh.write("conditionId\tconditionName\tA_gut\tVc\n")
        for cid, (wt, dose, dose_mg) in conditions.items():
            fh.write(f"{cid}\tWt {wt} kg, Dose {dose} mg/kg\t{dose_mg:g}\tV\n")
    with (HERE / "measurements.tsv").open("w") as fh:
        fh.write("observableId\tsimulationConditionId\ttime\tmeasurement\n")
        for cid, time, conc in measurements:
            fh.write(f"C_plasma\t{cid}\t{time}\t{conc}\n")


if __name__ == "__main__":
    main()
