"""Positions -> per-bar returns, costs, equity, drawdown and a trade list.

One pure, vectorised function, `run_backtest`. Conventions (see shared/REFERENCE.md):

- **Timing.** `target_position[t]` is decided at the close of bar t, from bars <= t. Where it
  is filled depends on `execution` (one setting: `[costs] execution` in hrm.toml):
  * `"next_open"` (the default everywhere in the app): filled at the OPEN of bar t+1. Bar
    t+1 then earns, compounded within the bar, the overnight gap g = open[t+1] / close[t] - 1
    on the position still held (target[t-1], drifted over bar t's session), and the intraday
    return i = close[t+1] / open[t+1] - 1 on the new position target[t]:
        1 + gross[t+1] = (1 + w_held g) (1 + target[t] i)
    A target decided at the last close is never filled (no next open in the data).
  * `"close"` (market-on-close, optimistic for a daily model): filled at the close it read
    and held over bar t+1: gross[t+1] = target[t] (close[t+1] / close[t] - 1).
  Either way a signal can never trade on a price it had not seen. Row t of the result frame
  shows the position *held* over bar t (= target[t-1]; flat on the first bar; under
  next_open, held from bar t's open to its close).
- **Positions** are fractions of equity in [-1, 1] (no leverage), rebalanced to target at
  every fill.
- **Turnover** is two-way and drift-aware (REFERENCE "Turnover"): at the fill we trade from
  the *drifted* weight w~ = w (1 + r) / (1 + w r) (r = the return since the last fill) to the
  new target, so turnover[t] = |to_weight[t] - from_weight[t]|. A long of 1.0 does not drift
  (a flip from +1 to -1 is exactly 2 units); a short or a fractional position does, and
  keeping it at its target costs a little every bar. Entering from flat costs |target| units.
- **Costs**: (commission_bps + slippage_bps) / 1e4 per unit of turnover, charged on the row
  of the fill (the close of bar t, or the open of bar t under next_open), in units of the
  previous close's equity: net[t] = gross[t] - cost[t], equity[t] = prod(1 + net). Under
  "close" a trade placed at the last close is charged even though its bar is not in the data.
- **Trades**: a trade is a run of fills with the same non-zero sign of position; resizing
  within the sign stays in the trade. entry_time / entry_price: the bar and price (close, or
  open under next_open) of the opening fill; exit_time / exit_price: those of the fill that
  closed or flipped it. `size` is the entry size and `avg_size` the mean |held position| over
  the bars held (`bars_held`: bars whose return, or intraday return under next_open, it
  earned). `pnl_return` compounds the trade's own net returns: its gross returns less its
  entry, rebalancing and exit costs (on a flip the exit units and the overnight gap go to the
  old trade, the entry units and the intraday return to the new one). A trade still open at
  the end is marked to the last close and flagged `open=True`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EXECUTIONS = ("next_open", "close")  # fill at the next bar's open (default) | market-on-close

FRAME_COLUMNS = (
    "target_position",  # decided at this bar's close (filled at the next open, or at this close)
    "position",  # held over this bar (= previous target; under next_open from this bar's open)
    "asset_return",  # close-to-close return of the asset
    "gross_return",
    "fill_price",  # price of this row's fill: this bar's open (next_open) or close (close)
    "from_weight",  # weight just before this row's fill (drifted since the last fill)
    "to_weight",  # weight right after it: position (next_open) or target_position (close)
    "turnover",  # |to_weight - from_weight|, two-way, drift-aware
    "cost",
    "net_return",
    "equity",  # starts at 1.0 before the first bar
    "drawdown",  # equity / running peak - 1, peak includes the starting 1.0
)
TRADE_COLUMNS = (
    "entry_time", "exit_time", "side", "size", "avg_size", "entry_price", "exit_price",
    "pnl_return", "bars_held", "open",
)


@dataclass(frozen=True)
class BacktestResult:
    frame: pd.DataFrame  # one row per bar, FRAME_COLUMNS
    trades: pd.DataFrame  # one row per trade, TRADE_COLUMNS
    turnover: float  # total two-way turnover, units of equity
    commission_bps: float
    slippage_bps: float
    execution: str = "next_open"  # one of EXECUTIONS

    @property
    def net_returns(self) -> pd.Series:
        return self.frame["net_return"]

    @property
    def equity(self) -> pd.Series:
        return self.frame["equity"]


def check_execution(execution: str) -> str:
    if execution not in EXECUTIONS:
        raise ValueError(f"execution must be one of {EXECUTIONS} ('next_open': fill at the next bar's open, "
                         f"'close': market-on-close), got {execution!r}")
    return execution


def _validate(target_position: pd.Series, close: pd.Series, commission_bps: float, slippage_bps: float):
    if not isinstance(target_position, pd.Series) or not isinstance(close, pd.Series):
        raise TypeError("target_position and close must be pandas Series on the same index")
    if len(close) == 0:
        raise ValueError("close is empty: pass at least one bar")
    if not target_position.index.equals(close.index):
        raise ValueError(
            "target_position and close have different indexes: align them first, "
            "e.g. target_position.reindex(close.index).fillna(0.0)"
        )
    pos = target_position.to_numpy(dtype=float)
    px = close.to_numpy(dtype=float)
    bad = ~np.isfinite(pos)
    if bad.any():
        raise ValueError(
            f"target_position has {int(bad.sum())} NaN/inf value(s) (first at {target_position.index[bad.argmax()]}): "
            "fill them with 0.0 (flat) or drop those bars from both series"
        )
    if (np.abs(pos) > 1.0 + 1e-9).any():
        i = int((np.abs(pos) > 1.0 + 1e-9).argmax())
        raise ValueError(
            f"target_position must lie in [-1, 1] (fraction of equity, no leverage); got {pos[i]} at "
            f"{target_position.index[i]}: clip it with .clip(-1, 1) or pass it through hrm_core.trading.risk.apply_risk"
        )
    if not np.isfinite(px).all() or (px <= 0).any():
        raise ValueError("close must be finite and positive: drop or fill the bad bars (see hrm_core.data.market validation)")
    for name, v in (("commission_bps", commission_bps), ("slippage_bps", slippage_bps)):
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0 (basis points per unit of turnover), got {v}")
    return np.clip(pos, -1.0, 1.0), px


def drifted_weight(held: np.ndarray, asset_return: np.ndarray) -> np.ndarray:
    """Weight of a position after one bar without trading: w (1 + r) / (1 + w r).

    Equity at or below zero (only possible for a full short on a bar of +100 % or more)
    leaves nothing to rebalance: the drifted weight is taken as 0 there.
    """
    denom = 1.0 + held * asset_return
    out = np.zeros_like(held)
    np.divide(held * (1.0 + asset_return), denom, out=out, where=denom > 0)
    return out


def _open_prices(open_price: pd.Series | None, close: pd.Series, execution: str) -> np.ndarray | None:
    """The opens as an array (next_open only), checked like the closes."""
    if execution == "close":
        return None
    if open_price is None:
        raise ValueError("execution='next_open' fills at the next bar's open: pass open_price=bars['open'] "
                         "(or execution='close' for market-on-close)")
    if not isinstance(open_price, pd.Series) or not open_price.index.equals(close.index):
        raise ValueError("open_price must be a pandas Series on the same index as close")
    op = open_price.to_numpy(dtype=float)
    if not np.isfinite(op).all() or (op <= 0).any():
        raise ValueError("open must be finite and positive: drop or fill the bad bars (see hrm_core.data.market validation)")
    return op


def bar_legs(close: np.ndarray, open_price: np.ndarray | None, execution: str):
    """Per-bar returns before and after the fill, and the fill price.

    next_open: pre = open[t] / close[t-1] - 1 (overnight gap, old position), post =
    close[t] / open[t] - 1 (intraday, new position), fill at open[t]. close: pre = close[t] /
    close[t-1] - 1 (whole bar, old position), post = 0, fill at close[t]. Row 0 has pre = 0.
    """
    n = len(close)
    pre = np.zeros(n)
    if execution == "close":
        pre[1:] = close[1:] / close[:-1] - 1.0
        return pre, np.zeros(n), close
    pre[1:] = open_price[1:] / close[:-1] - 1.0
    return pre, close / open_price - 1.0, open_price


def filled_weights(target: np.ndarray, execution: str) -> np.ndarray:
    """Weight right after each row's fill: the target itself (close) or the previous one (next_open)."""
    if execution == "close":
        return target.copy()
    to = np.zeros(len(target))
    to[1:] = target[:-1]
    return to


