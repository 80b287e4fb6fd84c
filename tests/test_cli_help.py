"""Every command and subcommand of ``qsp-sbml`` shows an example in its ``--help``."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from qsp_sbml.cli import main


def _walk(cmd: click.Command, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(main, ()))


def test_the_tree_has_the_documented_commands() -> None:
    names = {p[0] for p in COMMANDS if p}
    assert {"validate", "simulate", "compose", "petab", "calibrate", "vpop", "demo", "crosscheck", "omex"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "qsp-sbml")
def test_help_shows_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Example" in text, f"qsp-sbml {' '.join(path)} --help has no Example block"
    block = text[text.index("Example"):].splitlines()[1:]
    assert any(line.strip().startswith("qsp-sbml") for line in block), \
        f"qsp-sbml {' '.join(path)}: the Example block shows no command line"
