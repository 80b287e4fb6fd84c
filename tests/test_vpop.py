"""Variability, posterior draws and Allen-Rieger-Musante virtual-population selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import qsp_sbml as qs
from qsp_sbml.errors import PopulationError
from qsp_sbml.population import (
    Cohort,
    PowerCovariate,
    TargetDistribution,
    apply_covariates,
    iiv_covariance,
    lognormal_iiv,
    plausible_mask,
    read_draws,
    sample_draws,
    select_vpop,
    simulate_cohort,
)
from qsp_sbml.population.vpop import kde_logpdf

REPO = Path(__file__).resolve().parents[1]
DRAWS = Path(__file__).parent / "data" / "theophylline_laplace_draws.tsv"


# -- inter-individual variability ------------------------------------------
def test_iiv_covariance_reproduced_from_cvs_and_correlation() -> None:
    cv = {"CL": 0.3, "V": 0.2, "ka": 0.5}
    corr = [[1.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 1.0]]
    omega = iiv_covariance(list(cv), cv=cv, correlation=corr)
    assert omega[0, 0] == pytest.approx(np.log(1 + 0.3**2))
    typical = {"CL": 2.0, "V": 30.0, "ka": 1.5}
    df = lognormal_iiv(typical, 10_000, seed=11, cv=cv, correlation=corr)
    eta = np.log(df[list(cv)].to_numpy() / np.array(list(typical.values())))
    sample = np.cov(eta, rowvar=False)
    # sampling SD of a covariance entry ~ sqrt((s_ii s_jj + s_ij^2) / n) <= 0.0032 here: 4 SD tolerance
    assert np.max(np.abs(sample - omega)) < 0.013
    assert np.max(np.abs(eta.mean(axis=0))) < 0.02
    # the CV of theta itself is the requested one
    assert df["CL"].std() / df["CL"].mean() == pytest.approx(0.3, abs=0.015)


def test_iiv_with_omega_and_per_subject_typical_values() -> None:
    base = pd.DataFrame({"CL": [1.0, 2.0, 4.0] * 2000})
    out = lognormal_iiv(base, seed=3, omega=[[0.04]])
    ratio = np.log(out["CL"] / base["CL"])
    assert ratio.var() == pytest.approx(0.04, rel=0.06)
    with pytest.raises(PopulationError, match="positive semi-definite"):
        iiv_covariance(["a", "b"], omega=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(PopulationError, match="exactly the parameters"):
        iiv_covariance(["a"], cv={"b": 0.1})


def test_power_covariate() -> None:
    params = pd.DataFrame({"CL": [2.0, 2.0]})
    cov = pd.DataFrame({"weight_kg": [70.0, 140.0]})
    out = apply_covariates(params, cov, [PowerCovariate(parameter="CL", covariate="weight_kg", reference=70.0,
                                                        exponent=0.75)])
    assert out["CL"].tolist() == pytest.approx([2.0, 2.0 * 2**0.75])
    with pytest.raises(PopulationError, match=r"row 2, column 'weight_kg'"):
        apply_covariates(params, pd.DataFrame({"weight_kg": [70.0, -1.0]}),
                         [PowerCovariate(parameter="CL", covariate="weight_kg", reference=70.0, exponent=1.0)])


def test_read_draws_errors_name_row_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "draws.tsv"
    bad.write_text("CL\tV\n2.0\t30\n-1\t31\n")
    with pytest.raises(PopulationError, match=r"draws.tsv, row 2, column 'CL'"):
        read_draws(bad)
    out = sample_draws(pd.DataFrame({"CL": [1.0, 2.0, 3.0], "neglogpost": [-1.0, 0.0, 2.0]}), 5, seed=1)
    assert list(out.columns) == ["draw", "CL"]
    assert out["CL"].tolist() == [float(v + 1) for v in out["draw"]]


# -- density pieces ----------------------------------------------------------
def test_kde_matches_scipy_gaussian_kde() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(300, 2)) @ np.array([[1.0, 0.4], [0.0, 0.7]])
    at = rng.normal(size=(20, 2))
    ours = kde_logpdf(pts, at)
    ref = stats.gaussian_kde(pts.T).logpdf(at.T)
    assert np.allclose(ours, ref, atol=1e-10)


def test_target_logpdf_matches_scipy() -> None:
    t = TargetDistribution(biomarkers=("a", "b"), mean=(0.1, 1.0), cov=((0.2, 0.05), (0.05, 0.3)), log=True)
    x = np.array([[1.2, 2.5], [0.7, 3.1]])
    ref = stats.multivariate_normal([0.1, 1.0], [[0.2, 0.05], [0.05, 0.3]]).logpdf(np.log(x)) - np.log(x).sum(1)
    assert np.allclose(t.logpdf(x), ref)


# -- Allen-Rieger-Musante selection on a project PEtab problem --------------------
def _plausible_theophylline(n: int) -> tuple[Cohort, pd.DataFrame]:
    """Posterior draws (Laplace approximation, see tests/data/theophylline_laplace_draws.py) + 30 % IIV.

    The PEtab parameter ``V`` sets the model's ``Vc`` (conditions table), so it is renamed.
    """
    draws = sample_draws(DRAWS, n, seed=5)[["CL", "V", "ka"]].rename(columns={"V": "Vc"})
    params = lognormal_iiv(draws, seed=6, cv={"CL": 0.3, "Vc": 0.3, "ka": 0.3})
    cohort = Cohort.from_parts(parameters=params, seed=5)
    model = qs.load_model(REPO / "petab_problems" / "theophylline" / "model.xml", guard=False)
    # biomarker: plasma concentration 12 h after 320 mg orally (the dose of subject 1 of the data set)
    res = simulate_cohort(model, cohort, [0.0, 12.0], outputs=["C"], regimen="320 mg po to A_gut")
    biomarkers = pd.DataFrame({"C12": res.values[:, 1, 0]})
    return cohort, biomarkers


def test_selection_matches_target_distribution_and_fails_without_it() -> None:
    cohort, bio = _plausible_theophylline(3000)
    keep = plausible_mask(bio, {"C12": (0.5, 30.0)})
    assert keep.mean() > 0.95
    plausible, bio = cohort.select(keep), bio[keep].reset_index(drop=True)
    log_c = np.log(bio["C12"])
    # target: log-normal, median 1.3x the plausible median, log-SD 0.6x the plausible one
    target = TargetDistribution(biomarkers=("C12",), mean=(float(np.median(log_c)) + np.log(1.3),),
                                sd=(0.6 * float(log_c.std()),), log=True)
    sel = select_vpop(bio, target, seed=8)
    vpop = plausible.select(sel.selected)
    assert 150 < vpop.n < len(bio)
    reference = target.sample(2000, seed=9)[:, 0]
    p_selected = stats.ks_2samp(bio["C12"][sel.selected], reference).pvalue
    assert p_selected > 0.05
    # the same number of plausible patients without selection does not match: the test can fail
    unselected = np.random.default_rng(10).choice(len(bio), size=vpop.n, replace=False)
    assert stats.ks_2samp(bio["C12"].to_numpy()[unselected], reference).pvalue < 1e-3
    # prevalence weighting: the weighted log-mean and log-SD are the target's
    w = select_vpop(bio, target, method="weights").weights
    mean = np.sum(w * log_c)
    assert mean == pytest.approx(target.mean[0], abs=0.03)
    assert np.sqrt(np.sum(w * (log_c - mean) ** 2)) == pytest.approx(target.sd[0], rel=0.1)


def test_selection_errors() -> None:
    target = TargetDistribution(biomarkers=("C",), mean=(0.0,), sd=(1.0,))
    with pytest.raises(PopulationError, match="column 'C'"):
        select_vpop(pd.DataFrame({"X": [1.0, 2.0]}), target)
    with pytest.raises(PopulationError, match="row 2"):
        select_vpop(pd.DataFrame({"C": [1.0, np.nan, 2.0]}), target)
    with pytest.raises(PopulationError, match="either sd"):
        TargetDistribution(biomarkers=("C",), mean=(0.0,))
