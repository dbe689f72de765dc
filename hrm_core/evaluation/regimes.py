"""Market regimes by causal rules (REFERENCE "Regimes"), and performance per regime.

Every label at bar t uses closes through t only, so a label can feed a signal or a live
decision. Rules, with precedence high_vol > bear > bull > sideways:

- high_vol: sigma_t = sqrt(P) s(last 20 returns) >= the 80th percentile of sigma over its
  TRAILING history (expanding window through t, at least 252 values; a full-sample
  percentile would leak the future).
- bear: drawdown from the running maximum P_t / max_{s<=t} P_s - 1 <= -20 %.
- bull: P_t > SMA_200 and the SMA's slope > 0, slope = SMA_t - SMA_{t-20} (20 bars, to
  keep one noisy day from flipping the trend; Faber 2007 uses monthly data).
- sideways: the rest.
- unknown: warm-up, until every rule has its data (200 + 20 bars for the trend, 20 + 251
  for the volatility percentile: about 271 bars), so a label means the same thing from
  the first labelled bar on.

Retrospective datings (Pagan & Sossounov; Lunde & Timmermann) use future data and are not
offered here.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hrm_core.trading import metrics as _m

REGIMES = ("high_vol", "bear", "bull", "sideways")
UNKNOWN = "unknown"


def classify_regimes(
    close: pd.Series,
    *,
    periods_per_year: float = 252,
    sma_window: int = 200,
    slope_window: int = 20,
    vol_window: int = 20,
    vol_quantile: float = 0.8,
    vol_min_history: int = 252,
    bear_drawdown: float = -0.20,
) -> pd.Series:
    """Regime label per bar from closes through that bar (see the module docstring)."""
    if not isinstance(close, pd.Series):
        raise TypeError("close must be a pandas Series")
    px = close.astype(float)
    if len(px) and (not np.isfinite(px.to_numpy()).all() or (px <= 0).any()):
        raise ValueError("close must be finite and positive: drop or fill the bad bars")

    sma = px.rolling(sma_window, min_periods=sma_window).mean()
    slope = sma - sma.shift(slope_window)
    bull = (px > sma) & (slope > 0)
    trend_known = slope.notna()

    bear = px / px.cummax() - 1.0 <= bear_drawdown

    sigma = px.pct_change().rolling(vol_window, min_periods=vol_window).std(ddof=1) * math.sqrt(periods_per_year)
    threshold = sigma.expanding(min_periods=vol_min_history).quantile(vol_quantile)  # trailing, includes t
    high_vol = sigma >= threshold
    vol_known = threshold.notna()

    labels = np.select(
        [~(trend_known & vol_known).to_numpy(), high_vol.to_numpy(), bear.to_numpy(), bull.to_numpy()],
        [UNKNOWN, "high_vol", "bear", "bull"],
        default="sideways",
    )
    return pd.Series(labels, index=close.index, name="regime", dtype=object)


def metrics_by_regime(
    net_returns: pd.Series,
    regimes: pd.Series,
    *,
    periods_per_year: float,
    benchmark: pd.Series | None = None,
) -> pd.DataFrame:
    """Performance per regime, each return assigned to the regime KNOWN WHEN IT WAS DECIDED.

    The return of bar t is earned by a position decided at the close of t-1, so it is
    grouped under regimes[t-1] (the first bar's return under "unknown"). Using regimes[t]
    would sort returns by information the position did not have.

    Per regime row: Bars, Share [%], Annual return [%] (CAGR of that regime's returns
    compounded back to back), Annual volatility [%], Sharpe, Max drawdown [%] (of that
    back-to-back equity curve), Win rate per period [%], and with a benchmark its annual
    return and Sharpe on the same bars.
    """
    if not net_returns.index.equals(regimes.index):
        raise ValueError("regimes must be on the same index as net_returns: classify_regimes(close) of the same bars")
    if benchmark is not None and not benchmark.index.equals(net_returns.index):
        raise ValueError("benchmark must be on the same index as net_returns")
    known_at_decision = regimes.shift(1).fillna(UNKNOWN).to_numpy()
    r = net_returns.to_numpy(dtype=float)
    b = benchmark.to_numpy(dtype=float) if benchmark is not None else None
    P = periods_per_year
    rows = []
    for name in (*REGIMES, UNKNOWN):
        sel = known_at_decision == name
        if not sel.any():
            continue
        x = r[sel]
        row = {
            "regime": name,
            "Bars": int(sel.sum()),
            "Share [%]": 100 * sel.mean(),
            "Annual return [%]": 100 * _m.cagr(x, periods_per_year=P),
            "Annual volatility [%]": 100 * _m.annual_volatility(x, periods_per_year=P),
            "Sharpe": _m.sharpe(x, periods_per_year=P),
            "Max drawdown [%]": 100 * _m.max_drawdown(x),
            "Win rate per period [%]": 100 * _m.win_rate_per_period(x),
        }
        if b is not None:
            row["Benchmark annual return [%]"] = 100 * _m.cagr(b[sel], periods_per_year=P)
            row["Benchmark Sharpe"] = _m.sharpe(b[sel], periods_per_year=P)
        rows.append(row)
    cols = ["Bars", "Share [%]", "Annual return [%]", "Annual volatility [%]", "Sharpe", "Max drawdown [%]",
            "Win rate per period [%]"] + (["Benchmark annual return [%]", "Benchmark Sharpe"] if b is not None else [])
    return pd.DataFrame(rows, columns=["regime", *cols]).set_index("regime")
