"""Does adaptive depth work where it should? `python -m benchmarks.adaptive_depth --json` prints, per objective.

    .venv/bin/python -m benchmarks.adaptive_depth --json                  # 3 objectives x 2 sizes
    .venv/bin/python -m benchmarks.adaptive_depth --json --sizes tiny --objectives ponder --steps 300   # quick
    .venv/bin/python -m benchmarks.adaptive_depth --json --detached      # production training: depth never pays

Each halting objective (hrm_core/model/halting.py) trains an HRM on the known-answer composition task
(hrm_core/data/synthetic.py: the label needs k compositions of a hidden rule, k set per window, plus an
easy and a pure-noise stratum), its trunk unrolled over the M segments (`--detached`: as production trains),
and is judged on fresh windows (hrm_core/experiments/adaptive_depth.py):
`spearman_difficulty_depth`, `accuracy_by_stratum` (adaptive, depth 1, max depth), `mean_depth_by_stratum`,
and `passes` (correlation >= 0.5, the hardest stratum at least 5 points more accurate as run than at
depth 1, the noise stratum shallowest). `chosen` is the passing objective with the highest correlation.
The JSON records the same run's matmul GFLOP/s beside the training seconds.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

OUT = Path("benchmarks/results-adaptive-depth.json")
# The task's model per size: the preset's width on 8-token windows with N = T = 1 (one L and one H update per
# segment, so one segment can compose only a few moves) and M = 4 segments for the harder strata. The
# loss-improvement target continues only for a gain above 0.05 nats: an unrolled trunk keeps sharpening
# answers it already has right, a gain worth nothing to the decision.
SIZE_OVERRIDES = {"window": 32, "h_cycles": 1, "l_cycles": 1, "max_segments": 4, "halt_margin": 0.05}
# Optimiser steps (unrolled, detached): what 2 CPU cores train in a few minutes per run. Learning rate: the
# default width at 2e-3 learned only 2-3 moves in 2500 steps; of 1e-3 and 5e-4 (3000 steps, loss improvement),
# 5e-4 passes and 1e-3 does not (its single segment composes 4 moves, so depth only pays on 5-6: Spearman 0.45).
SIZES = {
    "tiny": {"preset": "tiny", "overrides": SIZE_OVERRIDES, "steps": 4000, "detached_steps": 8000, "lr": 2e-3},
    "default": {"preset": "default", "overrides": SIZE_OVERRIDES, "steps": 3000, "detached_steps": 3000,
                "lr": 5e-4},
}
DIFFICULTIES = (1, 2, 3, 4, 5, 6)


def parse_args(argv=None) -> argparse.Namespace:
    from hrm_core.model.config import HALT_OBJECTIVES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--objectives", nargs="+", choices=HALT_OBJECTIVES, default=list(HALT_OBJECTIVES))
    p.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=sorted(SIZES))
    p.add_argument("--steps", type=int, default=None,
                   help="optimiser steps per run (default: per size, see SIZES)")
    p.add_argument("--detached", action="store_true",
                   help="train as production does (carry detached, one step per segment) instead of unrolled")
    p.add_argument("--difficulties", type=int, nargs="+", default=list(DIFFICULTIES),
                   help="moves to compose per stratum (the hardest is judged)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="local processes (ignored with --cluster)")
    p.add_argument("--cluster", default=None, help="Dask scheduler address (else $DASK_SCHEDULER_ADDRESS)")
    p.add_argument("--out", default=None, help=f"also write the JSON here (the Diagnostics page reads {OUT})")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    from benchmarks.diagnostics import matmul_gflops
    from hrm_core.compute.executors import cluster_address, open_executor, run_all
    from hrm_core.experiments.adaptive_depth import DepthJob, choose, run_depth_job

    default_steps = "detached_steps" if args.detached else "steps"
    jobs = [DepthJob(objective, preset=SIZES[size]["preset"], overrides=SIZES[size]["overrides"],
                     difficulties=tuple(args.difficulties), steps=args.steps or SIZES[size][default_steps],
                     lr=SIZES[size]["lr"] if not args.detached else DepthJob.lr, seed=args.seed,
                     unroll=not args.detached)
            for size in args.sizes for objective in args.objectives]
    results: list[dict] = []
    t0 = time.perf_counter()
    with open_executor(args.jobs, cluster_address(args.cluster)) as (pool, backend):
        run_all(pool, run_depth_job, jobs, lambda job, out: results.append(out))
    order = {(j.preset, j.objective): i for i, j in enumerate(jobs)}
    results.sort(key=lambda r: order[(r["job"]["preset"], r["job"]["objective"])])
    by_size = {size: [r for r in results if r["job"]["preset"] == SIZES[size]["preset"]] for size in args.sizes}
    return {
        "command": "python -m benchmarks.adaptive_depth --json " + " ".join(
            [f"--sizes {' '.join(args.sizes)}", f"--objectives {' '.join(args.objectives)}"]
            + ([f"--steps {args.steps}"] if args.steps else []) + (["--detached"] if args.detached else [])
            + ([f"--difficulties {' '.join(map(str, args.difficulties))}"]
               if tuple(args.difficulties) != DIFFICULTIES else [])),
        "training": "detached (production)" if args.detached else "unrolled over the segments",
        "chosen": {size: choose(rs) for size, rs in by_size.items()},
        "objectives": {size: {r["job"]["objective"]: {k: r[k] for k in (
            "spearman_difficulty_depth", "accuracy_by_stratum", "mean_depth_by_stratum", "hardest_gain_vs_depth_1",
            "noise_shallowest", "passes", "train_seconds")} for r in rs} for size, rs in by_size.items()},
        "task": {"difficulties": list(args.difficulties), "sizes": {s: SIZES[s] for s in args.sizes},
                 "pass": "spearman >= 0.5, hardest stratum +5 points as run vs depth 1, noise stratum shallowest "
                         "(ties within 0.01 segments)"},
        "seconds": round(time.perf_counter() - t0, 1), "backend": backend.describe(),
        "matmul_gflops": round(matmul_gflops(), 1), "machine": platform.platform(),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2, allow_nan=True)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.json:
        print(text)
    else:
        for size, chosen in result["chosen"].items():
            print(f"{size}: chosen objective {chosen or 'none passes'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
