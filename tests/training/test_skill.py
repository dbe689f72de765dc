"""Skill against the constant class-frequency predictor: paired differences, block-bootstrap intervals, words."""
import json

import numpy as np
import pytest

from hrm_cli import main as hrm
from hrm_core.training.skill import class_frequencies, skill_vs_null

FREQ = np.array([0.3, 0.3, 0.4])


def labels(n=600, seed=0):
    return np.random.default_rng(seed).choice(3, size=n, p=FREQ)


def test_the_constant_predictor_itself_shows_no_skill_with_a_zero_difference():
    y = labels()
    k = skill_vs_null(np.tile(FREQ, (len(y), 1)), y, FREQ, horizon=5, n_boot=300)
    assert k["logloss_diff"] == 0.0 and k["logloss_diff_ci"] == [0.0, 0.0]
    assert k["accuracy_diff"] == 0.0 and k["accuracy_constant"] == pytest.approx((y == 2).mean())
    assert k["verdict"].startswith("no evidence of skill")


def test_a_predictor_that_knows_the_label_has_skill_and_one_that_guesses_is_worse():
    y = labels()
    sure = np.full((len(y), 3), 0.05)
    sure[np.arange(len(y)), y] = 0.9
    k = skill_vs_null(sure, y, FREQ, horizon=5, n_boot=300)
    assert k["logloss_diff_ci"][1] < 0 and k["accuracy_diff_ci"][0] > 0 and k["verdict"].startswith("skill")
    wild = np.random.default_rng(1).dirichlet([0.3, 0.3, 0.3], size=len(y))  # confident and uninformed
    assert skill_vs_null(wild, y, FREQ, horizon=5, n_boot=300)["verdict"].startswith("worse")


def test_intervals_use_blocks_at_least_the_label_horizon_long():
    y = labels(n=100)
    k = skill_vs_null(np.tile(FREQ, (100, 1)), y, FREQ, horizon=20, n_boot=50)
    assert k["mean_block"] == 20 and class_frequencies(np.array([0, 2, 2, 2])).tolist() == [0.25, 0.0, 0.75]


def test_model_info_reports_validation_skill_against_the_null(capsys):
    assert hrm(["model", "info", "--model", "hrm-default", "--n-boot", "200", "--json"]) == 0
    k = json.loads(capsys.readouterr().out)["skill"]
    assert k["period"]["name"] == "validation" and k["n"] > 1000
    lo, hi = k["logloss_diff_ci"]
    assert lo <= k["logloss_diff"] <= hi
    expected = "skill" if hi < 0 else "worse" if lo > 0 else "no evidence of skill"
    assert k["verdict"].startswith(expected), (k["verdict"], lo, hi)  # the verdict follows the interval
