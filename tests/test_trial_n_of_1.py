"""N-of-1 twin kind (``type: n_of_1``): validation, the shipped synthetic patient, determinism across engines."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from qsp_sbml.engine import ProcessEngine, SerialEngine
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial import n_of_1

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "trials" / "n_of_1_twin.yaml"


def _spec() -> dict[str, Any]:
    return yaml.safe_load(SOURCE.read_text())


@pytest.fixture(scope="module")
def small() -> n_of_1.NOf1Design:
    """The shipped design with caps: a small posterior sample, one optimiser start, one regimen."""
    spec = _spec()
    spec["posterior"] = {"n_proposals": 30, "n_sample": 20, "starts": 1}
    spec["regimens"] = dict(list(spec["regimens"].items())[:1])
    spec["grid_step_h"] = 168
    return n_of_1.validate(spec, source=SOURCE)


def test_shipped_patient_file_is_reproducible() -> None:
    """trials/n_of_1_patient.csv is what make_patient gives for the documented truth and seed."""
    design = n_of_1.validate(_spec(), source=SOURCE)
    assert n_of_1.make_patient(design, times=n_of_1.PATIENT_TIMES) == design.patient.read_text()
    obs = n_of_1.read_patient(design.patient)
    assert set(obs["output"]) == set(design.errors) and len(obs) == 8


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda s: s["parameters"]["pk__CL"].pop("cv"), "parameters.pk__CL.cv"),
    (lambda s: s["parameters"]["pk__CL"].update(typical=-1), "parameters.pk__CL.typical"),
    (lambda s: s["regimens"].update(bad="150 zorkmids sc at 0 h"), "regimens.bad"),
    (lambda s: s.update(history=""), "history"),
    (lambda s: s["target"].update(direction="sideways"), "target.direction"),
    (lambda s: s["target"].update(window_h=[10]), "target.window_h"),
    (lambda s: s["error"].pop("disease__PASI"), "error.disease__PASI"),
    (lambda s: s["error"].update(pk_C_free={"additive": 0}), "error.pk_C_free"),
    (lambda s: s["fixed"].update(pk__CL=1.0), "fixed.pk__CL"),
    (lambda s: s["synthetic_patient"]["truth"].pop("disease__f_ind"), "synthetic_patient.truth.disease__f_ind"),
    (lambda s: s.update(model="nowhere.xml"), "model"),
    (lambda s: s.update(type="parallel"), "type"),
    (lambda s: s.update(dose="lots"), "dose"),
    (lambda s: s.update(correlations={"pk__CL,nope": 0.3}), "correlations.pk__CL,nope"),
    (lambda s: s.update(correlations={"pk__CL,pk__central": 1.5}), "correlations.pk__CL,pk__central"),
])
def test_bad_input_names_the_field(mutate: Any, field: str) -> None:
    spec = copy.deepcopy(_spec())
    mutate(spec)
    with pytest.raises(TrialDesignError) as err:
        n_of_1.validate(spec, source=SOURCE)
    assert err.value.field == field and f"{SOURCE}, line " in str(err.value)
    assert f", field {field}: " in str(err.value).splitlines()[0]


def test_correlated_prior_from_the_design() -> None:
    design = n_of_1.validate(_spec(), source=SOURCE)
    names = list(design.prior.names)
    i, j = names.index("pk__CL"), names.index("pk__central")
    om = design.prior.omega
    assert om[i, j] / np.sqrt(om[i, i] * om[j, j]) == pytest.approx(0.39)  # Suleiman et al. 2019 Table 3
    assert om[i, i] == pytest.approx(np.log1p(0.24**2))


def test_unknown_model_ids_are_refused_at_run(small: n_of_1.NOf1Design, tmp_path: Path) -> None:
    spec = _spec()
    spec["target"]["output"] = "disease__nonsense"
    design = n_of_1.validate(spec, source=SOURCE)
    with pytest.raises(TrialDesignError, match="^target.output:"):
        n_of_1.run(design, seed=1, engine=SerialEngine(), out=tmp_path)


def test_same_seed_same_summary_serial_and_two_processes(small: n_of_1.NOf1Design, tmp_path: Path) -> None:
    a, report = n_of_1.run(small, seed=3, engine=SerialEngine(), out=tmp_path / "a")
    b, _ = n_of_1.run(small, seed=3, engine=ProcessEngine(2), out=tmp_path / "b")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (tmp_path / "a" / "n_of_1_regimens.png").stat().st_size > 0
    assert "| rank | regimen |" in report
    # the twin moves clearance from the 150-kg typical value towards the (ADA-raised) truth
    cl = a["parameters"]["pk__CL"]
    truth = small.truth["pk__CL"] if small.truth else np.nan
    assert abs(np.log(cl["map"] / truth)) < abs(np.log(cl["typical"] / truth)) / 2
    assert [r["rank"] for r in a["regimens"]] == [1] and 0 <= a["regimens"][0]["probability"] <= 1
    lines = n_of_1.screen(a)
    assert lines[0].startswith(f"{a['name']} (n_of_1)") and any("MAP" in line for line in lines)
    assert lines[-1].strip().startswith("1. ")
