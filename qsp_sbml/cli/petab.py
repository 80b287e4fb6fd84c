"""``qsp-sbml petab ...``: PEtab commands (registered in :mod:`qsp_sbml.cli`)."""

from __future__ import annotations

from pathlib import Path

import click

from qsp_sbml.cli.common import _emit_json, handle_errors

__all__ = ["petab"]


def _petab() -> None:
    """PEtab problems: evaluate the objective at nominal parameters.

    \b
    Example:
      qsp-sbml petab evaluate petab_problems/theophylline/theophylline.yaml --json
    """


#: The group object, registered by :mod:`qsp_sbml.cli`.
petab: click.Group = click.group(name="petab")(_petab)


@petab.command()
@click.argument("problem", metavar="PROBLEM.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--simulations", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the simulation table (PEtab format, TSV) here.")
@click.option("--rtol", type=float, default=1e-8, show_default=True, help="CVODE relative tolerance.")
@click.option("--atol", type=float, default=1e-12, show_default=True, help="CVODE absolute tolerance.")
@click.option("--json", "as_json", is_flag=True, help="Print llh, chi2 and n_measurements as JSON.")
@handle_errors
def evaluate(problem: Path, simulations: Path | None, rtol: float, atol: float, as_json: bool) -> None:
    """Log-likelihood and chi2 at the nominal parameters of the parameter table.

    \b
    Example:
      qsp-sbml petab evaluate problem.yaml --json --simulations sims.tsv
    """
    from qsp_sbml._io import atomic_write_text
    from qsp_sbml.petab import ObjectiveOptions, PetabObjective, PetabProblem
    from qsp_sbml.simulate.options import IntegratorOptions

    options = ObjectiveOptions(integrator=IntegratorOptions(rtol=rtol, atol=atol))
    result = PetabObjective(PetabProblem.from_yaml(problem), options=options).evaluate()
    if simulations:
        atomic_write_text(simulations, result.simulations.to_csv(sep="\t", index=False))
    if as_json:
        _emit_json({"ok": True, "problem": str(problem), "llh": result.llh, "chi2": result.chi2,
                    "n_measurements": result.n_measurements,
                    "simulations": str(simulations) if simulations else None})
    else:
        click.echo(f"{problem}: llh = {result.llh:.10g}, chi2 = {result.chi2:.10g}, "
                   f"n_measurements = {result.n_measurements}")
