"""Acceptance: a virtual population from posterior draws of a project PEtab problem, selected against a
published baseline-biomarker distribution, matches it (two-sample KS p > 0.05); without selection it does not.

Problem: ``petab_problems/psoriasis_ultimma`` (psoriasis module + risankizumab, UltIMMa-1 PASI90 rates).
Posterior draws: ``qsp_sbml.calibrate.sample`` (``tests/data/psoriasis_ultimma_posterior_draws.py``, run under
the lock; a test here checks every draw against the current posterior, a slow one re-runs the chain).

Target: baseline PASI of the risankizumab arm of KEEPsAKE 1 (Kristensen LE et al. 2022, Ann Rheum Dis
81:225-231, Table 1: PASI mean (SD) 10.9 (10.1) in patients with psoriasis on >= 3 % body surface area;
https://ard.bmj.com/highwire/markup/289015), taken as log-normal with that mean and SD (assumption: PASI is
right-skewed, SD close to the mean).  PASI ranges 0-72 (ClinicalTrials.gov NCT02684370 outcome definition),
which are the plausibility bounds.

In this module the untreated steady state has PASI = PASI0, so the baseline biomarker varies through the IIV
of PASI0 (candidates: the module's PASI0 = 20 with a CV of 150 %); the posterior draws (k_T, f_ind, s_resp,
with IIV on k_T and f_ind) set each patient's response to treatment and travel with the patient.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import qsp_sbml as qs
import qsp_sbml.petab as qp
from qsp_sbml.population import Cohort, simulate_cohort
from qsp_sbml.population.spec import build_vpop
from qsp_sbml.population.vpop import _as_target
from tests.data import psoriasis_ultimma_posterior_draws as script

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "petab_problems" / "psoriasis_ultimma" / "model.xml"
DRAWS = script.OUT
TARGET = {"distribution": "lognormal", "mean": 10.9, "sd": 10.1}  # KEEPsAKE 1, risankizumab arm, Table 1


def _spec(tmp_path: Path, *, selection: bool) -> Path:
    text = f"""\
kind: vpop
model: {MODEL}
parameters: {{dose_nmol: 0.0, PASI0: 20.0}}     # untreated (baseline); the module's PASI0
posterior: {{file: {DRAWS}, parameters: [k_T, f_ind, s_resp]}}
iiv: {{cv: {{PASI0: 1.5, k_T: 0.3, f_ind: 0.3}}}}
"""
    if selection:
        text += """\
selection:
  biomarker: PASI
  time: 0
  plausible: [0.1, 72]
  target: {distribution: lognormal, mean: 10.9, sd: 10.1}
"""
    path = tmp_path / ("vpop.yaml" if selection else "candidates.yaml")
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_draws_are_a_sample_of_the_current_posterior() -> None:
    """What matters of the file, independent of the sampler's exact random stream (which moves with pyPESTO's
    and numpy's versions): every draw carries the current posterior's value, the chain moves, and it sits
    around the fit the problem's README reports."""
    shipped = pd.read_csv(DRAWS, sep="\t")
    assert list(shipped.columns) == ["k_T", "f_ind", "s_resp", "neglogpost"]
    assert len(shipped) == script.N_SAMPLES - script.BURN_IN + 1
    problem = qp.PetabProblem.from_yaml(script.PROBLEM, guard=False)
    posterior = qp.PetabObjective(problem, options=qp.ObjectiveOptions(priors=True))
    names = ["k_T", "f_ind", "s_resp"]
    for i in np.linspace(0, len(shipped) - 1, 12).astype(int):
        x = np.log10(shipped.loc[i, names].to_numpy(dtype=float))
        assert posterior(x) == pytest.approx(shipped.loc[i, "neglogpost"], rel=1e-8, abs=1e-8), i
    # a sample, not a point: the chain moves through many distinct states
    assert len(shipped[names].drop_duplicates()) > 0.1 * len(shipped)
    assert np.median(shipped["s_resp"]) == pytest.approx(0.7723, rel=0.15)
    assert np.median(shipped["f_ind"]) == pytest.approx(0.00892, rel=0.3)


