"""Explanation speed on CPU, printed as JSON: `python -m benchmarks.explain [--threads N] [--repeats R]`.

- one_explanation: a full `explain_decision` (the rule's gate, module H vs L + probe and attribution
  per cycle + feature x time under both baselines at 32 integration steps, counterfactuals of the top 3
  inputs, the 5 similar training-period situations, stability across the 4 other seeds) on the shipped
  models/hrm-default at test-period bars of the bundled ^GSPC sample; median and p90 over several
  decisions and repeats, after a warm-up (the training states for similar situations are computed
  once per model and instrument: `similar_warmup_s`). Goal: <= 1 s on 2 cores.
- period_cold / period_cached: `explain_period` over the model's test period (every decision, module
  attribution, batched by segment count), first with empty signal and result caches in a temporary
  folder, then served from the SQLite result cache. Goal: <= 60 s cold, instant cached.
- matmul_gflops: float32 512 x 512 matmul throughput measured in the same run (before and after), so a
  busy or slow machine shows in the figures next to the timings.
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

import torch


def matmul_gflops(n: int = 512, repeats: int = 20) -> float:
    """Best-of float32 n x n matmul throughput on this machine at the current thread count, GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HRM_OFFLINE", "1")

    from explain import explain_decision
    from explain.core import decision_dataset
    from explain.period import explain_period
    from hrm_core.model.cards import default_model_path
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars
    from hrm_core.settings import load_settings

    gflops_before = matmul_gflops()
    loaded = load_checkpoint(default_model_path())
    res = load_bars("^GSPC", "1d")
    bars = res.bars
    test = loaded.periods["test"]
    inside = bars.loc[test[0]:test[1]].index
    times = [inside[i] for i in range(0, len(inside), max(1, len(inside) // 8))][:8]
    ds = decision_dataset(loaded, bars, symbol="^GSPC", interval="1d")
    t0 = time.perf_counter()
    for t in times[:2]:  # warm-up: kernels, Captum's machinery, the seeds, the training states
        explain_decision(loaded, bars, t, symbol="^GSPC", interval="1d")
    warmup_s = time.perf_counter() - t0
    full, prepared, steps = [], [], []
    for _ in range(args.repeats):
        for t in times:
            t0 = time.perf_counter()
            ex = explain_decision(loaded, bars, t, symbol="^GSPC", interval="1d")  # from bars: features included
            full.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            explain_decision(loaded, bars, t, symbol="^GSPC", interval="1d", dataset=ds)  # windows prepared once
            prepared.append(time.perf_counter() - t0)
            steps.append(ex.decision["steps"])
    full.sort()
    prepared.sort()

    with tempfile.TemporaryDirectory() as tmp:
        toml = Path(tmp) / "hrm.toml"
        toml.write_text(f'[data]\ncache_db = "{Path(tmp) / "market.db"}"\n')
        settings = load_settings(toml)
        t0 = time.perf_counter()
        cold = explain_period(loaded, bars, symbol="^GSPC", interval="1d", settings=settings)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm = explain_period(loaded, bars, symbol="^GSPC", interval="1d", settings=settings)
        warm_s = time.perf_counter() - t0
        assert not cold.cached and warm.cached

    out = {
        "machine": {"cpu_count": os.cpu_count(), "threads": args.threads, "torch": torch.__version__,
                    "python": platform.python_version()},
        "matmul_gflops": round(gflops_before, 1),
        "model": loaded.name, "data": res.badge(),
        "one_explanation": {
            "what": ("gate + module + cycles (probe + attribution) + feature x time (2 baselines), n_steps 32, "
                     "+ counterfactuals (3 inputs) + similar situations (5) + stability (4 other seeds)"),
            "warmup_s_two_explanations": round(warmup_s, 2),
            "decisions": len(times), "repeats": args.repeats, "mean_segments": statistics.mean(steps),
            "median_s": round(statistics.median(full), 4), "p90_s": round(full[int(0.9 * (len(full) - 1))], 4),
            "median_s_windows_prepared": round(statistics.median(prepared), 4), "goal_s": 1.0},
        "period_cold": {"decisions": len(cold.frame), "period": cold.period, "seconds": round(cold_s, 2),
                        "goal_s": 60, "includes": "signals for the full history + module attribution of each decision"},
        "period_cached": {"seconds": round(warm_s, 3)},
        "matmul_gflops_after": round(matmul_gflops(), 1),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
