"""Equal risk: the scale reads only the past, brings strategies to the same volatility, and the verdict words
follow the paired interval."""
import numpy as np
import pandas as pd
import pytest

from hrm_core.evaluation.equal_risk import MIN_BARS, TARGET_VOL, risk_scale
from hrm_core.evaluation.verdict import _word


def _returns(n=600, vol=0.01, seed=0):
    idx = pd.bdate_range("2020-01-01", periods=n, tz="UTC")
    return pd.Series(np.random.default_rng(seed).normal(0, vol, n), index=idx)


def test_the_scale_is_causal_and_flat_before_it_has_an_estimate():
    r = _returns()
    k = risk_scale(r, periods_per_year=252)
    future = r.copy()
    future.iloc[400:] *= 5  # perturb the future
    k2 = risk_scale(future, periods_per_year=252)
    pd.testing.assert_series_equal(k.iloc[:400], k2.iloc[:400])
    assert (k.iloc[:MIN_BARS - 1] == 0).all() and (k.iloc[MIN_BARS:] > 0).all()


def test_scaled_returns_reach_the_target_volatility_whatever_the_exposure():
    for vol in (0.001, 0.01, 0.03):  # a 10 % position, a full one, a leveraged-looking one
        r = _returns(vol=vol, seed=1)
        k = risk_scale(r, periods_per_year=252)
        scaled = (k.shift(1) * r).iloc[100:]  # the scale decided at the close of t earns bar t+1
        assert scaled.std() * np.sqrt(252) == pytest.approx(TARGET_VOL, rel=0.15)


def test_the_verdict_word_follows_the_paired_interval():
    assert _word((0.1, 0.5)) == "better" and _word((-0.5, -0.1)) == "worse"
    assert _word((-0.2, 0.3)) == "no clear difference"
