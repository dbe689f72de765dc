"""run_backtest: next-bar timing, costs per unit of turnover, trades, determinism, speed."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hrm_core.trading.backtest import FRAME_COLUMNS, TRADE_COLUMNS, decision_pnl, run_backtest


def series(values, start="2024-01-01"):
    idx = pd.date_range(start, periods=len(values), freq="D", tz="UTC", name="time")
    return pd.Series(np.asarray(values, dtype=float), index=idx)


def random_walk(n, seed=0, vol=0.01):
    rng = np.random.default_rng(seed)
    return series(100 * np.cumprod(1 + rng.normal(0.0003, vol, n)))


def test_position_decided_at_close_t_is_held_over_bar_t_plus_1():
    close = series([100, 110, 99])
    res = run_backtest(series([1, 1, 0]), close, commission_bps=0, slippage_bps=0, execution="close")
    f = res.frame
    assert list(f.columns) == list(FRAME_COLUMNS)
    np.testing.assert_allclose(f["position"], [0, 1, 1])  # flat on the first bar
    np.testing.assert_allclose(f["gross_return"], [0, 0.10, -0.10])
    np.testing.assert_allclose(f["equity"], [1.0, 1.1, 0.99])
    np.testing.assert_allclose(f["drawdown"], [0, 0, -0.1])


def test_perfect_foresight_handed_in_one_bar_early_earns_abs_returns_without_costs():
    close = random_walk(300)
    r = close.pct_change().to_numpy()
    foresight = series(np.sign(np.append(r[1:], 0.0)))  # position[t] = sign(r[t+1])
    f = run_backtest(foresight.set_axis(close.index), close, commission_bps=0, slippage_bps=0, execution="close").frame
    np.testing.assert_allclose(f["gross_return"].to_numpy()[1:], np.abs(r[1:]), atol=1e-15)
    assert f["equity"].iloc[-1] == pytest.approx(np.prod(1 + np.abs(r[1:])), rel=1e-12)


def test_perfect_foresight_long_flat_net_equity_is_abs_returns_minus_costs_per_unit_turnover():
    close = random_walk(300, seed=1)
    r = close.pct_change().to_numpy()
    target = (np.append(r[1:], 0.0) > 0).astype(float)  # long before up bars, flat otherwise: no drift
    res = run_backtest(series(target).set_axis(close.index), close, commission_bps=1, slippage_bps=2, execution="close")
    cost = 3e-4 * np.abs(np.diff(target, prepend=0.0))  # charged at the close where the trade happens
    gain = np.where(np.arange(300) > 0, np.maximum(np.nan_to_num(r), 0.0), 0.0)
    np.testing.assert_allclose(res.frame["cost"], cost, atol=1e-15)
    assert res.frame["equity"].iloc[-1] == pytest.approx(np.prod(1 + gain - cost), rel=1e-12)
    assert res.turnover == pytest.approx(np.abs(np.diff(target, prepend=0.0)).sum())


def test_flip_from_long_to_short_costs_two_units():
    close = series([100, 100, 100, 100])  # flat prices: no drift, costs only
    res = run_backtest(series([1, -1, -1, 0]), close, commission_bps=4, slippage_bps=6, execution="close")
    np.testing.assert_allclose(res.frame["turnover"], [1, 2, 0, 1])
    np.testing.assert_allclose(res.frame["cost"], 1e-3 * np.array([1, 2, 0, 1]))
    assert res.turnover == 4


def test_short_drifts_and_keeping_it_at_target_is_charged():
    # A -1 short over a -10 % bar becomes -0.9 / 1.1 = -0.818 of equity: staying at -1 trades 0.182.
    close = series([100, 90, 90])
    res = run_backtest(series([-1, -1, 0]), close, commission_bps=10, slippage_bps=0, execution="close")
    np.testing.assert_allclose(res.frame["turnover"], [1, 1 - 0.9 / 1.1, 1], atol=1e-12)
    np.testing.assert_allclose(res.frame["gross_return"], [0, 0.1, 0])


def test_zero_position_earns_zero_and_pays_nothing():
    close = random_walk(50)
    res = run_backtest(close * 0, close, commission_bps=5, slippage_bps=5, execution="close")
    assert (res.frame["net_return"] == 0).all() and (res.frame["equity"] == 1).all()
    assert len(res.trades) == 0 and list(res.trades.columns) == list(TRADE_COLUMNS)


def test_same_inputs_give_identical_outputs():
    close = random_walk(500)
    pos = series(np.sin(np.arange(500) / 7)).set_axis(close.index)
    a = run_backtest(pos, close, commission_bps=1, slippage_bps=2, execution="close")
    b = run_backtest(pos, close, commission_bps=1, slippage_bps=2, execution="close")
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.trades, b.trades)


def test_position_at_t_only_affects_returns_from_t_plus_1():
    close = random_walk(200, seed=3)
    pos = series(np.sign(np.sin(np.arange(200) / 5))).set_axis(close.index)
    k = 120
    changed = pos.copy()
    changed.iloc[k] = -changed.iloc[k] or 1.0
    a = run_backtest(pos, close, commission_bps=1, slippage_bps=2, execution="close").frame
    b = run_backtest(changed, close, commission_bps=1, slippage_bps=2, execution="close").frame
    # gross returns through bar k are untouched; bar k's net return differs only by the
    # cost of the trade placed at close k; bar k+1 is the first bar that earns differently.
    pd.testing.assert_series_equal(a["gross_return"].iloc[: k + 1], b["gross_return"].iloc[: k + 1])
    pd.testing.assert_frame_equal(a.iloc[:k], b.iloc[:k])
    assert a["gross_return"].iloc[k + 1] != b["gross_return"].iloc[k + 1]


def test_future_prices_do_not_change_past_rows():
    close = random_walk(200, seed=4)
    pos = series(np.sign(np.cos(np.arange(200) / 9))).set_axis(close.index)
    future = close.copy()
    future.iloc[150:] *= 1.3
    a = run_backtest(pos, close, commission_bps=1, slippage_bps=2, execution="close").frame
    b = run_backtest(pos, future, commission_bps=1, slippage_bps=2, execution="close").frame
    pd.testing.assert_frame_equal(a.iloc[:150], b.iloc[:150])


def test_trades_on_a_hand_example():
    close = series([100, 110, 99, 99, 90, 95])
    res = run_backtest(series([1, 1, 0, -1, -1, 1]), close, commission_bps=0, slippage_bps=0, execution="close")
    t = res.trades
    assert list(t["side"]) == ["long", "short", "long"]
    assert list(t["entry_price"]) == [100, 99, 95] and list(t["exit_price"]) == [99, 95, 95]
    assert list(t["bars_held"]) == [2, 2, 0]
    assert list(t["open"]) == [False, False, True]  # the flip at the last close opens a trade
    assert t["entry_time"].iloc[1] == close.index[3] and t["exit_time"].iloc[1] == close.index[5]
    short = (1 - (90 / 99 - 1)) * (1 - (95 / 90 - 1)) - 1  # rebalanced to -1 at every close
    np.testing.assert_allclose(t["pnl_return"], [99 / 100 - 1, short, 0.0], atol=1e-12)


def test_trade_return_includes_its_entry_and_exit_costs():
    close = series([100, 110, 121, 121])
    res = run_backtest(series([1, 1, 0, 0]), close, commission_bps=10, slippage_bps=0, execution="close")
    c = 1e-3
    assert res.trades["pnl_return"].iloc[0] == pytest.approx((1 - c) * 1.1 * (1.1 - c) - 1, rel=1e-12)


def test_resizing_within_the_same_sign_stays_in_one_trade():
    close = series([100, 101, 102, 103, 104])
    t = run_backtest(series([0.5, 1.0, 0.5, 0, 0]), close, commission_bps=0, slippage_bps=0, execution="close").trades
    assert len(t) == 1
    assert t["size"].iloc[0] == 0.5  # entry size
    assert t["avg_size"].iloc[0] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert t["bars_held"].iloc[0] == 3


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]), min_size=2, max_size=40), st.integers(0, 10_000))
def test_without_costs_trade_returns_compound_to_final_equity(positions, seed):
    close = random_walk(len(positions), seed=seed, vol=0.02)
    res = run_backtest(series(positions).set_axis(close.index), close, commission_bps=0, slippage_bps=0, execution="close")
    assert np.prod(1 + res.trades["pnl_return"]) == pytest.approx(res.frame["equity"].iloc[-1], rel=1e-10)


@pytest.mark.parametrize(
    "bad, message",
    [([np.nan, 1.0, 0.0], "fill them with 0.0"), ([1.5, 0.0, 0.0], "clip it")],
)
def test_invalid_positions_raise_with_a_fix(bad, message):
    with pytest.raises(ValueError, match=message):
        run_backtest(series(bad), series([100, 101, 102]), commission_bps=1, slippage_bps=1, execution="close")


def test_misaligned_index_raises_with_a_fix():
    with pytest.raises(ValueError, match="reindex"):
        run_backtest(series([1, 1, 1], start="2023-01-01"), series([100, 101, 102]), commission_bps=0, slippage_bps=0, execution="close")


def test_100k_bars_with_a_flip_every_few_bars_give_one_trade_per_held_run():
    """Every run of one held side is one trade, however many (the time it takes: `python -m benchmarks.backtest`)."""
    close = random_walk(100_000, seed=5)
    side = np.sign(np.sin(np.arange(100_000) / 3))
    pos = series(side).set_axis(close.index)
    res = run_backtest(pos, close, commission_bps=1, slippage_bps=2, execution="close")
    held = side[side != 0]
    runs = 1 + int((np.diff(held) != 0).sum())
    assert len(res.trades) == runs > 10_000


# ----------------------------------------------------------------------------- execution conventions

def test_both_execution_conventions_on_a_hand_computed_example():
    """Long 1.0 decided at close 0, kept at close 1, flat at close 2; 10 bps per unit of turnover."""
    open_, close = series([100, 105, 108, 100]), series([100, 110, 104, 99])
    target = series([1, 1, 0, 0])

    moc = run_backtest(target, close, commission_bps=10, slippage_bps=0, execution="close")
    # filled at close 0 (100), held over bars 1 and 2, sold at close 2 (104)
    np.testing.assert_allclose(moc.frame["turnover"], [1, 0, 1, 0])
    np.testing.assert_allclose(moc.frame["net_return"], [-0.001, 0.10, 104 / 110 - 1 - 0.001, 0.0])
    t = moc.trades.iloc[0]
    assert (t["entry_price"], t["exit_price"], t["bars_held"]) == (100, 104, 2)
    assert t["pnl_return"] == pytest.approx(0.999 * 1.10 * (104 / 110 - 0.001) - 1)

    nxt = run_backtest(target, close, commission_bps=10, slippage_bps=0, execution="next_open", open_price=open_)
    f = nxt.frame
    # bar 1: bought at its open 105, earns 110/105 - 1 intraday; bar 2: held through the gap 110 -> 108 and
    # the session 108 -> 104; bar 3: the gap 104 -> 100 on the old position, sold at the open 100
    np.testing.assert_allclose(f["fill_price"], [100, 105, 108, 100])
    np.testing.assert_allclose(f["position"], [0, 1, 1, 0])
    np.testing.assert_allclose(f["turnover"], [0, 1, 0, 1])
    np.testing.assert_allclose(f["gross_return"], [0, 110 / 105 - 1, 104 / 110 - 1, 100 / 104 - 1])
    np.testing.assert_allclose(f["net_return"], [0, 110 / 105 - 1 - 0.001, 104 / 110 - 1, 100 / 104 - 1 - 0.001])
    assert f["equity"].iloc[-1] == pytest.approx((110 / 105 - 0.001) * (104 / 110) * (100 / 104 - 0.001))
    t = nxt.trades.iloc[0]
    assert (t["entry_time"], t["exit_time"]) == (close.index[1], close.index[3])
    assert (t["entry_price"], t["exit_price"], t["bars_held"], t["open"]) == (105, 100, 2, False)
    assert t["pnl_return"] == pytest.approx(f["equity"].iloc[-1] - 1)


def test_next_open_splits_a_bar_into_the_old_positions_gap_and_the_new_positions_session():
    open_, close = series([100, 90, 100]), series([100, 100, 110])
    f = run_backtest(series([0.5, -0.5, 0]), close, commission_bps=0, slippage_bps=0, execution="next_open",
                     open_price=open_).frame
    # bar 1: +0.5 bought at open 90 earns 100/90 - 1; bar 2: the drifted long earns the gap 100 -> 100,
    # then -0.5 sold short at open 100 earns -0.5 (110/100 - 1)
    w_close1 = 0.5 * (100 / 90) / (1 + 0.5 * (100 / 90 - 1))  # the long's weight after bar 1's session
    np.testing.assert_allclose(f["gross_return"], [0, 0.5 * (100 / 90 - 1), -0.05])
    np.testing.assert_allclose(f["turnover"], [0, 0.5, 0.5 + w_close1])


def test_next_open_without_gaps_is_market_on_close_with_every_fill_one_bar_later():
    close = random_walk(300, seed=7)
    pos = series(np.clip(np.sin(np.arange(300) / 6) * 1.3, -1, 1)).set_axis(close.index)
    moc = run_backtest(pos, close, commission_bps=1, slippage_bps=2, execution="close").frame
    nxt = run_backtest(pos, close, commission_bps=1, slippage_bps=2, execution="next_open",
                       open_price=close.shift(1).fillna(close.iloc[0])).frame
    np.testing.assert_allclose(nxt["gross_return"], moc["gross_return"], atol=1e-15)
    np.testing.assert_allclose(nxt["turnover"].to_numpy()[1:], moc["turnover"].to_numpy()[:-1], atol=1e-15)


def test_next_open_never_fills_the_order_decided_at_the_last_close():
    close, open_ = series([100, 101, 102]), series([100, 101, 102])
    res = run_backtest(series([0, 0, 1]), close, commission_bps=5, slippage_bps=5, open_price=open_)
    assert res.turnover == 0.0 and res.trades.empty and res.frame["cost"].sum() == 0.0


def test_next_open_needs_the_opens():
    with pytest.raises(ValueError, match="open_price"):
        run_backtest(series([1, 1]), series([100, 101]), commission_bps=0, slippage_bps=0)
    with pytest.raises(ValueError, match="execution must be one of"):
        run_backtest(series([1, 1]), series([100, 101]), commission_bps=0, slippage_bps=0, execution="vwap")


def test_decision_pnl_by_hand_under_next_open_and_close():
    """Enter long at close 0, go flat at close 1: 10 bps per unit of turnover."""
    idx = pd.date_range("2020-01-01", periods=4, freq="D", tz="UTC")
    close = pd.Series([100.0, 110.0, 99.0, 101.0], index=idx)
    opens = pd.Series([100.0, 105.0, 100.0, 102.0], index=idx)
    target = pd.Series([1.0, 0.0, 0.0, 0.0], index=idx)
    nxt = run_backtest(target, close, commission_bps=5, slippage_bps=5, execution="next_open", open_price=opens)
    pnl = decision_pnl(nxt, close, opens)
    # decision 0: filled at open 105 (cost 10 bps), intraday 110/105, then the gap 100/110 before its exit
    # decision 1 (flat): its fill at open 100 costs 10 bps and earns nothing; the gap belongs to decision 0
    assert pnl.tolist() == pytest.approx([110 / 105 - 1 + 100 / 110 - 1 - 0.001, -0.001, 0.0, 0.0])
    assert pnl.sum() == pytest.approx(nxt.net_returns.sum())
    moc = run_backtest(target, close, commission_bps=5, slippage_bps=5, execution="close")
    pnl = decision_pnl(moc, close)
    # filled at close 100 (cost 10 bps), earns 110/100; the exit at close 110 costs 10 bps
    assert pnl.tolist() == pytest.approx([0.1 - 0.001, -0.001, 0.0, 0.0])
    assert pnl.sum() == pytest.approx(moc.net_returns.sum())


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]), min_size=3, max_size=30), st.integers(0, 10_000))
def test_decision_pnl_sums_to_the_net_pnl(positions, seed):
    rng = np.random.default_rng(seed)
    n = len(positions)
    idx = pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC")
    close = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.02, n)), index=idx)
    opens = close.shift(1).fillna(100.0) * (1 + rng.normal(0, 0.01, n))
    target = pd.Series(positions, index=idx)
    for execution in ("next_open", "close"):
        bt = run_backtest(target, close, commission_bps=3, slippage_bps=2, execution=execution, open_price=opens)
        assert decision_pnl(bt, close, opens).sum() == pytest.approx(bt.net_returns.sum(), abs=1e-12)
