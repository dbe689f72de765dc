"""The Signals chart stays readable and light: markers only where the held position changes, a recent range by
default, and a bounded figure payload for 20 years of daily bars."""
import numpy as np
import pandas as pd

from hrm_core.trading.signals import action_changes
from ui import charts


def _twenty_years(seed: int = 0):
    """20 years of business-day bars and a signal table that changes action every few bars (a busy model)."""
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("1999-01-01", "2018-12-31", tz="UTC", name="time")
    close = 1000 * np.exp(np.cumsum(rng.normal(0.0003, 0.011, len(idx))))
    bars = pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                         "volume": rng.uniform(1e8, 3e8, len(idx))}, index=idx)
    action = np.array(["short", "flat", "long"])[rng.integers(0, 3, len(idx) // 5).repeat(5)[:len(idx)]]
    action = np.concatenate([action, np.full(len(idx) - len(action), "flat")])
    p = rng.dirichlet([1, 1, 1], len(idx))
    table = pd.DataFrame({"action": action, "position": np.select([action == "long", action == "short"],
                                                                  [0.4, -0.4], 0.0),
                          "confidence": p.max(axis=1), "margin": np.abs(p[:, 2] - p[:, 0]) - 0.1, "p_short": p[:, 0], "p_flat": p[:, 1], "p_long": p[:, 2],
                          "steps": rng.integers(1, 5, len(idx)), "status": "ok"}, index=idx)
    return bars, table


def test_the_figure_for_20_years_of_daily_bars_stays_under_the_byte_budget():
    bars, table = _twenty_years()
    changes = charts.position_changes(table, action_changes(table))
    assert len(bars) > 5000 and len(changes) > 500  # the worst case: the whole history, a busy model
    fig = charts.signal_chart(bars, table, changes, "20 years", volume=True)
    payload = len(fig.to_json().encode())
    assert payload < charts.SIGNAL_CHART_BUDGET_BYTES, payload
    price = next(t for t in fig.data if t.name == "price")
    assert len(price.x) <= charts.MAX_CANDLES  # merged candles (the title says how many bars each)
    assert "each candle = 7 bars" in fig.layout.title.text


def test_merged_candles_keep_the_extremes_and_the_last_close():
    bars, _ = _twenty_years()
    merged = charts.resample_ohlc(bars.iloc[:10], 4)
    assert list(merged.index) == list(bars.index[[0, 4, 8]])
    assert merged["high"].iloc[0] == bars["high"].iloc[:4].max() and merged["close"].iloc[2] == bars["close"].iloc[9]
    assert merged["volume"].sum() == bars["volume"].iloc[:10].sum()


def test_markers_only_where_the_held_position_changes_with_hover_details():
    idx = pd.date_range("2020-01-01", periods=6, freq="D", tz="UTC", name="time")
    bars = pd.DataFrame({"open": 1.0, "high": 1.1, "low": 0.9, "close": 1.0, "volume": 1.0}, index=idx)
    table = pd.DataFrame({"action": ["flat", "long", "long", "long", "flat", "flat"],
                          "position": [0, 0.3, 0.32, 0.6, 0, 0], "confidence": 0.5, "margin": 0.05, "p_short": 0.2, "p_flat": 0.3,
                          "p_long": 0.5, "steps": 2, "status": "ok"}, index=idx)
    marks = charts.position_changes(table, action_changes(table))
    assert list(marks.index) == [idx[1], idx[3], idx[4]]  # entry, a size step >= 0.1, exit; not 0.30 -> 0.32
    fig = charts.signal_chart(bars, table, marks, "t")
    buy = next(t for t in fig.data if t.name == "buy (to long)")
    assert len(buy.x) == 2
    assert "reasoning segments" in buy.hovertemplate and "p short / flat / long" in buy.hovertemplate
    assert {t.name for t in fig.data} >= {"price", "position", "margin", "to flat"}
    assert fig.layout.yaxis2.title.text == "position" and fig.layout.yaxis3.title.text == "margin"


def test_a_gradual_build_up_of_the_position_is_marked_once_it_has_moved_a_size_step():
    """The edge rule moves the position a little every bar: markers follow the book, not day-to-day jumps."""
    idx = pd.date_range("2020-01-01", periods=7, freq="D", tz="UTC", name="time")
    position = [0.0, 0.05, 0.09, 0.13, 0.17, 0.22, 0.28]  # never more than 0.06 in a day
    table = pd.DataFrame({"action": ["flat"] + ["long"] * 6, "position": position, "confidence": 0.5, "margin": 0.05,
                          "status": "ok"}, index=idx)
    marks = charts.position_changes(table, action_changes(table))
    assert list(marks.index) == [idx[1], idx[4], idx[6]]  # entry at 0.05, then 0.17 and 0.28 (>= 0.1 further)


def test_the_chart_opens_on_the_last_year_or_the_test_period():
    idx = pd.bdate_range("2010-01-01", "2018-12-31", tz="UTC")
    assert charts.window_start(idx, "1 year") == pd.Timestamp("2017-12-31", tz="UTC")
    assert charts.window_start(idx, "test period", {"test": ["2016-01-01", "2018-12-31"]}) == \
        pd.Timestamp("2016-01-01", tz="UTC")
    assert charts.window_start(idx, "all") == idx[0]
    assert charts.window_start(idx, "5 years") == pd.Timestamp("2013-12-31", tz="UTC")


def test_chart_times_are_sent_as_naive_utc_datetimes_not_timestamp_objects():
    """Tz-aware times become object arrays of Timestamps in Plotly: several times slower to build, copy and send."""
    bars, table = _twenty_years()
    changes = charts.position_changes(table, action_changes(table))
    fig = charts.signal_chart(bars.iloc[-300:], table, changes, "a year", periods={"test": ["2018-01-01", "2018-12-31"]})
    equity = (1 + table[["p_long", "p_short"]].iloc[-300:] * 0.01).cumprod()
    eq = charts.equity_drawdown(equity, equity / equity.cummax() - 1, "equity")
    for trace in [*fig.data, *eq.data]:
        assert np.asarray(trace.x).dtype.kind == "M", (trace.name, np.asarray(trace.x).dtype)
    assert bars.index[-1].tz is not None and charts.utc_naive(bars.index[-1]) == pd.Timestamp("2018-12-31")
    shaded = [s for s in fig.layout.shapes if s.fillcolor == charts.PERIOD_STYLE["test"][0]]
    assert len(shaded) == 1 and pd.Timestamp(shaded[0].x0) == pd.Timestamp("2018-01-01")