def pre_fill_weights(to_weight: np.ndarray, post_r: np.ndarray) -> np.ndarray:
    """Weight held into each bar (since the last fill), drifted over the previous bar's post-fill leg."""
    pre_w = np.zeros(len(to_weight))
    pre_w[1:] = drifted_weight(to_weight[:-1], post_r[:-1])
    return pre_w


def decision_pnl(result: "BacktestResult", close: pd.Series, open_price: pd.Series | None = None) -> pd.Series:
    """Net PnL earned by each decision (row t = the target decided at close t), in units of equity
    per bar as the frame's net_return; the decisions' PnL sums to `frame.net_return.sum()`.

    close: the target is filled at close t and held over bar t+1: pnl[t] = gross[t+1] - cost[t].
    next_open: filled at open t+1. Bar t+1's gross return splits into the overnight gap leg
    earned by the weight held before the fill (w_pre g, the previous decision's) and the intraday
    leg earned by the new weight (the rest of gross[t+1], compounded on the gap); the new weight,
    drifted over its intraday session, then earns bar t+2's gap before the next fill:
        pnl[t] = intraday[t+1] + gap[t+2] - cost[t+1]   (cost[t+1]: the fill at open t+1).
    A decision at the last bar is never filled (pnl 0).
    """
    fr = result.frame
    execution = result.execution
    if execution == "close":
        return (fr["gross_return"].shift(-1).fillna(0.0) - fr["cost"]).rename("pnl")
    op = _open_prices(open_price, close, execution)
    pre_r, post_r, _ = bar_legs(close.to_numpy(dtype=float), op, execution)
    gap = pre_fill_weights(fr["to_weight"].to_numpy(dtype=float), post_r) * pre_r
    intraday = fr["gross_return"].to_numpy(dtype=float) - gap
    pnl = (pd.Series(intraday, index=fr.index).shift(-1).fillna(0.0)
           + pd.Series(gap, index=fr.index).shift(-2).fillna(0.0)
           - fr["cost"].shift(-1).fillna(0.0))
    return pnl.rename("pnl")


