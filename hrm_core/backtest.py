"""Positions -> per-bar returns, costs, equity, drawdown and a trade list.

One pure, vectorised function, `run_backtest`. Conventions (see shared/REFERENCE.md):

- **Timing.** `target_position[t]` is decided at the close of bar t and is *held over
  bar t+1*: it earns r[t+1] = close[t+1] / close[t] - 1. The one-bar shift lives inside
  `run_backtest`; there is no option to remove it, so a signal can never trade on the bar
  that produced it. Row t of the result frame shows the position *held* over bar t
  (= target[t-1]; flat on the first bar).
- **Positions** are fractions of equity in [-1, 1] (no leverage), rebalanced to target at
  every close, so the gross return of bar t is exactly position[t] * r[t].
- **Turnover** is two-way and drift-aware (REFERENCE "Turnover"): at the close of bar t we
  trade from the *drifted* weight w~ = w (1 + r) / (1 + w r) to the new target, so
  turnover[t] = |target[t] - w~[t]|. A long of 1.0 does not drift (a flip from +1 to -1 is
  exactly 2 units); a short or a fractional position does, and keeping it at its target
  costs a little every bar. Entering from flat costs |target| units.
- **Costs**: (commission_bps + slippage_bps) / 1e4 per unit of turnover, charged at the
  close where the trade happens: net[t] = gross[t] - cost[t], equity[t] = prod(1 + net).
  A trade placed at the last close is charged even though its bar is not in the data.
- **Trades**: a trade is a run of bars with the same non-zero sign of target position;
  resizing within the sign stays in the trade. entry_time / entry_price: the close where
  the position was opened; exit_time / exit_price: the close where it was closed or
  flipped. `size` is the entry size |target| and `avg_size` the mean |held position| over
  the bars held. `pnl_return` compounds the trade's own net returns: its gross returns
  less its entry, rebalancing and exit costs (a flip's cost is split: the exit units go
  to the old trade, the entry units to the new one). A trade still open at the end is
  marked to the last close and flagged `open=True`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FRAME_COLUMNS = (
    "target_position",  # decided at this bar's close, held over the next bar
    "position",  # held over this bar (= previous target)
    "asset_return",
    "gross_return",
    "turnover",  # traded at this bar's close, two-way, drift-aware
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

    @property
    def net_returns(self) -> pd.Series:
        return self.frame["net_return"]

    @property
    def equity(self) -> pd.Series:
        return self.frame["equity"]


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
            f"{target_position.index[i]}: clip it with .clip(-1, 1) or pass it through hrm_core.risk.apply_risk"
        )
    if not np.isfinite(px).all() or (px <= 0).any():
        raise ValueError("close must be finite and positive: drop or fill the bad bars (see hrm_core.data validation)")
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


def run_backtest(
    target_position: pd.Series,
    close: pd.Series,
    *,
    commission_bps: float,
    slippage_bps: float,
) -> BacktestResult:
    """Backtest target positions decided at each close and held over the next bar.

    Example: close = [100, 110, 99], target = [1, 1, 0], zero costs -> held position
    [0, 1, 1], gross returns [0, +10 %, -10 %], equity [1.0, 1.1, 0.99], one closed long
    trade entered at 100 and exited at 99 after 2 bars. See the module docstring for every
    convention.
    """
    a, px = _validate(target_position, close, commission_bps, slippage_bps)
    n = len(px)
    idx = close.index
    bps = (commission_bps + slippage_bps) / 1e4

    r = np.zeros(n)
    r[1:] = px[1:] / px[:-1] - 1.0
    held = np.zeros(n)
    held[1:] = a[:-1]  # the shift: decided at close t-1, held over bar t
    gross = held * r
    drifted = drifted_weight(held, r)
    turnover = np.abs(a - drifted)
    cost = bps * turnover
    net = gross - cost
    equity = np.cumprod(1.0 + net)
    peak = np.maximum(np.maximum.accumulate(equity), 1.0)  # W_0 = 1 prepended
    drawdown = equity / peak - 1.0

    frame = pd.DataFrame(
        {
            "target_position": a, "position": held, "asset_return": r, "gross_return": gross,
            "turnover": turnover, "cost": cost, "net_return": net, "equity": equity, "drawdown": drawdown,
        },
        index=idx,
    )
    trades = _trades(a, held, r, drifted, gross, bps, px, idx)
    return BacktestResult(
        frame=frame, trades=trades, turnover=float(turnover.sum()),
        commission_bps=float(commission_bps), slippage_bps=float(slippage_bps),
    )


def _trades(a, held, r, drifted, gross, bps, px, idx) -> pd.DataFrame:
    """Trade list, vectorised: runs of equal non-zero sign in the target position."""
    n = len(a)
    s = np.sign(a)
    prev_s = np.concatenate(([0.0], s[:-1]))
    starts = np.flatnonzero((s != 0) & (s != prev_s))  # close where a trade is opened
    if len(starts) == 0:
        empty_time = pd.Series(idx[:0])
        cols = {c: pd.Series(dtype=dt) for c, dt in _TRADE_DTYPES.items()}
        return pd.DataFrame({**cols, "entry_time": empty_time, "exit_time": empty_time})[list(TRADE_COLUMNS)]
    next_s = np.concatenate((s[1:], [0.0]))
    ends = np.flatnonzero((s != 0) & (s != next_s))  # last close of the run (target index)
    exit_bar = ends + 1  # close where it is closed / flipped
    is_open = exit_bar >= n
    exit_bar_c = np.minimum(exit_bar, n - 1)

    # Cost attributed to the trade held over row k: rebalancing inside the run, or the
    # exit leg |drifted weight| on the row where the sign changes.
    sign_change = s != np.sign(held)
    held_cost = np.where(sign_change, bps * np.abs(drifted), bps * np.abs(a - drifted))
    factor = np.concatenate((1.0 + gross - held_cost, [1.0]))  # sentinel for reduceat
    entry_cost = bps * np.abs(a[starts])

    held_start = starts + 1  # first bar held (== n for a trade opened at the last close)
    held_stop = np.minimum(exit_bar + 1, n)  # exclusive
    bounds = np.empty(2 * len(starts), dtype=np.int64)
    bounds[0::2], bounds[1::2] = held_start, held_stop
    prod = np.multiply.reduceat(factor, bounds)[0::2]
    bars_held = held_stop - held_start
    empty = bars_held <= 0
    prod = np.where(empty, 1.0, prod)
    abs_held = np.concatenate((np.abs(held), [0.0]))
    size_sum = np.where(empty, 0.0, np.add.reduceat(abs_held, bounds)[0::2])
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_size = np.where(empty, np.nan, size_sum / np.maximum(bars_held, 1))

    return pd.DataFrame(
        {
            "entry_time": idx[starts],
            "exit_time": idx[exit_bar_c],
            "side": np.where(s[starts] > 0, "long", "short"),
            "size": np.abs(a[starts]),
            "avg_size": avg_size,
            "entry_price": px[starts],
            "exit_price": px[exit_bar_c],
            "pnl_return": (1.0 - entry_cost) * prod - 1.0,
            "bars_held": bars_held.astype(np.int64),
            "open": is_open,
        }
    )


_TRADE_DTYPES = {
    "side": object, "size": float,
    "avg_size": float, "entry_price": float, "exit_price": float, "pnl_return": float, "bars_held": "int64",
    "open": bool,
}
