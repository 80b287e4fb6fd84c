"""Every SBML file under models/: consistent, unit-clean, loads, simulates; generated files are current."""

from __future__ import annotations

from pathlib import Path

import libsbml
import numpy as np
import pytest

from qsp_sbml import load_model
from qsp_sbml.library import generated
from qsp_sbml.resources import project_models_dir

MODELS = project_models_dir()
FILES = sorted(MODELS.rglob("*.xml"))


def test_library_finds_the_shipped_models() -> None:
    assert any(p.parent.name == "pbpk" for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(MODELS)))
def test_model_file_has_no_errors_or_unit_warnings(path: Path) -> None:
    doc = libsbml.readSBMLFromFile(str(path))
    doc.checkConsistency()
    problems = [
        f"{doc.getError(i).getErrorId()}: {doc.getError(i).getMessage().strip()}"
        for i in range(doc.getNumErrors())
        if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_WARNING
    ]
    assert problems == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(MODELS)))
def test_model_file_loads_and_simulates(path: Path) -> None:
    model = load_model(path)
    frame = model.simulate(np.linspace(0.0, 24.0, 5))
    assert len(frame) == 5
    assert np.isfinite(frame.drop(columns="time").to_numpy()).all()


@pytest.mark.parametrize("path", sorted(generated()), ids=lambda p: str(p.relative_to(MODELS)))
def test_generated_library_file_is_current(path: Path) -> None:
    assert path.is_file(), f"{path} missing; run python -m qsp_sbml.library"
    assert path.read_text(encoding="utf-8") == generated()[path], f"{path} is stale; run python -m qsp_sbml.library"


def test_sync_generated_writes_then_reports_only_stale_files(tmp_path: Path, capsys) -> None:
    from qsp_sbml._io import sync_generated

    files = {tmp_path / "a.xml": "A", tmp_path / "b.xml": "B"}
    assert sync_generated(files, check=True, command="make it") == 1  # both missing
    assert sync_generated(files, check=False, command="make it") == 0
    assert (tmp_path / "a.xml").read_text() == "A"
    assert sync_generated(files, check=True, command="make it") == 0
    (tmp_path / "b.xml").write_text("changed")
    capsys.readouterr()
    assert sync_generated(files, check=True, command="make it") == 1
    err = capsys.readouterr().err
    assert "b.xml differs" in err and "a.xml" not in err and "make it" in err