def bar_return(pre_weight, pre_r, to_weight, post_r):
    """Gross return of one bar: (1 + w_pre pre_r)(1 + w_to post_r) - 1, expanded so close mode stays exact."""
    return pre_weight * pre_r + to_weight * post_r + pre_weight * pre_r * to_weight * post_r


def run_backtest(
    target_position: pd.Series,
    close: pd.Series,
    *,
    commission_bps: float,
    slippage_bps: float,
    execution: str = "next_open",
    open_price: pd.Series | None = None,
) -> BacktestResult:
    """Backtest target positions decided at each close and filled at the next open (or at that close).

    Example (execution="close"): close = [100, 110, 99], target = [1, 1, 0], zero costs ->
    held position [0, 1, 1], gross returns [0, +10 %, -10 %], equity [1.0, 1.1, 0.99].
    Example (execution="next_open"): open = [100, 105, 100], close = [100, 110, 99], target
    = [1, 0, 0] -> filled at open 105 on bar 1, earning 110 / 105 - 1 on bar 1, then the gap
    100 / 110 - 1 on bar 2 before the exit at open 100. See the module docstring.
    """
    check_execution(execution)
    a, px = _validate(target_position, close, commission_bps, slippage_bps)
    op = _open_prices(open_price, close, execution)
    n = len(px)
    idx = close.index
    bps = (commission_bps + slippage_bps) / 1e4

    r = np.zeros(n)
    r[1:] = px[1:] / px[:-1] - 1.0
    pre_r, post_r, fill_px = bar_legs(px, op, execution)
    to_w = filled_weights(a, execution)
    pre_w = pre_fill_weights(to_w, post_r)  # weight held into the bar, drifted over the previous post leg
    from_w = drifted_weight(pre_w, pre_r)
    held = np.zeros(n)
    held[1:] = a[:-1]  # the shift: decided at close t-1, held over bar t
    gross = bar_return(pre_w, pre_r, to_w, post_r)
    turnover = np.abs(to_w - from_w)
    cost = bps * turnover
    net = gross - cost
    equity = np.cumprod(1.0 + net)
    peak = np.maximum(np.maximum.accumulate(equity), 1.0)  # W_0 = 1 prepended
    drawdown = equity / peak - 1.0

    frame = pd.DataFrame(
        {
            "target_position": a, "position": held, "asset_return": r, "gross_return": gross,
            "fill_price": fill_px, "from_weight": from_w, "to_weight": to_w, "turnover": turnover,
            "cost": cost, "net_return": net, "equity": equity, "drawdown": drawdown,
        },
        index=idx,
    )
    lag = 1 if execution == "close" else 0  # a fill at close t earns from bar t+1; at open t from bar t
    trades = _trades(to_w, pre_w, pre_r, post_r, from_w, net, bps, fill_px, px, idx, lag=lag)
    return BacktestResult(
        frame=frame, trades=trades, turnover=float(turnover.sum()),
        commission_bps=float(commission_bps), slippage_bps=float(slippage_bps), execution=execution,
    )


