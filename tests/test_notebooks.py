"""The notebooks execute top to bottom with small caps (nbclient, a kernel on this interpreter); no stored outputs.

Adding a notebook is one entry in ``NOTEBOOKS`` (file name -> environment caps).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
#: Notebook -> environment variables (caps) for the CI run.
NOTEBOOKS: dict[str, dict[str, str]] = {
    "01_compose_and_simulate.ipynb": {"QSP_SBML_NB_STEP_H": "168"},
    "02_calibrate_petab.ipynb": {"QSP_SBML_NB_STARTS": "2"},
    "03_virtual_population_and_pgx.ipynb": {"QSP_SBML_NB_SUBJECTS": "24"},
    "04_trial_design_and_power.ipynb": {"QSP_SBML_NB_REPLICATES": "3", "QSP_SBML_NB_SIMS": "400"},
    "05_n_of_1_twin.ipynb": {"QSP_SBML_NB_PROPOSALS": "60"},
}


def test_every_notebook_is_listed_and_has_no_stored_outputs() -> None:
    assert sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb")) == sorted(NOTEBOOKS)
    for name in NOTEBOOKS:
        nb = json.loads((NOTEBOOKS_DIR / name).read_text(encoding="utf-8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code, name
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
            f"{name}: outputs are stored; clear them (jupyter nbconvert --clear-output --inplace)"
        first = "".join(code[0]["source"])
        assert first.lstrip().startswith("import tellurium as te"), f"{name}: import tellurium first"


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_executes(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    if importlib.util.find_spec("tellurium") is None:  # never import it here: after libSBML it breaks comp checks
        pytest.skip("tellurium is not installed (notebooks extra)")
    pytest.importorskip("ipykernel")
    for key, value in {**NOTEBOOKS[name], "QSP_SBML_NB_OUT": str(tmp_path),
                       "QSP_SBML_ROOT": str(NOTEBOOKS_DIR.parent), "MPLBACKEND": "Agg",
                       "PYTHONPATH": os.pathsep.join(filter(None, [str(NOTEBOOKS_DIR.parent),
                                                                   os.environ.get("PYTHONPATH")]))}.items():
        monkeypatch.setenv(key, value)
    # a kernelspec that runs this very interpreter (the venv), whatever is registered on the machine
    from ipykernel.kernelspec import install

    kernel = "qsp-sbml-test"
    install(kernel_name=kernel, prefix=str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter" / "share" / "jupyter"))
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=kernel, timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
