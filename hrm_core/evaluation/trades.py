"""The model's trades, one row each, for a trader to click through: entry, exit, side, size, net PnL, holding
time, the regime at entry and the bar whose close decided the entry (the decision Explain opens).

Trades come from the same path as every backtest (`backtest_target`: risk layer, fills, costs of the
settings in force), over the bars given. The regime is the causal label known at the deciding close
(hrm_core.evaluation.regimes, classified on the whole history).
"""
from __future__ import annotations

import pandas as pd

from hrm_core.evaluation.evaluate import Period, backtest_target
from hrm_core.evaluation.regimes import classify_regimes
from hrm_core.settings import Settings
from hrm_core.trading.metrics import periods_per_year_of

COLUMNS = ("entry", "exit", "side", "size", "net PnL [%]", "bars held", "regime at entry", "decided at", "open")


def trade_list(position: pd.Series, bars_full: pd.DataFrame, *, symbol: str, interval: str, settings: Settings,
               start=None, end=None) -> pd.DataFrame:
    """Trades of the target `position` (full history) over [start, end] (None: all bars), newest first."""
    period = Period(None if start is None else str(start), None if end is None else str(end), "shown bars")
    run = backtest_target(position.reindex(bars_full.index).fillna(0.0), bars_full, name="model", kind="model",
                          symbol=symbol, interval=interval, period=period, settings=settings, n_boot=0)
    t = run.backtest.trades
    if t.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    lag = 1 if settings.costs.execution == "next_open" else 0  # a next-open fill was decided at the close before
    index = bars_full.index
    decided = index[(index.get_indexer(pd.DatetimeIndex(t["entry_time"])) - lag).clip(0)]
    regimes = classify_regimes(bars_full["close"], periods_per_year=periods_per_year_of(index, interval))
    out = pd.DataFrame({
        "entry": t["entry_time"].to_numpy(), "exit": t["exit_time"].where(~t["open"]).to_numpy(),
        "side": t["side"].to_numpy(), "size": t["size"].to_numpy(), "net PnL [%]": 100 * t["pnl_return"].to_numpy(),
        "bars held": t["bars_held"].to_numpy(), "regime at entry": regimes.reindex(decided).to_numpy(),
        "decided at": decided, "open": t["open"].to_numpy()})
    return out.iloc[::-1].reset_index(drop=True)


def around(bars: pd.DataFrame, trade: pd.Series, pad: int = 20) -> pd.DataFrame:
    """The bars from `pad` before the deciding close to `pad` after the exit (or the last bar)."""
    index = bars.index
    first = max(0, int(index.get_indexer([trade["decided at"]])[0]) - pad)
    exit_time = trade["exit"] if pd.notna(trade["exit"]) else index[-1]
    last = min(len(index) - 1, int(index.searchsorted(exit_time)) + pad)
    return bars.iloc[first:last + 1]


__all__ = ["COLUMNS", "around", "trade_list"]
