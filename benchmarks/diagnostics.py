"""Speed of the reasoning diagnostics: `python -m benchmarks.diagnostics [--threads N]` prints JSON.

- cold: `diagnose_period` of one year of daily decisions (^GSPC 2016 from the bundled sample)
  with the shipped models/hrm-default, an empty result store and a checkpoint loaded from
  disk: full-depth traces, convergence, depth and its bootstrap CIs, the participation ratio
  and its bootstrap CIs, the as-run vs full-depth backtests. Goal <= 10 s on 2 cores.
  `cold_breakdown_s` splits it: loading the checkpoint and bars, tracing (timed again, warm),
  and the rest (features, cache keys, bootstraps, backtests). Python imports are not counted.
- cached: the same request again (a SQLite hit in the result store).
- matmul_gflops: float32 1024 x 1024 matmul throughput measured in the same run, so timings
  from different machines can be compared.

Offline (HRM_OFFLINE=1) with a throwaway market-data cache, so it never downloads.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

GOAL_S = 10.0
PERIOD = ("2016-01-01", "2016-12-31")


def matmul_gflops(n: int = 1024, repeats: int = 20) -> float:
    """Best-of float32 n x n matmul throughput, GFLOP/s (2 n^3 per product)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def run(threads: int) -> dict:
    from hrm_core.model.cards import resolve_model
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars
    from hrm_core.reasoning.diagnostics import diagnose_period, trace_decisions
    from hrm_core.evaluation.evaluate import evaluation_period
    from hrm_core.settings import load_settings
    from hrm_core.storage.results import ResultStore

    torch.set_num_threads(threads)
    os.environ.setdefault("HRM_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        base = load_settings()
        s = replace(base, data=replace(base.data, cache_db=str(Path(tmp) / "market.db")))
        store = ResultStore(Path(tmp) / "results.db")

        t0 = time.perf_counter()
        loaded = load_checkpoint(resolve_model(None, s))
        bars = load_bars("^GSPC", "1d", settings=s).bars
        t_load = time.perf_counter() - t0
        kw = dict(symbol="^GSPC", interval="1d", settings=s, start=PERIOD[0], end=PERIOD[1])
        t1 = time.perf_counter()
        out = diagnose_period(loaded, bars, store=store, **kw)
        cold = time.perf_counter() - t0
        t_diag = time.perf_counter() - t1
        t2 = time.perf_counter()
        again = diagnose_period(loaded, bars, store=store, **kw)
        cached = time.perf_counter() - t2

        mask = evaluation_period(loaded, *PERIOD).mask(bars.index, "1d")
        t3 = time.perf_counter()
        trace_decisions(loaded, bars, symbol="^GSPC", interval="1d", mask=mask)
        t_trace = time.perf_counter() - t3
    return {
        "model": loaded.name, "symbol": "^GSPC", "interval": "1d", "period": list(PERIOD),
        "decisions": out["decisions"], "max_segments": out["max_segments"], "threads": threads,
        "cold_s": round(cold, 3), "goal_s": GOAL_S, "within_goal": cold <= GOAL_S,
        "cold_breakdown_s": {"load_checkpoint_and_bars": round(t_load, 3),
                             "trace_all_segments_warm": round(t_trace, 3),
                             "rest_approx": round(t_diag - t_trace, 3)},
        "cold_note": "in-process, after imports (about 3 s more for a fresh `python -m`); rest_approx = features, "
                     "cache keys, bootstrap CIs, two backtests and first-call overheads",
        "cached_s": round(cached, 4), "cache_hit": again["cached"],
        "matmul_gflops": round(matmul_gflops(), 1),
        "torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the goal's machine)")
    args = parser.parse_args()
    print(json.dumps(run(args.threads), indent=2))


if __name__ == "__main__":
    main()
