"""``qsp-sbml compose`` and ``qsp-sbml ports ...`` (registered in :mod:`qsp_sbml.cli`)."""

from __future__ import annotations

from pathlib import Path

import click

from qsp_sbml.cli.common import _emit_json, handle_errors

__all__ = ["compose", "ports_group"]


@click.command(name="compose")
@click.argument("spec", metavar="SPEC.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Write the comp document (SBML L3V2 + comp) here.")
@click.option("--flat", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the flat model here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result (files, links, unit factors) as JSON.")
@handle_errors
def compose(spec: Path, output: Path, flat: Path | None, as_json: bool) -> None:
    """Compose SBML modules from a YAML spec (modules, links, overrides).

    Writes the comp document, the flat model (with --flat) and a provenance
    table ``<stem>_provenance.tsv`` beside the flat model (or the output): the
    module and original id of every id of the flat model.  Nothing is written
    when the composition fails.

    \b
    Example:
      qsp-sbml compose models/composed/mab_emax.yaml -o mab_emax.xml --flat mab_emax_flat.xml
    """
    from qsp_sbml.compose import compose_spec

    composition = compose_spec(spec)
    written = composition.write(output, flat=flat)
    if as_json:
        _emit_json({"ok": True, "spec": str(spec), "model": composition.name,
                    "files": [str(p) for p in written],
                    "links": [{"source": link.source, "target": link.target, "unit_factor": factor}
                              for link, factor in composition.links],
                    "n_flat_ids": len(composition.origins)})
    else:
        for link, factor in composition.links:
            note = "" if factor == 1.0 else f" (units scaled by {factor:g})"
            click.echo(f"  link {link}{note}")
        click.echo(f"{composition.name}: {len(composition.links)} link(s) -> {', '.join(map(str, written))}")


def _ports() -> None:
    """List or declare the input/output ports of an SBML model.

    \b
    Examples:
      qsp-sbml ports list models/pbpk/mab_two_compartment_tmdd.xml
      qsp-sbml ports add model.xml --input C_drug --output effect -o model_ports.xml
    """


#: The ``ports`` group, registered by :mod:`qsp_sbml.cli`.
ports_group: click.Group = click.group(name="ports")(_ports)


@ports_group.command(name="list")
@click.argument("model", metavar="MODEL.xml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the ports as JSON.")
@handle_errors
def list_ports(model: Path, as_json: bool) -> None:
    """List the ports of MODEL.xml (id, element, kind, direction, units).

    \b
    Example:
      qsp-sbml ports list models/pbpk/mab_two_compartment_tmdd.xml
    """
    from qsp_sbml.compose import ports

    found = ports(model)
    if as_json:
        _emit_json({"ok": True, "model": str(model),
                    "ports": [{"id": p.id, "element": p.element, "kind": p.kind, "direction": p.direction,
                               "units": p.units} for p in found]})
        return
    if not found:
        click.echo(f"{model}: no ports")
    for p in found:
        click.echo(f"{p.direction:<12} {p.element:<24} {p.kind:<12} {p.units or '-'}  (port {p.id})")


@ports_group.command(name="add")
@click.argument("model", metavar="MODEL.xml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--input", "inputs", multiple=True, help="Element id to expose as an input port. Repeatable.")
@click.option("--output", "outputs", multiple=True, help="Element id to expose as an output port. Repeatable.")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Write the model with its ports here (SBML L3V2 + comp).")
@click.option("--json", "as_json", is_flag=True, help="Print the resulting ports as JSON.")
@handle_errors
def add(model: Path, inputs: tuple[str, ...], outputs: tuple[str, ...], out: Path, as_json: bool) -> None:
    """Declare input/output ports on any SBML model (converted to L3V2 + comp when needed).

    \b
    Example:
      qsp-sbml ports add BIOMD0000000012.xml --input k1 --output PX -o repressilator_ports.xml
    """
    import libsbml

    from qsp_sbml._io import atomic_write_text
    from qsp_sbml.compose import add_ports, ports

    if not inputs and not outputs:
        raise click.UsageError("give at least one --input or --output")
    doc = add_ports(model, inputs=list(inputs), outputs=list(outputs))
    atomic_write_text(out, str(libsbml.writeSBMLToString(doc)))
    found = ports(doc)
    if as_json:
        _emit_json({"ok": True, "model": str(model), "output": str(out),
                    "ports": [{"id": p.id, "element": p.element, "kind": p.kind, "direction": p.direction,
                               "units": p.units} for p in found]})
    else:
        click.echo(f"{model}: {len(found)} port(s) -> {out}")
