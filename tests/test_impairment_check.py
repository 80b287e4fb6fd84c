"""Renal impairment preset checked on observed data: fluconazole half-life by creatinine clearance.

Observed (data, not code): Berl T, Wilner KD, Gardner M, Hansen RA, Farmer B, Baris BA, Henrich WL,
"Pharmacokinetics of fluconazole in renal failure" (abstract): day-10 mean half-lives 36.7 h at a mean
creatinine clearance of 107 mL/min (group 1), 84.5 h at 38 mL/min (group 2) and 101.9 h at 14.8 mL/min
(group 3), N = 10 per group.  Toon S et al. (1990) Br J Clin Pharmacol 29:221 (PMID 2306414), abstract: the
half-life at GFR < 20 mL/min is "approximately three times" that of normal volunteers.

Prediction: a typical adult (55 y, 73 kg, 176 cm, male) whose eGFR per 1.73 m2 gives the group's mean clearance
as GFR, mapped by the renal presets' rules (``subject_parameters`` with the KDIGO category of that eGFR: renal
clearance ~ GFR, hematocrit and fraction unbound by stage); terminal half-life of a single IV dose (linear
model: the same as at steady state).  Nothing was fitted to these data.  Acceptance: the half-life ratio to
group 1 within 2-fold of the observed ratio.
"""

from __future__ import annotations

import numpy as np
import pytest

from qsp_sbml.loading import load_model
from qsp_sbml.metrics import nca
from qsp_sbml.pbpk import load_drugs
from qsp_sbml.physiology import bsa_dubois, kdigo_category
from qsp_sbml.population.presets import subject_parameters
from qsp_sbml.resources import project_models_dir

PBPK = project_models_dir() / "pbpk"
#: Mean creatinine clearance (mL/min) -> observed day-10 mean half-life (h), Berl et al.
BERL = {107.0: 36.7, 38.0: 84.5, 14.8: 101.9}


def _half_life(model, drug, crcl: float) -> float:  # type: ignore[no-untyped-def]
    egfr = crcl * 1.73 / bsa_dubois(73.0, 176.0)
    row = {"age": 55.0, "sex": "male", "weight_kg": 73.0, "height_cm": 176.0, "egfr": egfr,
           "kdigo_target": None if egfr >= 90 else kdigo_category(egfr), "child_pugh": None}
    t = np.concatenate([np.linspace(0.0, 24.0, 25), np.linspace(48.0, 960.0, 39)])
    c = model.simulate(t, selections=["C_plasma"], parameters=subject_parameters(drug, row).values,
                       regimen="100 mg iv to drug_venous_blood")
    return nca(t, c["C_plasma"].to_numpy(), lambda_z_points=20).t_half


def test_fluconazole_half_life_in_renal_impairment_within_2fold_of_observed() -> None:
    model = load_model(PBPK / "wholebody_pbpk.xml", guard=False)
    drug = load_drugs(PBPK / "drugs")["fluconazole"]
    pred = {crcl: _half_life(model, drug, crcl) for crcl in BERL}
    base_obs, base_pred = BERL[107.0], pred[107.0]
    for crcl, obs in BERL.items():
        ratio_obs, ratio_pred = obs / base_obs, pred[crcl] / base_pred
        print(f"fluconazole CLcr {crcl:5.1f} mL/min: t1/2 obs {obs:6.1f} h pred {pred[crcl]:6.1f} h; "
              f"ratio to normal obs {ratio_obs:.2f} pred {ratio_pred:.2f}")
        assert 0.5 <= ratio_pred / ratio_obs <= 2.0
    # Toon 1990: about three times the normal half-life below GFR 20 mL/min
    assert 1.5 <= pred[14.8] / base_pred <= 6.0
    assert 1 / 1.5 <= pred[107.0] / base_obs <= 1.5  # the normal group's own half-life within 1.5-fold


# --- atenolol and gabapentin in chronic kidney disease: observed profiles, each impaired arm against its own
# study's healthy arm


def _renal_table():  # type: ignore[no-untyped-def]
    from qsp_sbml.pbpk.renal_impairment import load_renal_arms, predict_renal

    drugs = load_drugs(PBPK / "drugs")
    arms = load_renal_arms(PBPK / "validation" / "renal_impairment_profiles.tsv", drugs)
    table = predict_renal(arms, drugs, load_model(PBPK / "wholebody_pbpk.xml", guard=False))
    for _, r in table[table["role"] == "impaired"].iterrows():
        print(f"{r['dataset']:<13} eGFR {r['egfr']:5.1f}: AUC ratio to control observed "
              f"{r['obs_ratio_to_control']:.2f}, predicted {r['pred_ratio_to_control']:.2f}")
    return table.set_index("dataset")


#: Impaired arms of renal_impairment_profiles.tsv; Wan 1979's is predicted outside 2-fold (a strict xfail: the
#: predicted ratio 2.9 vs 6.5 observed; the arm's observed Cmax is 2.6 x its control's, which GFR-scaled renal
#: clearance with unchanged absorption does not give).
RENAL_ARMS = ["Sassard_CKD3", "Sassard_CKD4", "Kirch_CKD3", "Kirch_CKD4", "Kirch_CKD5", "Blum_CKD3", "Blum_CKD5",
              pytest.param("Wan_CKD4", marks=pytest.mark.xfail(strict=True, reason="ratio 2.9 predicted vs 6.5"))]


@pytest.fixture(scope="module")
def renal_table():  # type: ignore[no-untyped-def]
    return _renal_table()


@pytest.mark.parametrize("dataset", RENAL_ARMS)
def test_auc_ratio_in_ckd_within_2fold_of_observed(renal_table, dataset: str) -> None:  # type: ignore[no-untyped-def]
    row = renal_table.loc[dataset]
    assert row["role"] == "impaired"
    assert 0.5 <= row["pred_ratio_to_control"] / row["obs_ratio_to_control"] <= 2.0
    assert bool(row["within_2fold"])


def test_every_impaired_arm_of_the_table_has_its_verdict_checked(renal_table) -> None:  # type: ignore[no-untyped-def]
    listed = {a if isinstance(a, str) else a.values[0] for a in RENAL_ARMS}
    assert listed == set(renal_table.index[renal_table["role"] == "impaired"])


def test_atenolol_ckd_exposure_rises_as_egfr_falls(renal_table) -> None:  # type: ignore[no-untyped-def]
    """Within Kirch 1981 (one design, three stages) both observed and predicted ratios rise from G3a to G5."""
    kirch = renal_table.loc[["Kirch_CKD3", "Kirch_CKD4", "Kirch_CKD5"]]
    assert kirch["obs_ratio_to_control"].is_monotonic_increasing
    assert kirch["pred_ratio_to_control"].is_monotonic_increasing
