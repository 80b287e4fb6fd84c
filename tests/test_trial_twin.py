"""Digital twins: PROCOVA variance reduction (part a); N-of-1 MAP/posterior and regimen ranking (part b)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial.twin import (
    ResidualError,
    TwinPrior,
    fit_twin,
    procova,
    procova_sample_size,
    rank_regimens,
)

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


# ---- part (b): N-of-1 twin ------------------------------------------------------------------------


def _linear_case() -> tuple[np.ndarray, TwinPrior, float, np.ndarray]:
    """Predictions linear in the log parameters, additive Gaussian error: the posterior is Gaussian."""
    a = np.array([[1.0, 0.5], [0.2, 1.5], [1.0, -1.0]])
    prior = TwinPrior(names=("p1", "p2"), typical=np.array([2.0, 0.5]), omega=np.array([[0.3, 0.1], [0.1, 0.5]]))
    sigma = 0.4
    y = np.array([1.3, -0.2, 0.9])
    return a, prior, sigma, y


def test_linear_gaussian_map_and_posterior_match_closed_form() -> None:
    a, prior, sigma, y = _linear_case()
    post = fit_twin(lambda th: a @ np.log(th), y, prior, ResidualError(additive=sigma),
                    predict_many=lambda th: np.log(th) @ a.T, n_proposals=20_000, n_sample=20_000, seed=11)
    # closed form for eta: precision Omega^-1 + A'A/s², mean = cov A'(y - A log typical)/s²
    prec = np.linalg.inv(prior.omega) + a.T @ a / sigma**2
    cov = np.linalg.inv(prec)
    mean = cov @ a.T @ (y - a @ np.log(prior.typical)) / sigma**2
    np.testing.assert_allclose(post.eta_map, mean, atol=1e-5)
    np.testing.assert_allclose(post.cov, cov, rtol=1e-4, atol=1e-7)
    # importance-resampled sample: Monte Carlo tolerance 4 SE of the mean (SE = sd / sqrt(ESS))
    se = np.sqrt(np.diag(cov) / post.ess)
    assert np.all(np.abs(post.sample.mean(axis=0) - mean) < 4 * se + 4 * np.sqrt(np.diag(cov) / 20_000))
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(np.cov(post.sample.T) - cov) < 0.06 * np.outer(sd, sd))  # ~5 MC SE at this ESS
    assert post.ess > 0.5 * post.n_proposals  # the Laplace proposal is the exact shape here


def _one_compartment(times: np.ndarray, dose: float = 100.0) -> tuple[TwinPrior, object, object]:
    """Oral one-compartment model (Bateman function) with CL, V, ka; closed form, vectorised."""
    prior = TwinPrior.from_cv({"CL": 5.0, "V": 50.0, "ka": 1.0}, {"CL": 0.3, "V": 0.2, "ka": 0.4})

    def many(th: np.ndarray) -> np.ndarray:
        th = np.atleast_2d(th)
        cl, v, ka = th[:, :1], th[:, 1:2], th[:, 2:3]
        ke = cl / v
        return dose * ka / (v * (ka - ke)) * (np.exp(-ke * times) - np.exp(-ka * times))

    return prior, (lambda th: many(th)[0]), many


def test_map_recovers_a_known_individual_from_rich_data() -> None:
    times = np.array([0.1, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24.0])
    prior, one, many = _one_compartment(times)
    truth = np.array([9.0, 40.0, 0.6])  # far from the typical values
    err = ResidualError(proportional=0.02, additive=1e-4)
    y = one(truth) * (1 + 0.02 * np.random.default_rng(3).standard_normal(times.size))
    post = fit_twin(one, y, prior, err, predict_many=many, n_proposals=500, seed=4)
    np.testing.assert_allclose(post.theta_map, truth, rtol=0.08)
    ci = post.interval(0.99)
    for k, name in enumerate(prior.names):
        assert ci[name][0] < truth[k] < ci[name][1]


def test_credible_intervals_cover_truth_at_nominal_rate() -> None:
    """Truths drawn from the prior, sparse data: 90% intervals cover at 0.90 +/- 3 MC SE (n = 120)."""
    times = np.array([1.0, 4.0, 12.0])
    prior, one, many = _one_compartment(times)
    err = ResidualError(proportional=0.15, additive=0.01)
    rng = np.random.default_rng(20260)
    n, hits = 120, np.zeros(3)
    for _ in range(n):
        truth = prior.values(rng.multivariate_normal(np.zeros(3), prior.omega))
        pred = one(truth)
        y = pred + rng.standard_normal(3) * np.sqrt(err.variance(pred))
        post = fit_twin(one, y, prior, err, predict_many=many, n_proposals=600, seed=rng, starts=2)
        ci = post.interval(0.9)
        hits += [ci[p][0] <= truth[k] <= ci[p][1] for k, p in enumerate(prior.names)]
    cover = hits / n
    tol = 3 * math.sqrt(0.9 * 0.1 / n)  # 0.082
    assert np.all(np.abs(cover - 0.9) < tol), cover


def test_rank_regimens_orders_by_probability_with_intervals() -> None:
    rng = np.random.default_rng(0)
    ranks = rank_regimens({"low": rng.normal(1.0, 1, 400), "high": rng.normal(3.0, 1, 400)}, threshold=2.0)
    assert [r.regimen for r in ranks] == ["high", "low"]
    assert ranks[0].rank == 1 and ranks[0].prob_low < ranks[0].probability < ranks[0].prob_high
    assert abs(ranks[0].probability - 0.84) < 0.06  # P(N(3,1) > 2) = 0.841
    below = rank_regimens({"low": rng.normal(1.0, 1, 400), "high": rng.normal(3.0, 1, 400)}, threshold=2.0,
                          direction="below")
    assert below[0].regimen == "low"


def test_twin_bad_input_names_the_field() -> None:
    with pytest.raises(TrialDesignError, match="parameters.V.cv"):
        TwinPrior.from_cv({"CL": 1.0, "V": 2.0}, {"CL": 0.3})
    with pytest.raises(TrialDesignError, match="error.proportional"):
        ResidualError(proportional=-0.1)
    prior = TwinPrior.from_cv({"CL": 1.0}, {"CL": 0.3})
    with pytest.raises(TrialDesignError, match="^error: observation 1"):
        fit_twin(lambda th: th, [1.0], prior, ResidualError())
    with pytest.raises(TrialDesignError, match="target.direction"):
        rank_regimens({"a": np.ones(3)}, threshold=1.0, direction="sideways")
