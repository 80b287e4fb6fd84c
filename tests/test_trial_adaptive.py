"""Group-sequential boundaries against published values; operating characteristics by simulation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qsp_sbml.errors import TrialDesignError
from qsp_sbml.trial.adaptive import (
    crossing_probabilities,
    group_sequential_design,
    simulate_group_sequential,
    spending,
)

TABLE = Path(__file__).parent / "data" / "gsd_boundaries.tsv"


def _cases() -> list[tuple[str, pd.DataFrame]]:
    df = pd.read_csv(TABLE, sep="\t", comment="#", dtype=str, keep_default_na=False)
    return list(df.groupby("case", sort=False))


def _num(value: str) -> float | None:
    return float(value) if value != "" else None


def _spec(value: str) -> str | list[float]:
    return [float(v) for v in value.split(",")] if "," in value else value


@pytest.mark.parametrize(("case", "rows"), _cases(), ids=[c for c, _ in _cases()])
def test_boundaries_match_published_values(case: str, rows: pd.DataFrame) -> None:
    first = rows.iloc[0]
    kwargs: dict[str, object] = {}
    if first["beta"]:
        kwargs = {"beta": float(first["beta"]), "beta_spending": _spec(first["beta_spending"]),
                  "beta_param": _num(first["beta_param"])}
    design = group_sequential_design(
        [float(v) for v in first["information"].split(",")], alpha=float(first["alpha"]), sides=int(first["sides"]),
        spending=first["spending"], spending_param=_num(first["spending_param"]), **kwargs,
    )
    for _, row in rows.iterrows():
        got = (design.efficacy if row["bound"] == "efficacy" else design.futility)[int(row["look"]) - 1]
        tol = 0.5 * 10 ** -int(row["decimals"])
        assert abs(got - float(row["value"])) <= tol, (case, row["bound"], row["look"], got, row["value"])


def test_two_sided_symmetric_equals_one_sided_half_alpha() -> None:
    one = group_sequential_design([1 / 3, 2 / 3, 1], alpha=0.025)
    two = group_sequential_design([1 / 3, 2 / 3, 1], alpha=0.05, sides=2)
    # crossing the lower bound first and then the upper one is negligible (< 1e-8)
    assert np.allclose(one.efficacy, two.efficacy, atol=1e-4)


def test_spent_alpha_is_exact_under_the_null() -> None:
    design = group_sequential_design([0.25, 0.5, 0.75, 1.0], alpha=0.025, spending="pocock")
    probs = crossing_probabilities(design, 0.0)
    assert np.allclose(np.cumsum(probs["efficacy"]), design.alpha_spent, atol=1e-9)
    assert math.isclose(float(spending("pocock", [1.0], 0.025)[0]), 0.025)


def test_design_power_equals_one_minus_beta_at_its_drift() -> None:
    design = group_sequential_design([0.5, 1.0], alpha=0.025, beta=0.2, beta_spending="obrien_fleming")
    probs = crossing_probabilities(design, design.drift)  # type: ignore[arg-type]
    assert probs["efficacy"].sum() == pytest.approx(0.8, abs=1e-6)
    assert 1.0 < design.inflation_factor() < 1.2


def test_simulated_operating_characteristics_match_the_recursion() -> None:
    # 4000 trials: MC SE of a probability p is sqrt(p(1-p)/4000) <= 0.0079; tolerance 3 SE.
    design = group_sequential_design([1 / 3, 2 / 3, 1], alpha=0.025, beta=0.1, beta_spending="pocock")
    n = 100
    for effect in (0.0, 0.4):
        drift = effect / math.sqrt(2 / n)
        exact = crossing_probabilities(design, drift)
        oc = simulate_group_sequential(design, effect=effect, sd=1.0, n_per_arm=n, n_sim=4000, seed=11)
        assert abs(oc.reject - exact["efficacy"].sum()) <= 3 * max(oc.reject_se, 1e-3)
        p_fut = exact["futility"].iloc[:-1].sum()
        assert abs(oc.futility_stop - p_fut) <= 3 * math.sqrt(p_fut * (1 - p_fut) / 4000) + 1e-3
        looks = np.round(np.array(design.information) * n)
        stop = exact["efficacy"].to_numpy() + exact["futility"].to_numpy()
        stop[-1] = 1 - stop[:-1].sum()
        assert abs(oc.expected_n - float(stop @ looks)) <= 3 * oc.expected_n_se + 0.5


def test_type_one_error_of_efficacy_only_design_by_simulation() -> None:
    design = group_sequential_design([0.2, 0.4, 0.6, 0.8, 1.0], alpha=0.025)
    oc = simulate_group_sequential(design, effect=0.0, sd=2.0, n_per_arm=50, n_sim=6000, seed=5)
    se = math.sqrt(0.025 * 0.975 / 6000)
    assert abs(oc.reject - 0.025) <= 3 * se


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"information": [0.5, 0.4]}, "information"),
        ({"information": [0.5, 1.0], "alpha": 1.5}, "alpha"),
        ({"information": [0.5, 1.0], "spending": "linear"}, "spending"),
        ({"information": [0.5, 1.0], "spending": [0.01]}, "spending"),
        ({"information": [0.5, 1.0], "beta": 0.2}, "beta_spending"),
        ({"information": [0.5, 1.0], "sides": 3}, "sides"),
    ],
)
def test_bad_designs_name_the_field(kwargs: dict[str, object], field: str) -> None:
    info = kwargs.pop("information")
    with pytest.raises(TrialDesignError) as err:
        group_sequential_design(info, **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


@pytest.mark.slow
def test_operating_characteristics_tight_monte_carlo() -> None:
    # 40,000 trials: SE <= 0.0025; power and futility stopping within 3 SE of the recursion
    design = group_sequential_design([0.25, 0.5, 0.75, 1.0], alpha=0.025, spending="obrien_fleming", beta=0.2,
                                     beta_spending="hsd", beta_param=-2)
    n = 120
    effect = design.drift * math.sqrt(2 / n)  # type: ignore[operator]
    exact = crossing_probabilities(design, design.drift)  # type: ignore[arg-type]
    oc = simulate_group_sequential(design, effect=effect, sd=1.0, n_per_arm=n, n_sim=40_000, seed=3)
    assert abs(oc.reject - 0.8) <= 3 * oc.reject_se
    assert abs(oc.reject - exact["efficacy"].sum()) <= 3 * oc.reject_se