@pytest.mark.slow
def test_a_rerun_chain_has_the_shipped_distribution() -> None:
    """The script re-run now gives the same posterior summaries as the shipped file: on the log scale, the median
    within 0.3 and the 10th/90th percentiles within 0.5 of the posterior's interquartile range (two chains of
    this length from other pyPESTO/numpy versions differed by up to 0.27; autocorrelated draws, so no KS test)."""
    shipped = pd.read_csv(DRAWS, sep="\t")
    again = script.draws()
    for name in ["k_T", "f_ind", "s_resp"]:
        a, b = np.log10(shipped[name]), np.log10(again[name])
        iqr = np.subtract(*np.percentile(a, [75, 25]))
        for q, bound in ((10, 0.5), (50, 0.3), (90, 0.5)):
            assert abs(np.percentile(a, q) - np.percentile(b, q)) < bound * iqr, (name, q)


def test_posterior_vpop_selected_against_published_baseline_pasi(tmp_path: Path) -> None:
    cohort, summary = build_vpop(_spec(tmp_path, selection=True), 3000, seed=11)
    draws = pd.read_csv(DRAWS, sep="\t")
    # parameter sets come from the posterior draws (s_resp has no IIV: every value is a draw)
    assert set(cohort.table["s_resp"]) <= set(draws["s_resp"])
    assert cohort.table["k_T"].nunique() == cohort.n
    assert summary["n_plausible"] > 2500 and 300 < summary["n"] < summary["n_plausible"]
    baseline = cohort.table["biomarker_PASI"].to_numpy()
    # the biomarker is the simulated untreated PASI: the module's steady state, PASI0
    np.testing.assert_allclose(baseline, cohort.table["PASI0"], rtol=1e-6)
    target = _as_target(TARGET, ["PASI"])
    reference = target.sample(2000, seed=12)[:, 0]
    assert stats.ks_2samp(baseline, reference).pvalue > 0.05
    assert np.mean(baseline) == pytest.approx(10.9, rel=0.15)

    # the same candidates without selection do not match the target: the test can fail
    candidates, _ = build_vpop(_spec(tmp_path, selection=False), 3000, seed=11)
    model = qs.load_model(MODEL, guard=False)
    res = simulate_cohort(model, candidates, [0.0, 1.0], outputs=["PASI"], progress=False)
    pasi = res.values[:, 0, 0]
    plausible = pasi[(pasi >= 0.1) & (pasi <= 72)]
    unselected = np.random.default_rng(13).choice(plausible, size=cohort.n, replace=False)
    assert stats.ks_2samp(unselected, reference).pvalue < 1e-3
    # selection only drops candidates: the selected patients are candidates with the same parameters
    merged = cohort.table.merge(candidates.table, on=["k_T", "f_ind", "s_resp", "PASI0"], how="inner")
    assert len(merged) == cohort.n
    assert isinstance(cohort, Cohort) and cohort.seed == 11

    # posterior-predictive check of the selected vpop on the data the posterior came from (UltIMMa-1 week 16,
    # measurements.tsv: PASI90 0.049 placebo, 0.753 risankizumab; a consistency check, not a validation).
    # Measured: mean P_PASI90 0.049 and 0.744 (seed 11).
    conditions = pd.read_csv(MODEL.parent / "conditions.tsv", sep="\t").set_index("conditionId")
    observed = pd.read_csv(MODEL.parent / "measurements.tsv", sep="\t")
    for arm in ("placebo", "risankizumab_150mg"):
        table = cohort.table.assign(dose_nmol=float(conditions.loc[arm, "dose_nmol"]))
        week16 = simulate_cohort(model, Cohort(table, cohort.columns, cohort.seed), [0.0, 2688.0],
                                 outputs=["P_PASI90"], progress=False).values[:, 1, 0]
        data = observed[(observed.simulationConditionId == arm) & (observed.time == 2688.0)]["measurement"]
        assert float(np.mean(week16)) == pytest.approx(float(data.iloc[0]), abs=0.05), arm


def test_lognormal_target_from_a_published_mean_and_sd() -> None:
    from qsp_sbml.errors import PopulationError

    target = _as_target(TARGET, ["PASI"])
    x = target.sample(200_000, seed=1)[:, 0]
    assert x.mean() == pytest.approx(10.9, rel=0.02) and x.std() == pytest.approx(10.1, rel=0.03)
    with pytest.raises(PopulationError, match="mean > 0 and sd > 0"):
        _as_target({"distribution": "lognormal", "mean": 10.9, "sd": -1.0}, ["PASI"])
