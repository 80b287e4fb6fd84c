"""Response-adaptive randomisation: posterior comparisons, capping, operating characteristics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial.rar import prob_better, rar_allocation, simulate_rar


@pytest.mark.parametrize("params", [(3, 2, 2, 3), (3.5, 2, 2, 3), (12, 30, 8, 34)])
def test_prob_better_matches_monte_carlo(params: tuple[float, float, float, float]) -> None:
    a1, b1, a0, b0 = params
    rng = np.random.default_rng(0)
    draws = rng.beta(a1, b1, 400_000) > rng.beta(a0, b0, 400_000)
    p = prob_better(a1, b1, a0, b0)
    assert abs(draws.mean() - p) <= 3 * math.sqrt(p * (1 - p) / 400_000)


def test_allocation_favours_the_better_arm_and_respects_caps() -> None:
    rng = np.random.default_rng(1)
    w = rar_allocation([5, 20], [45, 30], rng=rng)
    assert w[1] > 0.99
    capped = rar_allocation([5, 20, 6], [45, 30, 44], min_allocation=0.1, max_allocation=0.7, rng=rng)
    assert capped.sum() == pytest.approx(1.0)
    assert capped.max() <= 0.7 + 1e-12 and capped.min() >= 0.1 - 1e-12
    with pytest.raises(TrialDesignError) as err:
        rar_allocation([1, 1], [1, 1], max_allocation=0.4)
    assert err.value.field == "max_allocation"


def test_operating_characteristics_by_simulation() -> None:
    # null: arms symmetric, so the mean allocation is n_max/2 each; the per-trial allocation to arm 1
    # is bounded by n_max, so its SD is <= 50 and 3 SE over 200 trials is <= 10.6 subjects
    null = simulate_rar([0.25, 0.25], n_max=80, burn_in=20, block=10, n_sim=200, seed=1)
    assert abs(null.n_per_arm[1] - 40) <= 3 * 50 / math.sqrt(200)
    assert null.n_per_arm.sum() == pytest.approx(80)
    # alternative: the better arm receives more patients and the trial treats more responders than 1:1
    alt = simulate_rar([0.2, 0.5], n_max=80, burn_in=20, block=10, max_allocation=0.85, n_sim=200, seed=2,
                       power="thall_wathen")
    assert alt.n_per_arm[1] > alt.n_per_arm[0] + 10
    assert alt.responders_per_arm.sum() > 80 * (0.2 + 0.5) / 2
    assert alt.success > null.success + 3 * (alt.success_se + null.success_se)


def test_bad_rar_inputs() -> None:
    with pytest.raises(TrialDesignError) as err:
        simulate_rar([0.2, 0.3], n_max=40, allocation=[0.6, 0.6], n_sim=1)
    assert err.value.field == "allocation" and "sum to 1" in str(err.value)
    with pytest.raises(TrialDesignError) as err:
        simulate_rar([0.2, 1.3], n_max=40, n_sim=1)
    assert err.value.field == "response_rates"
    with pytest.raises(TrialDesignError) as err:
        simulate_rar([0.2, 0.3], n_max=40, control=2, n_sim=1)
    assert err.value.field == "control"
