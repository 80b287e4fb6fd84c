"""PROCOVA: variance reduction by a prognostic score of known R²."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial.twin import procova, procova_sample_size

RHO2 = 0.5  # true squared correlation between prognostic score and outcome (within arm)


def _trial(rng: np.random.Generator, n: int = 100, effect: float = 0.3) -> pd.DataFrame:
    score = rng.normal(0.0, 1.0, 2 * n)
    noise = rng.normal(0.0, math.sqrt(1 - RHO2) / math.sqrt(RHO2), 2 * n)
    arm = np.repeat(["drug", "placebo"], n)
    y = score + noise + np.where(arm == "drug", effect, 0.0)  # corr(score, y | arm)² = RHO2
    return pd.DataFrame({"arm": arm, "twin_prediction": score, "y": y})


def test_variance_reduction_matches_one_minus_r_squared() -> None:
    rng = np.random.default_rng(2022)
    reps = 200
    ratios, r2, est_adj, est_raw = [], [], [], []
    for _ in range(reps):
        res = procova(_trial(rng), outcome="y", prognostic_score="twin_prediction", treatment="drug",
                      control="placebo")
        ratios.append(res.variance_ratio)
        r2.append(res.r_squared)
        est_adj.append(res.adjusted.estimate)
        est_raw.append(res.unadjusted.estimate)
    ratios_a = np.asarray(ratios)
    # model-based variance ratio: mean over replicates within 3 Monte Carlo SE of (1 - R²) times the
    # small-sample factor (n - 2)/(n - 3) of one extra ANCOVA degree of freedom (n = 200 subjects)
    expected = (1 - RHO2) * 198 / 197
    assert abs(ratios_a.mean() - expected) <= 3 * ratios_a.std(ddof=1) / math.sqrt(reps) + 1e-3
    assert abs(np.mean(r2) - RHO2) <= 3 * np.std(r2, ddof=1) / math.sqrt(reps)
    # empirical variance of the estimates across replicate trials: ratio ~ 1 - R²; the log of a
    # variance ratio from 200 replicates has SE <= sqrt(2/199 + 2/199) = 0.14 (independent case,
    # conservative here since both estimators are positively correlated); acceptance 3 SE
    emp = np.var(est_adj, ddof=1) / np.var(est_raw, ddof=1)
    assert abs(math.log(emp / (1 - RHO2))) <= 3 * math.sqrt(4 / 199)
    # and the unbiasedness of both estimators (true effect 0.3)
    assert abs(np.mean(est_adj) - 0.3) <= 3 * np.std(est_adj, ddof=1) / math.sqrt(reps)


def test_sample_size_saving() -> None:
    assert procova_sample_size(300, 0.36) == 192
    assert procova_sample_size(100, 0.0) == 100
    res = procova(_trial(np.random.default_rng(1), n=400), outcome="y", prognostic_score="twin_prediction",
                  treatment="drug", control="placebo")
    assert res.sample_size(400) == math.ceil(400 * (1 - res.r_squared))
    assert res.sample_size(400) == pytest.approx(200, abs=40)
    with pytest.raises(TrialDesignError) as err:
        procova_sample_size(100, 1.0)
    assert err.value.field == "r_squared"


def test_constant_score_is_refused() -> None:
    df = _trial(np.random.default_rng(3)).assign(twin_prediction=1.0)
    with pytest.raises(TrialDesignError) as err:
        procova(df, outcome="y", prognostic_score="twin_prediction", treatment="drug", control="placebo")
    assert err.value.field == "twin_prediction"
