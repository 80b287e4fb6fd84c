"""Oncology drug-kill term (issue 19): erlotinib kill fitted on one dose arm, the other arms predicted.

The split file is read and checked; the oral PK added to the TGI module follows the one-compartment
closed form; only the calibration arm's tumour rows reach the kill fit (fast, with the three fits replaced
by spies); and, end to end (slow), changing the held-out arms' observations changes no fitted parameter.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import qsp_sbml.library.oncology as onc
from qsp_sbml.dosing import Dose, Regimen, Route
from qsp_sbml.errors import QspError
from qsp_sbml.resources import project_models_dir

SPLIT = project_models_dir() / "disease" / "validation" / "oncology_split.yaml"


def _write_split(tmp_path: Path, change: dict) -> Path:
    spec = yaml.safe_load(SPLIT.read_text(encoding="utf-8"))
    spec.update(change)
    path = tmp_path / "split.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_shipped_split_calibrates_on_25_and_predicts_6_25_and_100() -> None:
    arms = onc.read_oncology_split()
    assert arms == {"calibration": {25.0: "erlotinib_25_mg_per_kg"},
                    "prediction": {6.25: "erlotinib_6.25_mg_per_kg", 100.0: "erlotinib_100_mg_per_kg"}}


def test_split_with_an_arm_in_both_sets_is_refused_naming_the_arm(tmp_path: Path) -> None:
    spec = yaml.safe_load(SPLIT.read_text(encoding="utf-8"))
    path = _write_split(tmp_path, {"prediction": [*spec["prediction"], {
        "id": "again_25", "dose_mg_per_kg": 25, "source": "the same rows"}]})
    with pytest.raises(QspError, match=r"split.yaml: prediction arm 'again_25' \(25 mg/kg\) is also a calibration"):
        onc.read_oncology_split(path)


def test_split_arm_without_source_is_refused_naming_the_arm(tmp_path: Path) -> None:
    path = _write_split(tmp_path, {"calibration": [{"id": "no_source_arm", "dose_mg_per_kg": 25}]})
    with pytest.raises(QspError, match="calibration arm 'no_source_arm' cites no source"):
        onc.read_oncology_split(path)


def test_oral_pk_follows_the_one_compartment_closed_form() -> None:
    # Bateman function after one oral dose D (mg/kg) at t0: C = D ka / (V (ka - ke)) (e^-ke t - e^-ka t), mg/L
    ka, cl, v, dose = 1.3, 1.5, 4.0, 25.0
    model = onc._treated_model()
    times = np.array([0.0, 24.0, 24.5, 25.0, 27.0, 30.0, 36.0])
    sim = model.simulate(times, selections=["C_drug"], parameters={"ka": ka, "CL_F": cl, "plasma": v},
                         regimen=Regimen.of(Dose(amount=dose, time=24.0, target="drug_gut", route=Route.ORAL)))
    ke, t = cl / v, np.maximum(times - 24.0, 0.0)
    expected = dose * ka / (v * (ka - ke)) * (np.exp(-ke * t) - np.exp(-ka * t)) * 1e6 / onc.ERLOTINIB_MW
    assert np.allclose(sim["C_drug"].to_numpy(), expected, rtol=1e-4, atol=1e-6)
    # the default module (no oral PK) is the shipped file, unchanged
    assert onc.build_oncology_tgi() == (project_models_dir() / "disease" / "oncology_tgi.xml").read_text()


def test_only_the_calibration_arm_reaches_the_kill_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, pd.DataFrame] = {}

    def spy_kill(tumour_cal: pd.DataFrame, doses: pd.DataFrame, pk: dict, growth: dict) -> dict[str, float]:
        seen["kill"] = tumour_cal
        return {"k2": 2e-6, "k1": 0.1}

    def spy_pk(pk_obs: pd.DataFrame, doses: pd.DataFrame) -> dict[str, float]:
        seen["pk"] = pk_obs
        return {"ka": 1.0, "CL_F": 1.5, "V_F": 4.0}

    monkeypatch.setattr(onc, "fit_erlotinib_kill", spy_kill)
    monkeypatch.setattr(onc, "fit_erlotinib_pk", spy_pk)
    monkeypatch.setattr(onc, "fit_control_growth", lambda obs: {"lambda0": 0.005, "lambda1": 2.0})
    result = onc.fit_erlotinib()
    assert set(seen["kill"]["dose_mg_per_kg"]) == {25.0}
    assert set(seen["pk"].columns) >= {"conc_ng_per_mL"} and "volume_mm3" not in seen["pk"].columns
    roles = result.table.groupby("dose_mg_per_kg")["role"].unique().map(list).to_dict()
    assert roles == {6.25: ["predicted"], 25.0: ["fitted"], 100.0: ["predicted"]}
    # predicted rows are simulated from the fitted values (more kill at 100 than at 6.25 mg/kg by day 16)
    day16 = result.table[result.table["day"] == 16].set_index("dose_mg_per_kg")["simulated_mm3"]
    assert day16[100.0] < day16[25.0] < day16[6.25]


@pytest.mark.slow
def test_held_out_observations_change_no_fitted_parameter() -> None:
    shipped = onc.fit_erlotinib()
    tumour = onc.read_observed(onc._TREATED, ("animal", "dose_mg_per_kg", "day", "volume_mm3"))
    held_out = tumour["dose_mg_per_kg"] != 25.0
    changed = tumour.assign(volume_mm3=np.where(held_out & (tumour["day"] > 0), tumour["volume_mm3"] * 3.0,
                                                tumour["volume_mm3"]))
    other = onc.fit_erlotinib(tumour=changed)
    for name in ("pk", "growth", "kill"):
        got, want = getattr(other, name), getattr(shipped, name)
        assert got == pytest.approx(want, rel=1e-12), name
    pred_a = shipped.table[shipped.table["role"] == "predicted"]
    pred_b = other.table[other.table["role"] == "predicted"]
    assert np.allclose(pred_a["simulated_mm3"], pred_b["simulated_mm3"])
    assert np.allclose(pred_b["observed_mm3"], 3.0 * pred_a["observed_mm3"])
    # the fitted values are those the report prints; a plausible mouse erlotinib half-life (hours, not days)
    half_life_h = math.log(2) * shipped.pk["V_F"] / shipped.pk["CL_F"]
    assert 0.5 < half_life_h < 12
