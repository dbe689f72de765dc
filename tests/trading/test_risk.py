"""Risk layer: cap, causal volatility target, drawdown brake with a stated release rule."""
import math

import numpy as np
import pandas as pd
import pytest

from hrm_core.trading.backtest import run_backtest
from hrm_core.trading.metrics import backtest_metrics
from hrm_core.trading.risk import apply_risk, risk_rule_effects
from hrm_core.settings import RiskSettings


def series(values):
    idx = pd.date_range("2024-01-01", periods=len(values), freq="D", tz="UTC", name="time")
    return pd.Series(np.asarray(values, dtype=float), index=idx)


def random_walk(n, seed=0, vol=0.01):
    rng = np.random.default_rng(seed)
    return series(100 * np.cumprod(1 + rng.normal(0.0003, vol, n)))


OFF = RiskSettings(max_abs_position=1.0, vol_target_annual=0.0, drawdown_brake=0.0)


def test_cap_clips_absolute_position():
    res = apply_risk(series([1, -1, 0.3, -0.6]), series([100, 101, 102, 103]),
                     RiskSettings(max_abs_position=0.5), periods_per_year=252)
    np.testing.assert_allclose(res.final, [0.5, -0.5, 0.3, -0.5])
    assert res.active == {"position_cap": True, "vol_target": False, "drawdown_brake": False}


def test_vol_estimate_at_t_uses_the_last_lookback_returns_through_t():
    close = random_walk(100, seed=1)
    s = RiskSettings(vol_target_annual=0.10, vol_lookback=20)
    f = apply_risk(series(np.ones(100)).set_axis(close.index), close, s, periods_per_year=252, execution="close").frame
    r = close.pct_change().to_numpy()
    t = 60
    sigma = r[t - 19 : t + 1].std(ddof=1) * math.sqrt(252)  # r[t] is known at the close of t
    assert f["vol_estimate_annual"].iloc[t] == pytest.approx(sigma)
    assert f["vol_scale"].iloc[t] == pytest.approx(min(1.0, 0.10 / sigma))
    assert (f["final"].iloc[:20] == 0).all()  # warm-up: flat without an estimate
    assert f["final"].iloc[20] > 0


def test_vol_target_is_causal_perturbing_the_future_leaves_earlier_rows_unchanged():
    close = random_walk(300, seed=2)
    raw = series(np.sign(np.sin(np.arange(300) / 11))).set_axis(close.index)
    s = RiskSettings(max_abs_position=0.9, vol_target_annual=0.08, vol_lookback=20, drawdown_brake=0.05)
    k = 200
    future = close.copy()
    future.iloc[k + 1 :] *= np.linspace(1.0, 3.0, 300 - k - 1)
    a = apply_risk(raw, close, s, periods_per_year=252, execution="close", costs_bps=3).frame
    b = apply_risk(raw, future, s, periods_per_year=252, execution="close", costs_bps=3).frame
    pd.testing.assert_frame_equal(a.iloc[: k + 1], b.iloc[: k + 1])
    assert not a["final"].iloc[k + 1 :].equals(b["final"].iloc[k + 1 :])


def test_the_layer_only_ever_reduces_exposure():
    close = random_walk(500, seed=3, vol=0.002)  # very calm: target / sigma >> 1
    raw = series(np.sin(np.arange(500) / 5)).set_axis(close.index)
    f = apply_risk(raw, close, RiskSettings(max_abs_position=0.7, vol_target_annual=0.2, drawdown_brake=0.1),
                   periods_per_year=252, execution="close").frame
    assert (f["final"].abs() <= f["capped"].abs() + 1e-15).all()
    assert (f["capped"].abs() <= f["raw"].abs() + 1e-15).all()


def brake_path():
    up = 100 * 1.01 ** np.arange(10)  # peak 109.4
    down = up[-1] * 0.985 ** np.arange(1, 16)  # about -20 %
    back = down[-1] * 1.02 ** np.arange(1, 31)
    return series(np.concatenate([up, down, back]))


def test_brake_engages_at_the_threshold_and_releases_within_half_of_it():
    close = brake_path()
    s = RiskSettings(drawdown_brake=0.10, drawdown_brake_scale=0.5)
    f = apply_risk(series(np.ones(len(close))).set_axis(close.index), close, s, periods_per_year=252, execution="close").frame
    equity = f["brake_equity"].to_numpy()  # zero costs: equity seen at the close before trading
    dd = equity / np.maximum.accumulate(np.maximum(equity, 1.0)) - 1
    on = int(np.argmax(dd <= -0.10))
    off = on + int(np.argmax(dd[on:] >= -0.05))
    assert 0 < on < off < len(close)
    active = f["brake_active"].to_numpy()
    assert not active[:on].any() and active[on:off].all() and not active[off:].any()
    np.testing.assert_allclose(f["final"].to_numpy()[on:off], 0.5)
    np.testing.assert_allclose(f["final"].to_numpy()[off:], 1.0)


