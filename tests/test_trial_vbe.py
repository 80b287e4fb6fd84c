"""Virtual bioequivalence kind (``type: bioequivalence``): validation, determinism, mechanistic sanity."""

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
from qsp_sbml.trial import vbe

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "trials" / "vbe_cyp2d6_ir_er.yaml"


def _spec(**changes: Any) -> dict[str, Any]:
    spec = yaml.safe_load(SOURCE.read_text())
    spec.update(changes)
    return spec


@pytest.fixture(scope="module")
def small() -> vbe.VbeDesign:
    spec = _spec(n=12)
    spec["sampling"] = {"end_h": 48, "step_h": 0.1}
    return vbe.validate(spec, source=SOURCE)


def test_shipped_design_validates_with_cited_doses() -> None:
    d = vbe.validate(_spec(), source=SOURCE)
    assert d.n == 200 and d.design == "2x2" and d.gene == "CYP2D6"
    # 100 mg tartrate (2:1, MW 684.82) and 95 mg succinate (2:1, MW 652.8) carry the same metoprolol
    assert d.reference.dose_mg == pytest.approx(100 * 2 * 267.36 / 684.82)
    assert d.test.dose_mg == pytest.approx(d.reference.dose_mg, rel=0.005)
    assert d.test.release == "zero_order" and d.test.duration_h == 20
    assert sum(d.groups.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda s: s["formulations"]["test"].update(release={"kind": "sigmoid"}), "formulations.test.release.kind"),
    (lambda s: s["formulations"]["test"]["release"].pop("duration_h"), "formulations.test.release.duration_h"),
    (lambda s: s["formulations"]["reference"].pop("salt_mg"), "formulations.reference.dose_mg"),
    (lambda s: s.update(n=201), "n"),
    (lambda s: s.update(model="missing.xml"), "model"),
    (lambda s: s["population"]["genotypes"]["groups"].update({"Martian": 1.0}),
     "population.genotypes.groups.Martian"),
    (lambda s: s["population"]["genotypes"].update(genes=["CYP9Z9"]), "population.genotypes.genes[0]"),
    (lambda s: s["population"]["genotypes"].update(genes=["CYP2D6", "CYP2C19"]), "population.genotypes"),
    (lambda s: s["population"].pop("drug"), "population.drug"),
    (lambda s: s["population"].update(drug="unobtainium"), "population.drug"),
    (lambda s: s["population"].update(vpop="x.yaml"), "population.vpop"),
    (lambda s: s["population"].update(preset="martians"), "population.preset"),
    (lambda s: s["within_subject_cv"].pop("Cmax"), "within_subject_cv.Cmax"),
    (lambda s: s.update(limits=[1.25, 0.8]), "limits"),
    (lambda s: s.update(sampling={"end_h": 10, "step_h": 0.5}), "sampling.end_h"),
    (lambda s: s.update(colour="red"), "colour"),
])
def test_bad_input_names_the_field(mutate: Any, field: str) -> None:
    spec = copy.deepcopy(_spec())
    mutate(spec)
    with pytest.raises(TrialDesignError) as err:
        vbe.validate(spec, source=SOURCE)
    assert err.value.field == field and f"{SOURCE}, line " in str(err.value)
    assert f", field {field}: " in str(err.value).splitlines()[0]


@pytest.fixture(scope="module")
def serial_run(small: vbe.VbeDesign, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    out = tmp_path_factory.mktemp("vbe_serial")
    summary, report = vbe.run(small, seed=5, engine=SerialEngine(), out=out)
    return summary, report, out


def test_same_seed_same_summary_serial_and_two_processes(small: vbe.VbeDesign, serial_run: Any,
                                                          tmp_path: Path) -> None:
    a, report, out = serial_run
    b, _ = vbe.run(small, seed=5, engine=ProcessEngine(2), out=tmp_path / "b")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert (out / "vbe_forest.png").stat().st_size > 0 and "| all | AUC |" in report


def test_other_seed_other_trial(small: vbe.VbeDesign, serial_run: Any, tmp_path: Path) -> None:
    c, _ = vbe.run(small, seed=6, engine=SerialEngine(), out=tmp_path)
    assert c["results"] != serial_run[0]["results"]


def test_release_changes_rate_not_extent(small: vbe.VbeDesign, serial_run: Any) -> None:
    """Linear PBPK model: the ER/IR AUC ratio is the dose ratio (grid error < 3%); the peak falls."""
    s = serial_run[0]
    dose_ratio = small.test.dose_mg / small.reference.dose_mg
    assert s["model_gmr"]["all"]["AUC"] == pytest.approx(dose_ratio, rel=0.03)
    assert s["model_gmr"]["all"]["Cmax"] < 0.5
    cmax = next(r for r in s["results"] if r["group"] == "all" and r["metric"] == "Cmax")
    assert not cmax["bioequivalent"] and cmax["ci_high"] < 0.8


def test_cohort_profiles_equal_single_subject_simulation(small: vbe.VbeDesign) -> None:
    """Guards the dosing-time workaround: cohort simulation equals Model.simulate for a zero-order release."""
    import qsp_sbml
    from qsp_sbml.population import Cohort, simulate_cohort

    model = qsp_sbml.load_model(small.model)
    times = np.arange(0.0, 30.0, 0.5)
    reg = small.test.regimen(small.input)
    one = model.simulate(times, selections=["C_plasma"], regimen=reg)["C_plasma"].to_numpy()
    import pandas as pd

    res = simulate_cohort(model, Cohort.from_parts(parameters=pd.DataFrame({"m_CYP2D6": [1.0]})), times,
                          outputs=["C_plasma"], regimen=reg, progress=False)
    np.testing.assert_allclose(res.values[0, :, 0], one, rtol=1e-5, atol=1e-9)


def test_screen_lists_every_group_and_metric(serial_run: Any) -> None:
    summary = serial_run[0]
    lines = vbe.screen(summary)
    assert lines[0].startswith(f"{summary['name']} (bioequivalence)")
    assert len(lines) == 1 + len(summary["results"])
    assert any("GMR" in line for line in lines[1:])
