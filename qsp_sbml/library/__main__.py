"""``python -m qsp_sbml.library [--check]`` and ``python -m qsp_sbml.library validate NAME [--plot PNG]``."""

from __future__ import annotations

import sys
from pathlib import Path

from qsp_sbml._io import sync_generated
from qsp_sbml.library import generated, validators


def _validate(argv: list[str]) -> int:
    table = validators()
    if not argv or argv[0] not in table:
        sys.stderr.write(f"usage: python -m qsp_sbml.library validate NAME [--plot PNG]; NAME one of {sorted(table)}\n")
        return 2
    plot = Path(argv[argv.index("--plot") + 1]) if "--plot" in argv else None
    outcome = table[argv[0]](plot=plot)
    verdict = "PASS" if outcome.passed else "FAIL"
    sys.stdout.write(f"{outcome.name}: {outcome.metric} = {outcome.value:.4g} (tolerance {outcome.tolerance:.4g}) "
                     f"{verdict}\nsource: {outcome.source}\n")
    if outcome.table is not None:
        sys.stdout.write(f"{outcome.table.to_string(index=False)}\n")
    if plot is not None:
        sys.stdout.write(f"plot: {plot}\n")
    return 0 if outcome.passed else 1


def main(argv: list[str]) -> int:
    """Write, compare (``--check``) or validate the library's modules."""
    if argv and argv[0] == "validate":
        return _validate(argv[1:])
    return sync_generated(generated(), check="--check" in argv, command="python -m qsp_sbml.library")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
