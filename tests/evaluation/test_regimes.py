"""Regimes: causal labels, constructed bull / bear / high-vol / sideways paths, per-regime metrics."""
import numpy as np
import pandas as pd
import pytest

from hrm_core.trading.metrics import cagr
from hrm_core.evaluation.regimes import classify_regimes, metrics_by_regime


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


# ----------------------------------------------------------------------------- the documented rules, at their edges

def _rise_then_fall_to(drawdown: float) -> pd.Series:
    """Turbulent history, a calm rise, then a smooth decline ending exactly `drawdown` below the running peak
    and held flat for 25 bars (zero volatility: never high_vol, and the price sits below its SMA200)."""
    rise = path(NOISY, (300, 0.001, 0.003))
    peak = float(rise.cummax().iloc[-1])
    fall = peak * (1.0 + drawdown) ** (np.arange(1, 61) / 60)
    return series(np.concatenate([rise.to_numpy(), fall, np.full(25, fall[-1])]))


@pytest.mark.parametrize("drawdown, label", [(-0.19, "sideways"), (-0.21, "bear")])
def test_bear_starts_at_a_20_percent_drawdown_from_the_running_peak(drawdown, label):
    close = _rise_then_fall_to(drawdown)
    assert close.iloc[-1] / close.cummax().iloc[-1] - 1 == pytest.approx(drawdown)
    assert classify_regimes(close).iloc[-1] == label


def _percentile_ranks(sigma: pd.Series) -> pd.Series:
    """Share of sigma's trailing history (through t) strictly below sigma_t: an oracle independent of quantile()."""
    v = sigma.to_numpy()
    return pd.Series([np.mean(v[: t + 1][np.isfinite(v[: t + 1])] < v[t]) if np.isfinite(v[t]) else np.nan
                      for t in range(len(v))], index=sigma.index)


def test_high_vol_starts_at_the_80th_trailing_percentile_of_20_bar_volatility():
    rng = np.random.default_rng(7)
    log_vol = np.zeros(1500)
    for i in range(1, 1500):  # volatility that wanders around 1 % a day (AR(1) in logs)
        log_vol[i] = 0.97 * log_vol[i - 1] + rng.normal(0, 0.12)
    vol = 0.01 * np.exp(log_vol)
    close = series(100 * np.cumprod(1 + rng.normal(0, 1, 1500) * vol))
    sigma = close.pct_change().rolling(20).std() * np.sqrt(252)
    rank = _percentile_ranks(sigma)
    rank[np.arange(len(rank)) < 300] = np.nan  # past the 252-value warm-up with room to spare
    labels = classify_regimes(close)
    below, above = labels[(rank >= 0.75) & (rank <= 0.79)], labels[(rank >= 0.81) & (rank <= 0.85)]
    assert len(below) >= 20 and len(above) >= 20  # both sides of the boundary are exercised
    assert (below != "high_vol").all() and (above == "high_vol").all()


def test_a_price_just_above_a_falling_sma200_is_not_bull():
    """A year-long decline, then a two-month rebound that lifts the price just above its SMA200 while the
    SMA200 still falls over 20 bars: the trend rule says not bull (a short SMA or a 1-bar slope would say bull)."""
    closes = np.concatenate([path(NOISY).to_numpy(), 100 * np.linspace(1.0, 0.85, 250), 85 * np.linspace(1.0, 1.06, 45)])
    close = series(closes)
    sma = close.rolling(200).mean()
    assert 0 < close.iloc[-1] / sma.iloc[-1] - 1 < 0.02 and sma.iloc[-1] < sma.iloc[-21]
    assert close.iloc[-1] / close.cummax().iloc[-1] - 1 > -0.20  # not a bear market
    label = classify_regimes(close).iloc[-1]
    assert label == "sideways"
