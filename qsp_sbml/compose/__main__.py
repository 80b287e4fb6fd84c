"""``python -m qsp_sbml.compose [--check] [FOLDER]``: rebuild the composed models.

Builds every ``FOLDER/*.yaml`` spec (default: ``models/composed``) into
``<name>.xml`` (comp document), ``<name>_flat.xml`` (flat model) and
``<name>_flat_provenance.tsv`` beside it.  ``--check`` writes nothing and exits
1 when an output is missing or differs byte for byte (outputs are
deterministic: no timestamps, stable order).
"""

from __future__ import annotations

import sys
from pathlib import Path

from qsp_sbml.compose.spec import build_folder
from qsp_sbml.errors import QspError


def main(argv: list[str]) -> int:
    """Run the rebuild (or the check); return the exit code."""
    check = "--check" in argv
    rest = [a for a in argv if a != "--check"]
    if any(a.startswith("-") for a in rest) or len(rest) > 1:
        sys.stderr.write("usage: python -m qsp_sbml.compose [--check] [FOLDER]\n")
        return 2
    if rest:
        folder = Path(rest[0])
    else:
        from qsp_sbml.resources import project_models_dir

        folder = project_models_dir() / "composed"
    if not folder.is_dir():
        sys.stdout.write(f"{folder}: no composed specs (folder absent)\n")
        return 0
    try:
        paths = build_folder(folder, check=check)
    except QspError as err:
        sys.stderr.write(f"error: {err}\n")
        return 1
    if check:
        for path in paths:
            sys.stderr.write(f"{path} is missing or stale; run python -m qsp_sbml.compose\n")
        return 1 if paths else 0
    for path in paths:
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
