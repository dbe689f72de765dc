"""Compare at equal risk: every strategy scaled to the same ex-ante volatility, so a chart compares skill, not
leverage (a model holding 10 % positions beside buy & hold at 100 % otherwise looks like a flat line).

Scale at the close of t: k_t = TARGET_VOL / sigma_t, sigma_t the annualised standard deviation of the
strategy's own net returns over the last WINDOW bars up to and including t (known at that close: causal);
no position during the first MIN_BARS bars of the period (no estimate yet), the same for every strategy.
The scaled position k_t x (the position after the risk layer) is capped at a full position (no leverage),
so a strategy that would need more than that stays below the target. It goes through the same backtest,
costs and fills; metrics and their intervals are recomputed, and the DSR keeps the period's N and V.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from hrm_core.evaluation.evaluate import CI_LEVEL, InstrumentEvaluation, N_BOOT, StrategyRun, deflate
from hrm_core.settings import Settings
from hrm_core.trading.backtest import run_backtest
from hrm_core.trading.metrics import backtest_metrics, metrics_with_ci

TARGET_VOL = 0.10
WINDOW = 60
MIN_BARS = 20


def risk_scale(net_returns: pd.Series, *, periods_per_year: float, target_vol: float = TARGET_VOL,
               window: int = WINDOW, min_bars: int = MIN_BARS) -> pd.Series:
    """k_t = target_vol / the trailing annualised volatility of `net_returns` up to t; 0 before min_bars."""
    vol = net_returns.rolling(window, min_periods=min_bars).std() * math.sqrt(periods_per_year)
    k = target_vol / vol.where(vol > 0)
    return k.replace([np.inf, -np.inf], np.nan).fillna(0.0)


def scaled_run(run: StrategyRun, settings: Settings, *, target_vol: float = TARGET_VOL, n_boot: int = N_BOOT,
               seed: int = 0) -> StrategyRun:
    """`run` with its positions scaled to `target_vol` (module docstring), through the same backtest."""
    costs = settings.costs
    k = risk_scale(run.net_returns, periods_per_year=run.periods_per_year, target_vol=target_vol)
    position = (run.risk.final.reindex(k.index).fillna(0.0) * k).clip(-1.0, 1.0)
    bt = run_backtest(position, run.close, commission_bps=costs.commission_bps, slippage_bps=costs.slippage_bps,
                      execution=costs.execution, open_price=run.open_price)
    m = backtest_metrics(bt, periods_per_year=run.periods_per_year)
    m.update(metrics_with_ci(bt.net_returns, periods_per_year=run.periods_per_year, n_boot=n_boot, seed=seed,
                             alpha=1 - CI_LEVEL / 100))
    return replace(run, backtest=bt, metrics=m)


def at_equal_risk(inst: InstrumentEvaluation, settings: Settings, *, target_vol: float = TARGET_VOL,
                  n_boot: int = N_BOOT) -> InstrumentEvaluation:
    """Every run of `inst` scaled to `target_vol`; the DSR recomputed with the same N and trial Sharpe ratios."""
    runs = [scaled_run(r, settings, target_vol=target_vol, n_boot=n_boot) for r in inst.runs]
    scaled = replace(inst, runs=runs, dsr_variance={})
    n = next((int(r.metrics["Trials (N)"]) for r in inst.runs if math.isfinite(r.metrics.get("Trials (N)", math.nan))),
             None)
    if n:
        deflate([scaled], n_trials=n)
    return scaled


def describe(target_vol: float = TARGET_VOL) -> str:
    return (f"equal risk: every strategy scaled to {target_vol:.0%} annualised volatility by its own trailing "
            f"{WINDOW}-bar estimate (causal; flat for the first {MIN_BARS} bars; capped at a full position), "
            "same costs and fills")


__all__ = ["MIN_BARS", "TARGET_VOL", "WINDOW", "at_equal_risk", "describe", "risk_scale", "scaled_run"]
