"""Speed of the money side: `python -m benchmarks.backtest` prints JSON.

- run_backtest on 100k bars of a random walk with a position flipping every few bars
  (tens of thousands of trades): median of several runs, ms.
- compute_metrics + metrics_with_ci (2000 stationary-bootstrap replications) on 5k bars.
- apply_risk with every rule on (the drawdown brake is a bar-by-bar loop) on 100k bars.
"""
from __future__ import annotations

import json
import platform
import statistics
import time

import numpy as np
import pandas as pd

from hrm_core.trading.backtest import run_backtest
from hrm_core.trading.metrics import backtest_metrics, metrics_with_ci
from hrm_core.trading.risk import apply_risk
from hrm_core.settings import RiskSettings


def _market(n: int, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("1990-01-01", periods=n, freq="h", tz="UTC", name="time")
    close = pd.Series(100 * np.cumprod(1 + rng.normal(0.0001, 0.01, n)), index=idx)
    position = pd.Series(np.sign(np.sin(np.arange(n) / 3.0)), index=idx)
    return close, position


def _median_ms(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times), out


def main() -> dict:
    close, pos = _market(100_000)
    bt_ms, bt = _median_ms(lambda: run_backtest(pos, close, commission_bps=1.0, slippage_bps=2.0, execution="close"),
                           repeats=7)

    close5, pos5 = _market(5_000, seed=1)
    bt5 = run_backtest(pos5, close5, commission_bps=1.0, slippage_bps=2.0, execution="close")
    m_ms, _ = _median_ms(lambda: backtest_metrics(bt5, periods_per_year=252, n_trials=10), repeats=5)
    ci_ms, _ = _median_ms(lambda: metrics_with_ci(bt5.net_returns, periods_per_year=252, n_boot=2000), repeats=5)

    rules = RiskSettings(max_abs_position=0.8, vol_target_annual=0.1, vol_lookback=20, drawdown_brake=0.1)
    risk_ms, _ = _median_ms(lambda: apply_risk(pos, close, rules, periods_per_year=252, costs_bps=3.0,
                                                       execution="close"), repeats=3)

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "backtest_100k_bars_ms_median": round(bt_ms, 2),
        "backtest_100k_trades": int(len(bt.trades)),
        "compute_metrics_5k_bars_ms_median": round(m_ms, 2),
        "metrics_with_ci_5k_bars_2000_boot_ms_median": round(ci_ms, 2),
        "metrics_total_5k_bars_with_bootstrap_ms": round(m_ms + ci_ms, 2),
        "apply_risk_all_rules_100k_bars_ms_median": round(risk_ms, 2),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
