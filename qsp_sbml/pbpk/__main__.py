"""Regenerate the shipped PBPK model files: ``python -m qsp_sbml.pbpk [--check]``.

Writes ``models/pbpk/wholebody_pbpk.xml`` (reference male, default drug
midazolam), ``models/pbpk/wholebody_pbpk_<drug>.xml`` for each drug of
:data:`EXTRA_DRUGS` (the same structure with that drug's values, for composed
PBPK-PD models) ``models/pbpk/mab_two_compartment_tmdd.xml`` (typical mAb) and
``models/pbpk/enzyme_turnover.xml`` (drug-drug interactions).
With ``--check`` nothing is written; the exit code is 1 when a committed file
differs from what the code generates.
"""

from __future__ import annotations

import sys
from pathlib import Path

from qsp_sbml._io import sync_generated
from qsp_sbml.pbpk.antibody import build_antibody
from qsp_sbml.pbpk.build import build_wholebody
from qsp_sbml.pbpk.drugs import load_drug
from qsp_sbml.pbpk.interaction import build_enzyme_module
from qsp_sbml.pbpk.parameters import parameterise
from qsp_sbml.physiology import reference
from qsp_sbml.resources import project_models_dir

#: Drug whose values the shipped whole-body file carries as defaults.
DEFAULT_DRUG = "midazolam"
#: Drugs with their own whole-body file (reference male): metoprolol, a beta1-blocker with a direct
#: concentration-effect story (models/composed/pbpk_metoprolol_beta1.yaml, petab_problems/pbpk_pd_multidose).
EXTRA_DRUGS = ("metoprolol",)


def generated() -> dict[Path, str]:
    """Shipped file path -> the SBML text the code generates for it."""
    root = project_models_dir() / "pbpk"
    drug = load_drug(root / "drugs" / f"{DEFAULT_DRUG}.yaml")
    files = {root / "wholebody_pbpk.xml": build_wholebody(parameterise(drug, reference("male")).values)}
    for name in EXTRA_DRUGS:
        extra = load_drug(root / "drugs" / f"{name}.yaml")
        files[root / f"wholebody_pbpk_{name}.xml"] = build_wholebody(parameterise(extra, reference("male")).values)
    files[root / "mab_two_compartment_tmdd.xml"] = build_antibody()
    files[root / "enzyme_turnover.xml"] = build_enzyme_module()
    return files


def main(argv: list[str]) -> int:
    """Write (or with ``--check`` compare) the generated files; any other argument is a usage error (exit 2)."""
    if any(a != "--check" for a in argv):
        sys.stderr.write("usage: python -m qsp_sbml.pbpk [--check]\n(regenerates models/pbpk/*.xml; --check compares "
                         "and writes nothing)\n")
        return 2
    return sync_generated(generated(), check="--check" in argv, command="python -m qsp_sbml.pbpk")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
