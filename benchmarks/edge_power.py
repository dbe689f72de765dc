"""How small an edge can the pipeline find? `python -m benchmarks.edge_power --json` prints the ladder.

    .venv/bin/python -m benchmarks.edge_power --json                      # full ladder (~35 min on 2 cores)
    .venv/bin/python -m benchmarks.edge_power --json --size tiny --shapes regime --rungs 4 --seeds 1   # ~30 s
    ... --cluster tcp://HOST:8786                                         # the jobs on a Dask cluster

Three signal shapes (hrm_core/data/synthetic.py) x rungs of the oracle's net annual Sharpe (0 = noise,
0.5, 1, 2, 4) x seeds, each a 20-year daily series on which the HRM, the equal-size flat transformer and
the L2 logistic regression are trained and backtested beside the oracle and buy & hold
(hrm_core/experiments/edge_power.py says how). Each finished job is kept in --work, so a rerun resumes.
Every trained run is registered as a trial of kind "synthetic" (never counted in a real-data DSR);
`--docs docs/results.md` rewrites that report's edge-power section and `--out` keeps the JSON for the
Performance page. The JSON records the same run's matmul GFLOP/s beside the seconds per job.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

OUT = Path("benchmarks/results-edge-power.json")


def parse_args(argv=None) -> argparse.Namespace:
    from hrm_core.data.synthetic import SHAPES
    from hrm_core.experiments.edge_power import PRESETS, RUNGS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--size", choices=sorted(PRESETS), default="default", help="the models' size (tiny: fast check)")
    p.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    p.add_argument("--rungs", nargs="+", type=float, default=list(RUNGS), help="oracle net annual Sharpe ratios")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--years", type=float, default=20)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--jobs", type=int, default=2, help="local processes (ignored with --cluster)")
    p.add_argument("--cluster", default=None, help="Dask scheduler address (else $DASK_SCHEDULER_ADDRESS)")
    p.add_argument("--work", default="data_cache/edge_power", help="folder keeping each finished job (resume)")
    p.add_argument("--registry", default=None, help="trial registry to record the runs in (default: the settings')")
    p.add_argument("--out", default=None, help=f"also write the JSON here (the Performance page reads {OUT})")
    p.add_argument("--docs", default=None, help="rewrite the edge-power section of this markdown report")
    p.add_argument("--walk-forward", default="docs/walkforward.json",
                   help="the real-data result set beside the ladder (`hrm evaluate --walk-forward` JSON)")
    return p.parse_args(argv)


def command_line(args: argparse.Namespace) -> str:
    parts = ["python -m benchmarks.edge_power --json", f"--size {args.size}", "--shapes " + " ".join(args.shapes),
             "--rungs " + " ".join(f"{r:g}" for r in args.rungs), f"--seeds {args.seeds}"]
    if args.years != 20:
        parts.append(f"--years {args.years:g}")
    if args.epochs != 12:
        parts.append(f"--epochs {args.epochs}")
    return " ".join(parts)


def run(args: argparse.Namespace, say=lambda msg: None) -> dict:
    from benchmarks.live import matmul_gflops
    from hrm_core.compute.executors import cluster_address, open_executor, run_all
    from hrm_core.experiments import edge_power as ep
    from hrm_core.evaluation.trials import SYNTHETIC_KIND, register, registry_path
    from hrm_core.settings import load_settings

    settings = load_settings()
    jobs = ep.plan(args.shapes, args.rungs, args.seeds, size=args.size, years=args.years, epochs=args.epochs)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    records = {}
    for job in jobs:
        f = work / f"{job.key}.json"
        if f.exists():
            records[job.key] = json.loads(f.read_text())
    todo = [j for j in jobs if j.key not in records]
    say(f"{len(jobs)} jobs, {len(jobs) - len(todo)} kept in {work}, {len(todo)} to run")
    t0 = time.perf_counter()

    def keep(job, record) -> None:
        (work / f"{job.key}.json").write_text(json.dumps(record, indent=1))
        records[job.key] = record
        say(f"{len(records)}/{len(jobs)} {job.key}: {record['seconds']} s")

    with open_executor(args.jobs, cluster_address(args.cluster, settings)) as (executor, backend):
        run_all(executor, ep.run_edge_job, todo, keep)
    ordered = [records[j.key] for j in jobs]
    registry = Path(args.registry) if args.registry else registry_path(settings)
    register(registry, ep.trial_entries(ordered, kind=SYNTHETIC_KIND))
    seconds = [r["seconds"] for r in ordered]
    return {
        "benchmark": "edge-power ladder", "command": command_line(args),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "matmul_gflops": round(matmul_gflops(), 1), "backend": backend.describe()},
        "protocol": {"years": args.years, "split": "70 / 15 / 15 % of the span (train / validation / test)",
                     "test_years": round(ordered[0]["test_bars"] / 252, 1), "size": args.size,
                     "models": ep.PRESETS[args.size], "epochs": args.epochs, "seeds": args.seeds,
                     "costs_bps": 3.0, "execution": "next_open", "power_goal": ep.POWER_GOAL,
                     "detected": "the test-period Sharpe's 95 % stationary-bootstrap interval lies above 0",
                     "registry": os.path.relpath(registry) if registry.is_absolute() and Path.cwd() in
                     registry.parents else str(registry), "registry_kind": SYNTHETIC_KIND},
        "seconds_per_job": {"median": float(sorted(seconds)[len(seconds) // 2]), "max": max(seconds)},
        "wall_seconds_this_call": round(time.perf_counter() - t0, 1),
        "shapes": ep.summarise(ordered),
        "real_data": ep.walk_forward_result(args.walk_forward),
    }


def main(argv=None) -> dict:
    import sys

    from hrm_core.experiments.edge_power import render_markdown
    from hrm_core.evaluation.report import update_section

    os.environ.setdefault("HRM_OFFLINE", "1")
    args = parse_args(argv)
    result = run(args, say=lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, allow_nan=False, default=str) + "\n")
    if args.docs:
        update_section(args.docs, "edge-power", render_markdown(result))
    print(json.dumps(result, indent=2, default=str) if args.json else render_markdown(result))
    return result


if __name__ == "__main__":
    main()
