"""The API reference (docs/api/*.rst) documents every public name, read from the sources (no Sphinx build).

Public modules are found with pkgutil: every module or subpackage of qsp_sbml without a leading underscore
in its dotted path that defines ``__all__`` (so a new module fails here until it is documented).  Each must
have a section in the API pages (``.. automodule:: NAME``), and every name of its ``__all__`` must appear in
that section (documented there, or listed in its summary with a link to where it is documented).
``python docs/_ext/api_pages.py`` rewrites the pages from the ``__all__`` lists.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache
from pathlib import Path

import pytest

import qsp_sbml

REPO = Path(__file__).resolve().parents[1]
API = REPO / "docs" / "api"
_SECTION = re.compile(r"^\.\. automodule:: (\S+)\s*$", re.MULTILINE)
FIX = "run `python docs/_ext/api_pages.py` (or document it by hand in docs/api/)"


def public_modules() -> list[str]:
    """qsp_sbml and every public module below it that defines ``__all__``."""
    names = ["qsp_sbml"]
    for info in pkgutil.walk_packages(qsp_sbml.__path__, "qsp_sbml."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        if hasattr(importlib.import_module(info.name), "__all__"):
            names.append(info.name)
    return names


@cache
def sections() -> dict[str, str]:
    """Module name -> the text of its section in the API pages (up to the next module's section)."""
    out: dict[str, str] = {}
    for page in sorted(API.glob("*.rst")):
        text = page.read_text(encoding="utf-8")
        marks = list(_SECTION.finditer(text))
        for k, mark in enumerate(marks):
            end = marks[k + 1].start() if k + 1 < len(marks) else len(text)
            assert mark[1] not in out, f"{mark[1]} has two sections ({page.name})"
            out[mark[1]] = text[mark.end():end]
    return out


def test_public_modules_are_found() -> None:
    modules = public_modules()
    for expected in ("qsp_sbml", "qsp_sbml.metrics", "qsp_sbml.trial", "qsp_sbml.population", "qsp_sbml.petab",
                     "qsp_sbml.calibrate", "qsp_sbml.compose", "qsp_sbml.pbpk", "qsp_sbml.pharmacogenomics",
                     "qsp_sbml.interop.omex", "qsp_sbml.dosing", "qsp_sbml.units", "qsp_sbml.registry",
                     "qsp_sbml.resources", "qsp_sbml.engine", "qsp_sbml.distributed", "qsp_sbml.errors"):
        assert expected in modules


@pytest.mark.parametrize("module", public_modules())
def test_every_public_name_is_in_the_api_reference(module: str) -> None:
    assert module in sections(), f"{module} has no section (.. automodule:: {module}) in docs/api/; {FIX}"
    text = sections()[module]
    names = importlib.import_module(module).__all__
    missing = [n for n in names if not re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text)]
    assert not missing, f"{module}: {missing} from __all__ are not in its API section; {FIX}"


def test_api_sections_are_public_modules() -> None:
    stale = sorted(set(sections()) - set(public_modules()))
    assert not stale, f"docs/api/ documents modules that are not public (or gone): {stale}; {FIX}"


def test_every_api_page_is_in_the_index() -> None:
    index = (API / "index.rst").read_text(encoding="utf-8")
    for page in API.glob("*.rst"):
        if page.name != "index.rst":
            assert re.search(rf"^   {re.escape(page.stem)}$", index, re.MULTILINE), f"{page.name} not in the toctree"


def test_the_cli_reference_covers_every_command() -> None:
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert ".. click:: qsp_sbml.cli:main" in text and ":nested: full" in text
