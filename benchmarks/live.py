"""Speed of paper trading: `python -m benchmarks.live` prints JSON.

- **live step** (goal p50 <= 50 ms, network excluded): load the bars (`load_bars` served by
  a fresh SQLite cache seeded with the bundled sample, as a live process between downloads),
  the signal (model on one window), the risk layer, the simulated fill and the ledger
  transaction, on the shipped model, one new bar per step; p50 / p95 over `--steps`
  consecutive bars of the sample's 2018.
- **replay of one year of daily bars** (goal <= 10 s): `hrm_core.live.trader.replay` over 2018
  into a fresh ledger, model load included.
- **matmul GFLOP/s** measured in the same run (float32 512 x 512, one thread), so the
  timings can be compared across machines.

One torch thread (a live step runs one window). Runs offline (HRM_OFFLINE=1 is set).
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
import torch

STEP_GOAL_MS = 50.0
REPLAY_GOAL_S = 10.0


def matmul_gflops(n: int = 512, repeats: int = 20) -> float:
    """Best-of float32 n x n matmul throughput on this machine, GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _cached_settings(settings, tmp: Path):
    """Settings whose market cache (in tmp) holds the sample's ^GSPC, fetched 'now': load_bars serves 'cache'."""
    from dataclasses import replace

    import pandas as pd

    from hrm_core.data.cache import BarCache
    from hrm_core.data.market import load_bars

    s = replace(settings, data=replace(settings.data, cache_db=str(tmp / "market.db")))
    with BarCache(tmp / "market.db") as cache:
        cache.write("^GSPC", "1d", load_bars("^GSPC", "1d", settings=s).bars, fetched_at=pd.Timestamp.now(tz="UTC"),
                    replace=True)
    return s


def live_steps(settings, steps: int) -> dict:
    """Time load + decide + risk + fill + write for `steps` consecutive new bars (sample's 2018)."""
    from hrm_core.model.cards import resolve_model
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars
    from hrm_core.live.ledger import Ledger
    from hrm_core.live.trader import PaperTrader

    loaded = load_checkpoint(resolve_model(None, settings))
    times = []
    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "live.db") as ledger:
        settings = _cached_settings(settings, Path(tmp))
        full = load_bars("^GSPC", "1d", settings=settings).bars
        first = int(np.flatnonzero(full.index >= "2018-01-01")[0])
        trader = PaperTrader.open(ledger, loaded, symbol="^GSPC", interval="1d", bars=full, settings=settings,
                                  csv=None, mode="live")
        for i in range(first, first + steps + 1):
            t0 = time.perf_counter()
            res = load_bars("^GSPC", "1d", settings=settings)
            bars = res.bars.iloc[: i + 1]  # the data "as of" bar i: one new bar per step
            trader.step(bars, source=res.source, fetched_at=res.fetched_at)
            times.append(1e3 * (time.perf_counter() - t0))
    times = times[1:]  # the first step pays one-off costs (torch kernels, ledger pages)
    return {"steps": len(times), "source": res.source, "p50_ms": statistics.median(times),
            "p95_ms": float(np.percentile(times, 95)), "goal_p50_ms": STEP_GOAL_MS,
            "meets_goal": statistics.median(times) <= STEP_GOAL_MS}


def replay_year(settings) -> dict:
    """Wall time of `replay` over the sample's 2018 (252 daily bars) into a fresh ledger."""
    from hrm_core.live.trader import replay

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = replay(settings, symbol="^GSPC", interval="1d", start="2018-01-01", end="2018-12-31",
                         db=Path(tmp) / "live.db")
        seconds = time.perf_counter() - t0
    return {"bars": summary.decided, "seconds": seconds, "ms_per_bar": 1e3 * seconds / max(summary.decided, 1),
            "goal_s": REPLAY_GOAL_S, "meets_goal": seconds <= REPLAY_GOAL_S}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60, help="live steps to time (default 60)")
    args = ap.parse_args(argv)
    os.environ["HRM_OFFLINE"] = "1"
    torch.set_num_threads(1)
    from hrm_core.settings import load_settings

    settings = load_settings()
    result = {
        "benchmark": "live", "machine": platform.processor() or platform.machine(), "torch_threads": 1,
        "matmul_gflops": round(matmul_gflops(), 1),
        "live_step": live_steps(settings, args.steps),
        "replay_one_year": replay_year(settings),
        "note": ("bars from a fresh cache seeded with the bundled sample (network excluded); "
                 "goals: step p50 <= 50 ms, replay <= 10 s"),
    }
    result["matmul_gflops_after"] = round(matmul_gflops(), 1)  # machine load can change during the run
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
