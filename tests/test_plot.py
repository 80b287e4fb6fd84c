"""qsp_sbml.plot: every figure is written (PNG signature), bad input is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qsp_sbml import plot

PNG = b"\x89PNG\r\n\x1a\n"


def _png(path) -> bool:
    return path.read_bytes()[:8] == PNG


def test_prediction_band_and_spaghetti(tmp_path) -> None:
    t = np.linspace(0, 24, 25)
    v = np.exp(-np.outer(np.random.default_rng(1).lognormal(-2, 0.3, 40), t))
    v[3] = np.nan  # a failed subject is left out
    obs = pd.DataFrame({"time": [2.0, 12.0], "value": [0.8, 0.2], "lower": [0.7, 0.1], "upper": [0.9, 0.3]})
    assert _png(plot.prediction_band(t, v, tmp_path / "band.png", observed=obs, logy=True))
    assert _png(plot.spaghetti(t, v, tmp_path / "spag.png", n=10))
    with pytest.raises(ValueError, match="level"):
        plot.prediction_band(t, v, tmp_path / "x.png", level=1.5)
    with pytest.raises(ValueError, match="no finite trajectory"):
        plot.prediction_band(t, np.full((3, 25), np.nan), tmp_path / "x.png")
    with pytest.raises(ValueError, match="2-D"):
        plot.spaghetti(t, v[0], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_power_forest_waterfall(tmp_path) -> None:
    power = pd.DataFrame({"n": [10, 20, 40, 10, 20, 40], "power": [0.3, 0.55, 0.85, 0.2, 0.4, 0.7],
                          "label": ["a"] * 3 + ["b"] * 3})
    assert _png(plot.power_curve(power, tmp_path / "power.png"))
    forest = pd.DataFrame({"label": ["AUC", "Cmax"], "estimate": [1.1, 0.95], "lower": [1.0, 0.85],
                           "upper": [1.2, 1.05]})
    assert _png(plot.forest(forest, tmp_path / "forest.png", reference=1.0, log=True))
    assert _png(plot.waterfall(np.array([-95.0, -40.0, 10.0, np.nan]), tmp_path / "wf.png",
                               thresholds=(-90.0,)))
