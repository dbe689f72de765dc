"""Rule baselines on hand examples, and through the same backtest and costs as the model."""
import numpy as np
import pandas as pd
import pytest

from hrm_core.trading.backtest import run_backtest
from hrm_core.evaluation.baselines import (
    MODEL_BASELINES, bars_for, buy_and_hold, momentum, rule_baselines, sma_crossover, vol_target_buy_and_hold,
)
from hrm_core.training.logistic import fit_l2_logistic, predict_proba


def series(values) -> pd.Series:
    idx = pd.date_range("2020-01-01", periods=len(values), freq="D", tz="UTC", name="time")
    return pd.Series(np.asarray(values, dtype=float), index=idx)


def test_buy_and_hold_is_long_every_bar_and_earns_the_asset_less_the_entry_cost():
    close = series([100, 110, 99])
    pos = buy_and_hold(close)
    assert pos.tolist() == [1.0, 1.0, 1.0]
    bt = run_backtest(pos, close, commission_bps=1.0, slippage_bps=2.0, execution="close")
    assert bt.equity.tolist() == pytest.approx([1 - 3e-4, (1 - 3e-4) * 1.1, (1 - 3e-4) * 0.99])
    assert bt.turnover == pytest.approx(1.0)  # a long of 1.0 does not drift: only the entry trades


def test_sma_crossover_is_long_while_the_fast_average_is_above_the_slow_one():
    close = series([1, 2, 3, 4, 3, 2, 1])
    # SMA2: nan 1.5 2.5 3.5 3.5 2.5 1.5 ; SMA3: nan nan 2 3 3.33 3 2
    assert sma_crossover(close, fast=2, slow=3).tolist() == [0, 0, 1, 1, 1, 0, 0]
    assert sma_crossover(close, fast=2, slow=3, allow_short=True).tolist() == [0, 0, 1, 1, 1, -1, -1]


def test_sma_crossover_rejects_fast_not_below_slow():
    with pytest.raises(ValueError, match="fast < slow"):
        sma_crossover(series([1, 2, 3]), fast=3, slow=3)


def test_momentum_follows_the_sign_of_the_trailing_return():
    close = series([10, 11, 12, 11, 10, 12])
    # close_t / close_(t-2) - 1: nan nan +0.2 0 -0.167 +0.2
    assert momentum(close, lookback=2).tolist() == [0, 0, 1, 0, -1, 1]
    assert momentum(close, lookback=2, long_only=True).tolist() == [0, 0, 1, 0, 0, 1]


def test_rules_are_causal():
    rng = np.random.default_rng(0)
    close = series(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400))))
    changed = close.copy()
    changed.iloc[301:] *= 1.5
    for rule in rule_baselines():
        a, b = rule.positions(close, "1d"), rule.positions(changed, "1d")
        assert a.iloc[:301].equals(b.iloc[:301]), rule.name


def test_windows_scale_with_the_interval():
    assert bars_for(200, "1d") == 200
    assert bars_for(200, "1wk") == round(200 * 52 / 252)
    assert bars_for(252, "1wk") == 52
    assert bars_for(1, "1wk") == 2  # never below 2 bars


def test_every_rule_baseline_gives_bounded_positions_on_the_same_index():
    close = series(np.linspace(100, 150, 300))
    names = []
    for rule in rule_baselines():
        pos = rule.positions(close, "1d")
        assert pos.index.equals(close.index) and pos.between(-1, 1).all() and np.isfinite(pos).all()
        names.append(rule.name)
    assert names == ["buy & hold", "SMA 50/200", "momentum 12m", "vol-target B&H"]
    assert set(MODEL_BASELINES) == {"flat", "hrm-n1t1", "hrm-noact", "hrm-reset-l", "hrm-full-grad"}


def test_rules_reject_bad_prices():
    with pytest.raises(ValueError, match="finite and positive"):
        momentum(series([1.0, np.nan, 2.0]))


def test_vol_target_buy_and_hold_scales_a_long_to_ten_percent_volatility_capped_at_one():
    # returns alternate +-2 % then +-0.2 %: 20-day sigma about 0.02 sqrt(252) = 32 % then 3.2 % a year
    r = np.r_[np.tile([0.02, -0.02], 15), np.tile([0.002, -0.002], 15)]
    close = series(100 * np.cumprod(np.r_[1.0, 1 + r]))
    pos = vol_target_buy_and_hold(close, periods_per_year=252)
    assert (pos.iloc[:20] == 0).all()  # warm-up: 20 returns needed
    sigma = np.std(np.tile([0.02, -0.02], 10), ddof=1) * np.sqrt(252)
    assert pos.iloc[20] == pytest.approx(0.10 / sigma)  # decided at the close from the last 20 returns
    assert pos.iloc[-1] == 1.0  # calm: capped at 1, never levered
    assert (pos >= 0).all()


def test_l2_logistic_regression_recovers_a_planted_direction_and_shrinks_with_small_c():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 2))
    y = np.where(x[:, 0] > 0.5, 2, np.where(x[:, 0] < -0.5, 0, 1))  # long / flat / short on feature 0 only
    X = np.column_stack([np.ones(len(x)), x])
    W = fit_l2_logistic(X, y, C=1.0)
    p = predict_proba(W, X)
    assert (p.argmax(1) == y).mean() > 0.9
    assert W[1, 2] - W[1, 0] > 2 and abs(W[2, 2] - W[2, 0]) < 0.3  # feature 1 is noise
    tiny = fit_l2_logistic(X, y, C=1e-8)
    assert np.abs(tiny[1:]).max() < 1e-3  # strong regularisation: features ignored, intercepts kept