def test_brake_equity_is_the_backtest_equity_of_the_final_positions_with_costs():
    close = random_walk(400, seed=4, vol=0.02)
    raw = series(np.sign(np.sin(np.arange(400) / 4))).set_axis(close.index)
    s = RiskSettings(drawdown_brake=0.08, drawdown_brake_scale=0.25)
    f = apply_risk(raw, close, s, periods_per_year=252, execution="close", costs_bps=5).frame
    bt = run_backtest(f["final"], close, commission_bps=5, slippage_bps=0, execution="close")
    np.testing.assert_allclose(f["brake_equity"], bt.frame["equity"], rtol=1e-12)
    assert f["brake_active"].any()


def test_brake_equity_follows_next_open_fills_too():
    close = random_walk(400, seed=4, vol=0.02)
    opens = close.shift(1).fillna(close.iloc[0]) * (1 + 0.005 * np.cos(np.arange(400)))  # overnight gaps
    raw = series(np.sign(np.sin(np.arange(400) / 4))).set_axis(close.index)
    s = RiskSettings(drawdown_brake=0.08, drawdown_brake_scale=0.25)
    f = apply_risk(raw, close, s, periods_per_year=252, costs_bps=5, open_price=opens).frame
    bt = run_backtest(f["final"], close, commission_bps=5, slippage_bps=0, open_price=opens)
    np.testing.assert_allclose(f["brake_equity"], bt.frame["equity"], rtol=1e-12)
    assert f["brake_active"].any()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_abs_position=1.5), "no leverage"),
        (dict(drawdown_brake=0.1, drawdown_brake_scale=0.0), "never recover"),
        (dict(drawdown_brake=-0.1), "0 = off"),
    ],
)
def test_invalid_settings_raise_with_a_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):  # refused when the settings are made, before any risk layer
        apply_risk(series([1, 1]), series([100, 101]), RiskSettings(**kwargs), periods_per_year=252,
                   execution="close")


def test_rule_effects_table_has_one_row_per_rule_and_raw_matches_a_plain_backtest():
    close = random_walk(600, seed=5, vol=0.015)
    raw = series(np.sign(np.sin(np.arange(600) / 13))).set_axis(close.index)
    s = RiskSettings(max_abs_position=0.8, vol_target_annual=0.10, drawdown_brake=0.10)
    table = risk_rule_effects(raw, close, s, periods_per_year=252, execution="close", costs_bps=3)
    assert list(table.index) == ["raw (no rules)", "position cap only", "vol target only",
                                 "drawdown brake only", "all rules"]
    plain = backtest_metrics(run_backtest(raw, close, commission_bps=3, slippage_bps=0, execution="close"), periods_per_year=252)
    assert table.loc["raw (no rules)", "Annual return [%]"] == pytest.approx(plain["Annual return [%]"])
    assert table.loc["raw (no rules)", "Max drawdown [%]"] == pytest.approx(plain["Max drawdown [%]"])
    # without costs a cap at 0.8 on a +-1 book scales every return by 0.8, so volatility too
    # (with costs, a fractional book also pays to rebalance its drift, so it is not exact)
    free = risk_rule_effects(raw, close, s, periods_per_year=252, execution="close", costs_bps=0)
    assert free.loc["position cap only", "Annual volatility [%]"] == pytest.approx(
        0.8 * free.loc["raw (no rules)", "Annual volatility [%]"], rel=1e-12)


def test_a_rule_that_is_off_reproduces_raw():
    close = random_walk(300, seed=6)
    raw = series(np.sign(np.cos(np.arange(300) / 7))).set_axis(close.index)
    table = risk_rule_effects(raw, close, OFF, periods_per_year=252, execution="close", costs_bps=3)
    assert not table.loc["drawdown brake only", "active"]
    pd.testing.assert_series_equal(table.loc["drawdown brake only"].drop("active"),
                                   table.loc["raw (no rules)"].drop("active"), check_names=False)


def test_history_warms_the_vol_estimate_so_a_test_period_starts_invested():
    close = random_walk(300)
    raw = pd.Series(1.0, index=close.index)
    s = RiskSettings(vol_target_annual=0.10, vol_lookback=20)
    whole = apply_risk(raw, close, s, periods_per_year=252, execution="close").final
    cold = apply_risk(raw[200:], close[200:], s, periods_per_year=252, execution="close").final
    warm = apply_risk(raw[200:], close[200:], s, periods_per_year=252, execution="close", history=close[179:200]).final
    assert (cold.iloc[:20] == 0).all()  # without history: flat for the vol warm-up
    pd.testing.assert_series_equal(warm, whole[200:])
