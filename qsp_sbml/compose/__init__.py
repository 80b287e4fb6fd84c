"""Compose SBML modules with the ``comp`` package: ports, links, unit checks, provenance.

- :func:`ports` / :func:`add_ports`: discover and declare input and output ports
  on any SBML model.
- :func:`assemble`: modules + links (+ parameter overrides) -> a comp document,
  its flat model (libSBML's flattening, the loader's path) and the origin of
  every flat id.
- :func:`load_spec` / :func:`compose_spec`: the same from a YAML spec file.
- ``python -m qsp_sbml.compose [--check]``: (re)build ``models/composed/*.yaml``.
"""

from __future__ import annotations

from qsp_sbml.compose.assemble import Composition, Link, assemble, parse_link
from qsp_sbml.compose.flatten import Origin
from qsp_sbml.compose.ports import Port, add_ports, ports
from qsp_sbml.compose.spec import ComposeSpec, build_folder, compose_spec, load_spec

__all__ = [
    "ComposeSpec",
    "Composition",
    "Link",
    "Origin",
    "Port",
    "add_ports",
    "assemble",
    "build_folder",
    "compose_spec",
    "load_spec",
    "parse_link",
    "ports",
]
