"""The trade list: every trade of the backtest, the deciding close one bar before a next-open entry."""
import numpy as np
import pandas as pd

from hrm_core.evaluation.trades import around, trade_list
from hrm_core.settings import CostSettings, Settings


def _bars(n=300):
    idx = pd.bdate_range("2020-01-01", periods=n, tz="UTC", name="time")
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, n)))
    return pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                         "volume": 1e6}, index=idx)


def test_each_trade_names_its_deciding_close_and_the_regime_known_then():
    bars = _bars()
    pos = pd.Series(0.0, index=bars.index)
    pos.iloc[100:120] = 0.5   # long, decided at the close of bar 100
    pos.iloc[150:160] = -1.0  # short
    t = trade_list(pos, bars, symbol="X", interval="1d", settings=Settings())
    assert list(t["side"]) == ["short", "long"]  # newest first
    assert t["decided at"].iloc[1] == bars.index[100] and t["entry"].iloc[1] == bars.index[101]  # next open
    assert t["size"].iloc[1] == 0.5 and t["bars held"].iloc[1] == 20 and t["regime at entry"].notna().all()
    close = trade_list(pos, bars, symbol="X", interval="1d", settings=Settings(costs=CostSettings(execution="close")))
    assert close["decided at"].iloc[1] == close["entry"].iloc[1] == bars.index[100]  # filled at that close
    later = trade_list(pos, bars, symbol="X", interval="1d", settings=Settings(), start=f"{bars.index[130]:%Y-%m-%d}")
    assert list(later["side"]) == ["short"]
    window = around(bars, t.iloc[1], pad=5)
    assert window.index[0] == bars.index[95] and window.index[-1] == bars.index[126]
