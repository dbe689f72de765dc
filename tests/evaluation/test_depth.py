"""Does depth pay: paired log-loss by depth and the walk-forward depth figures, on hand-made decisions."""
import math

import numpy as np
import pandas as pd
import pytest

from hrm_core.evaluation.depth import depth_logloss, walk_forward_depth


def _probs(n: int, right: float, y: np.ndarray) -> np.ndarray:
    """Probability `right` on the true class, the rest split evenly."""
    p = np.full((n, 3), (1 - right) / 2)
    p[np.arange(n), y] = right
    return p


def test_paired_log_loss_by_depth_is_exact_and_says_whether_depth_pays():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    res = depth_logloss({"as_run": _probs(300, 0.5, y), "depth_1": _probs(300, 0.4, y),
                         "max_depth": _probs(300, 0.5, y)}, y.astype(float), max_segments=3, n_boot=200)
    assert res["logloss"]["depth_1"] == pytest.approx(-math.log(0.4))
    d = res["differences"]["max_depth_minus_depth_1"]
    assert d["mean"] == pytest.approx(math.log(0.4) - math.log(0.5)) and d["ci"][1] < 0
    assert res["pays"] is True and res["statement"].startswith("depth pays")
    assert res["differences"]["as_run_minus_max_depth"]["mean"] == 0.0
    hurt = depth_logloss({"as_run": _probs(300, 0.5, y), "depth_1": _probs(300, 0.5, y),
                          "max_depth": _probs(300, 0.4, y)}, y.astype(float), max_segments=3, n_boot=200)
    assert hurt["pays"] is False and hurt["statement"].startswith("depth hurts")


def test_unlabelled_or_unscored_decisions_are_left_out():
    y = np.array([0, 1, np.nan, 2])
    p = _probs(4, 0.6, np.array([0, 1, 0, 2]))
    p_nan = p.copy()
    p_nan[3] = np.nan
    res = depth_logloss({"as_run": p, "depth_1": p, "max_depth": p_nan}, y, max_segments=2, n_boot=50)
    assert res["n"] == 2


def _entry(times, steps, y, right_run, right_1, right_max, action, action_max):
    n = len(times)
    return {"time": [t.isoformat() for t in times], "p": _probs(n, right_run, y).tolist(), "y": y.astype(float).tolist(),
            "depth": {"steps": steps, "p_depth_1": _probs(n, right_1, y).tolist(),
                      "p_max": _probs(n, right_max, y).tolist(), "action": action, "action_max": action_max,
                      "max_segments": 3, "objective": "loss_improvement", "inference_mode": "adaptive"}}


def test_walk_forward_depth_concatenates_years_per_seed_and_averages_seeds():
    idx = pd.bdate_range("2010-01-01", periods=600, tz="UTC")
    close = pd.Series(100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 600))), index=idx)
    bars = pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0})
    rng = np.random.default_rng(2)
    years = [idx[100:350], idx[350:600]]
    seeds = []
    for _seed in range(2):
        entries = []
        for t in years:
            y = rng.integers(0, 3, len(t))
            steps = rng.integers(1, 4, len(t)).tolist()
            action = ["long"] * len(t)
            entries.append(_entry(t, steps, y, 0.5, 0.4, 0.5, action, ["long"] * (len(t) - 25) + ["flat"] * 25))
        seeds.append(entries)
    d = walk_forward_depth(seeds, bars, interval="1d", n_boot=100)
    assert d["seeds"] == 2 and d["decisions"] == 1000 and sum(d["segments_histogram"].values()) == 1000
    assert d["action_agreement"] == pytest.approx(450 / 500)
    assert d["differences"]["max_depth_minus_depth_1"]["mean"] == pytest.approx(math.log(0.4) - math.log(0.5))
    assert d["pays"] is True and d["inference_modes"] == ["adaptive"]
    assert -1 <= d["depth_volatility_corr"]["value"] <= 1
    del seeds[0][1]["depth"]  # a fold recorded before depth was kept: that seed is left out
    assert walk_forward_depth(seeds, bars, interval="1d", n_boot=50)["seeds"] == 1
    assert walk_forward_depth([seeds[0]], bars, interval="1d") is None
