"""Regimes: causal labels, constructed bull / bear / high-vol / sideways paths, per-regime metrics."""
import numpy as np
import pandas as pd
import pytest

from hrm_core.metrics import cagr
from hrm_core.regimes import classify_regimes, metrics_by_regime


def series(values):
    idx = pd.date_range("2000-01-03", periods=len(values), freq="B", tz="UTC", name="time")
    return pd.Series(np.asarray(values, dtype=float), index=idx)


def path(*segments):
    """Closes from segments (bars, drift, swing): r_t = drift +- swing, alternating (exact, known volatility)."""
    r = np.concatenate([drift + swing * (-1.0) ** np.arange(n) for n, drift, swing in segments])
    return series(100 * np.cumprod(1 + r))


NOISY = (400, 0.0, 0.02)  # a turbulent history sets the trailing volatility percentile high


def test_labels_are_causal_perturbing_the_future_leaves_the_past_unchanged():
    rng = np.random.default_rng(0)
    close = series(100 * np.cumprod(1 + rng.normal(0.0003, 0.012, 900)))
    k = 600
    future = close.copy()
    future.iloc[k + 1 :] *= np.exp(np.cumsum(rng.normal(-0.01, 0.05, 900 - k - 1)))
    a, b = classify_regimes(close), classify_regimes(future)
    pd.testing.assert_series_equal(a.iloc[: k + 1], b.iloc[: k + 1])
    assert not a.iloc[k + 1 :].equals(b.iloc[k + 1 :])


def test_warm_up_is_unknown_until_every_rule_has_its_data():
    labels = classify_regimes(path(NOISY, (300, 0.001, 0.003)))
    # 20 returns for the first sigma, then 252 sigmas for the trailing percentile: bar 271
    assert (labels.iloc[:271] == "unknown").all() and labels.iloc[271] != "unknown"


def test_calm_uptrend_is_bull():
    labels = classify_regimes(path(NOISY, (300, 0.001, 0.003)))
    assert (labels.iloc[-100:] == "bull").all()


def test_calm_decline_of_more_than_20_percent_is_bear():
    close = path(NOISY, (300, -0.0015, 0.003))
    labels = classify_regimes(close)
    assert close.iloc[-1] / close.cummax().iloc[-1] - 1 < -0.20
    assert (labels.iloc[-100:] == "bear").all()


def test_a_volatility_burst_is_high_vol_and_takes_precedence_over_bear():
    close = path((400, 0.0005, 0.003), (40, -0.01, 0.04))
    labels = classify_regimes(close)
    assert close.iloc[-1] / close.cummax().iloc[-1] - 1 < -0.20  # also a bear market
    assert (labels.iloc[-20:] == "high_vol").all()


def test_calm_flat_market_is_sideways():
    labels = classify_regimes(path(NOISY, (400, 0.0, 0.003)))
    assert (labels.iloc[-100:] == "sideways").all()


def test_metrics_by_regime_assigns_each_return_to_the_label_known_when_it_was_decided():
    regimes = series(np.zeros(5)).astype(object)
    regimes[:] = ["bull", "bear", "bull", "bear", "bull"]
    r = series([0.5, 0.01, -0.02, 0.03, 0.04])
    table = metrics_by_regime(r, regimes, periods_per_year=252, benchmark=r * 2)
    # return at t is grouped under the label at t-1: bull gets r1, r3; bear gets r2, r4; r0 is unknown
    assert table.loc["bull", "Bars"] == 2 and table.loc["bear", "Bars"] == 2 and table.loc["unknown", "Bars"] == 1
    assert table.loc["bull", "Annual return [%]"] == pytest.approx(100 * cagr([0.01, 0.03], periods_per_year=252))
    assert table.loc["bear", "Annual return [%]"] == pytest.approx(100 * cagr([-0.02, 0.04], periods_per_year=252))
    assert table["Share [%]"].sum() == pytest.approx(100)
    assert "Benchmark annual return [%]" in table.columns


def test_metrics_by_regime_requires_the_same_bars():
    with pytest.raises(ValueError, match="same index"):
        metrics_by_regime(series([0.01, 0.02]), series([0, 0, 0]).astype(object), periods_per_year=252)
