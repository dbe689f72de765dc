"""Speed of the model -> money seam: `python -m benchmarks.signals` prints JSON.

- signal generation for 10k bars with the default model (the shipped models/hrm-default if
  present, else an untrained `default` preset): wall time of `generate_signals` without a
  cache (median of `repeats`), ms per bar, mean reasoning segments; goal <= 2 s.
- the same request again through the SQLite cache (a temporary file): the cache-hit time.
- backtest + metrics on those signals: risk layer + run_backtest + backtest_metrics, and
  metrics_with_ci (2000 stationary-bootstrap replications).

Bars are a synthetic daily random walk (the bundled sample has about 5k bars per symbol).
Set threads with --threads (default: torch's default for this machine).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hrm_core.trading.backtest import run_backtest
from hrm_core.trading.metrics import backtest_metrics, metrics_with_ci, periods_per_year
from hrm_core.trading.risk import apply_risk
from hrm_core.settings import load_settings
from hrm_core.trading.signals import generate_signals

GOAL_S = 2.0


def synthetic_bars(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 1000 * np.exp(np.cumsum(rng.normal(0.0003, 0.011, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    idx = pd.bdate_range("1980-01-01", periods=n, tz="UTC", name="time")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n)),
                         "low": np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n)), "close": close,
                         "volume": rng.uniform(1e8, 3e8, n)}, index=idx)


def default_model():
    """The shipped default checkpoint, or an untrained `default` preset wrapped like one."""
    from hrm_core.model.cards import default_model_path
    from hrm_core.model.checkpoint import LoadedModel, load_checkpoint

    path = default_model_path(load_settings())
    if path is not None:
        return load_checkpoint(path), str(path)
    from hrm_core.model.config import get_preset
    from hrm_core.data.features import FEATURE_NAMES, FeatureSpec, Scaler, compute_features
    from hrm_core.model.networks import build_model

    torch.manual_seed(0)
    cfg = get_preset("default", n_features=len(FEATURE_NAMES))
    scaler = Scaler.fit(compute_features(synthetic_bars(3000, seed=1)))
    loaded = LoadedModel(model=build_model(cfg).eval(), config=cfg, feature_spec=FeatureSpec(window=cfg.window),
                         scaler=scaler, instruments={}, intervals=("1d",), periods={}, metrics={}, data_hash="",
                         package_version="", name="untrained-default", path="")
    return loaded, "untrained default preset (no shipped checkpoint)"


def main(n_bars: int = 10_000, repeats: int = 3, threads: int | None = None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    loaded, source = default_model()
    bars = synthetic_bars(n_bars)
    generate_signals(loaded, bars.iloc[:600], symbol="BENCH", interval="1d")  # warm-up
    times, res = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = generate_signals(loaded, bars, symbol="BENCH", interval="1d")
        times.append(time.perf_counter() - t0)
    sig_s = statistics.median(times)

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "signals.db"
        t0 = time.perf_counter()
        generate_signals(loaded, bars, symbol="BENCH", interval="1d", cache=db)
        miss_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        hit = generate_signals(loaded, bars, symbol="BENCH", interval="1d", cache=db)
        hit_s = time.perf_counter() - t0
        assert hit.cached

    settings = load_settings()
    P = periods_per_year("1d")

    def money():
        risk = apply_risk(res.position, bars["close"], settings.risk, periods_per_year=P,
                          costs_bps=settings.costs.total_bps, execution=settings.costs.execution,
                          open_price=bars["open"])
        bt = run_backtest(risk.final, bars["close"], commission_bps=settings.costs.commission_bps,
                          slippage_bps=settings.costs.slippage_bps, execution=settings.costs.execution,
                          open_price=bars["open"])
        return bt, backtest_metrics(bt, periods_per_year=P)

    money()
    t0 = time.perf_counter()
    bt, _ = money()
    bt_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics_with_ci(bt.net_returns, periods_per_year=P, n_boot=2000)
    ci_s = time.perf_counter() - t0

    ok = res.table["status"] == "ok"
    return {
        "benchmark": "signals",
        "model": res.model_id, "model_source": source, "parameters": sum(p.numel() for p in loaded.model.parameters()),
        "bars": n_bars, "decisions": int(ok.sum()),
        "signal_generation_s": round(sig_s, 3), "signal_runs_s": [round(t, 3) for t in times],
        "ms_per_decision": round(1e3 * sig_s / max(int(ok.sum()), 1), 4),
        "mean_segments": round(float(res.table.loc[ok, "steps"].mean()), 3),
        "goal_s": GOAL_S, "meets_goal": sig_s <= GOAL_S,
        "sqlite_cache_miss_s": round(miss_s, 3), "sqlite_cache_hit_s": round(hit_s, 4),
        "backtest_risk_metrics_ms": round(1e3 * bt_s, 2), "metrics_with_ci_2000_ms": round(1e3 * ci_s, 2),
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "python": platform.python_version(), "machine": platform.machine(),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args()
    print(json.dumps(main(a.bars, a.repeats, a.threads), indent=2))