def _trades(to_w, pre_w, pre_r, post_r, from_w, net, bps, fill_px, px, idx, *, lag: int) -> pd.DataFrame:
    """Trade list, vectorised: runs of equal non-zero sign in the weight after each fill.

    A run over fill rows s..e earns (1 + to_w[s] post_r[s] - c|to_w[s]|) on its entry row (the
    new position's leg and entry units), (1 + net) on rows s+1..e, and (1 + pre_w pre_r -
    c|from_w|) on the exit row e+1 (the old position's leg and exit units).
    """
    n = len(to_w)
    s = np.sign(to_w)
    prev_s = np.concatenate(([0.0], s[:-1]))
    starts = np.flatnonzero((s != 0) & (s != prev_s))  # fill row where a trade is opened
    if len(starts) == 0:
        empty_time = pd.Series(idx[:0])
        cols = {c: pd.Series(dtype=dt) for c, dt in _TRADE_DTYPES.items()}
        return pd.DataFrame({**cols, "entry_time": empty_time, "exit_time": empty_time})[list(TRADE_COLUMNS)]
    next_s = np.concatenate((s[1:], [0.0]))
    ends = np.flatnonzero((s != 0) & (s != next_s))  # last fill row of the run
    exit_row = ends + 1  # fill row where it is closed / flipped
    is_open = exit_row >= n
    exit_row_c = np.minimum(exit_row, n - 1)

    entry_factor = 1.0 + to_w[starts] * post_r[starts] - bps * np.abs(to_w[starts])
    exit_factor = np.where(is_open, 1.0, 1.0 + pre_w[exit_row_c] * pre_r[exit_row_c] - bps * np.abs(from_w[exit_row_c]))
    # middle rows s+1..e (exclusive stop e+1, at most n): prod(1 + net) via reduceat with a sentinel
    factor = np.concatenate((1.0 + net, [1.0]))
    mid_start, mid_stop = starts + 1, np.minimum(ends + 1, n)
    bounds = np.empty(2 * len(starts), dtype=np.int64)
    bounds[0::2], bounds[1::2] = mid_start, mid_stop
    mid = np.where(mid_stop > mid_start, np.multiply.reduceat(factor, bounds)[0::2], 1.0)

    last_held = np.minimum(ends, n - 1 - lag)  # last fill row whose position earned a whole bar in the data
    bars_held = np.maximum(last_held - starts + 1, 0)
    empty = bars_held <= 0
    abs_w = np.concatenate((np.abs(to_w), [0.0]))
    size_bounds = np.empty_like(bounds)
    size_bounds[0::2], size_bounds[1::2] = starts, np.maximum(last_held + 1, starts)
    size_sum = np.where(empty, 0.0, np.add.reduceat(abs_w, size_bounds)[0::2])
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_size = np.where(empty, np.nan, size_sum / np.maximum(bars_held, 1))

    return pd.DataFrame(
        {
            "entry_time": idx[starts],
            "exit_time": idx[exit_row_c],
            "side": np.where(s[starts] > 0, "long", "short"),
            "size": np.abs(to_w[starts]),
            "avg_size": avg_size,
            "entry_price": fill_px[starts],
            "exit_price": np.where(is_open, px[-1], fill_px[exit_row_c]),
            "pnl_return": entry_factor * mid * exit_factor - 1.0,
            "bars_held": bars_held.astype(np.int64),
            "open": is_open,
        }
    )


_TRADE_DTYPES = {
    "side": object, "size": float,
    "avg_size": float, "entry_price": float, "exit_price": float, "pnl_return": float, "bars_held": "int64",
    "open": bool,
}
