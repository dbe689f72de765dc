"""Choose hrm-default's halting objective on validation: every objective x 5 seeds, scored on 2013-2015 only.

    .venv/bin/python scripts/halting_objectives.py              # 3 objectives x 5 seeds, 2 processes
    .venv/bin/python scripts/halting_objectives.py --seeds 2 --objectives ponder
    .venv/bin/python scripts/halting_objectives.py --unroll     # the same, trained unrolled over the segments

Each run is hrm-default as shipped (scripts/train_shipped_models.py: same data, periods, epochs and stride)
with one halting objective (hrm_core.model.halting; deep start for ponder and loss_improvement, the reference
init for q_learning) and `select_depth`: after early stopping the inference mode of lowest validation
log-loss (fixed depth 1..M-1, max depth, adaptive) is kept and the position rule fitted on its outputs.
The objective with the lowest median validation log-loss over seeds is chosen; the test period is never
read. Writes docs/halting_objectives.json (`--unroll`: TrainConfig.unroll_segments, one optimiser step per
batch through all its segments, docs/halting_objectives_unrolled.json) and registers the runs in the trial
registry (validation period).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_shipped_models import COMMON, sample_bars  # noqa: E402

OBJECTIVES = ("q_learning", "ponder", "loss_improvement")
OUT = ROOT / "docs" / "halting_objectives.json"
OUT_UNROLLED = ROOT / "docs" / "halting_objectives_unrolled.json"


def objective_overrides(objective: str) -> dict:
    return {"halt_objective": objective, "deep_start": objective != "q_learning"}


def run(objectives, seeds: int, jobs: int, cluster: str | None, unroll: bool = False) -> dict:
    from hrm_core.compute.executors import cluster_address, open_executor, run_all
    from hrm_core.settings import load_settings
    from hrm_core.training.sweep import TrainJob, run_train_job
    from hrm_core.training.train import TrainConfig

    settings, bars = load_settings(ROOT / "hrm.toml"), sample_bars()
    todo = [TrainJob(TrainConfig(preset="default", overrides=tuple(objective_overrides(o).items()), seed=s,
                                 select_depth=True, unroll_segments=unroll, **COMMON),
                     f"halting-{o}{'-unrolled' if unroll else ''}-s{s}", bars, settings,
                     keep_checkpoint=False) for o in objectives for s in range(seeds)]
    runs: list[dict] = []

    def keep(job, out) -> None:
        m, d = out["metrics"], out["metrics"]["act_depth"]
        runs.append({"objective": dict(job.config.overrides)["halt_objective"], "seed": job.config.seed,
                     "val_logloss": m["val_logloss"], "val_net_sharpe": m["val_net_sharpe"],
                     "inference_mode": m["depth_choice"]["chosen"], "mode_scores": m["depth_choice"]["val_logloss"],
                     "depth_distribution": d["distribution"], "logloss_depth_1": d["logloss_depth_1"],
                     "logloss_full_depth": d["logloss_full_depth"], "depth_pays": d["depth_pays"],
                     "train_seconds": m["train_seconds"]})

    t0 = time.perf_counter()
    with open_executor(jobs, cluster_address(cluster)) as (pool, backend):
        print(f"training {len(todo)} runs on {backend.describe()}", file=sys.stderr, flush=True)
        run_all(pool, run_train_job, todo, keep)
    by = {o: sorted((r for r in runs if r["objective"] == o), key=lambda r: r["seed"]) for o in objectives}
    medians = {o: statistics.median(r["val_logloss"] for r in rs) for o, rs in by.items()}
    chosen = min(medians, key=medians.get)
    return {"chosen": chosen, "rule": "lowest median validation log-loss over seeds (2013-2015; test never read)",
            "median_val_logloss": medians, "seeds": seeds, "runs": by,
            "setup": {**COMMON, "select_depth": True, "unroll_segments": unroll},
            "seconds": round(time.perf_counter() - t0, 1)}


def register_trials(result: dict) -> None:
    from hrm_core.evaluation.trials import register, registry_path
    from hrm_core.settings import load_settings

    n = sum(len(v) for v in result["runs"].values())
    unrolled = result["setup"]["unroll_segments"]
    # One entry per kind of run (detached, unrolled): a rerun replaces its own entry, not the other's.
    register(registry_path(load_settings(ROOT / "hrm.toml")), [{
        "strategy": "halting objectives" + (", unrolled" if unrolled else ""), "kind": "model", "configurations": n,
        "instruments": list(COMMON["symbols"]),
        "interval": "1d", "start": "2013-01-01", "end": "2015-12-31",
        "note": f"hrm-default with {len(result['runs'])} halting objective(s) x {result['seeds']} seeds"
                f"{', trained unrolled over the segments' if unrolled else ''}, scored on "
                "the validation period only (scripts/halting_objectives.py, docs/halting_objectives*.json)"}])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=OBJECTIVES)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="local worker processes")
    ap.add_argument("--cluster", default=None, metavar="ADDRESS", help="Dask scheduler, e.g. tcp://HOST:8786")
    ap.add_argument("--unroll", action="store_true", help="train through all segments of a batch at once")
    ap.add_argument("--out", default=None, help=f"default: {OUT.name}, or {OUT_UNROLLED.name} with --unroll")
    args = ap.parse_args(argv)
    args.out = args.out or str(OUT_UNROLLED if args.unroll else OUT)
    result = run(args.objectives, args.seeds, args.jobs, args.cluster, args.unroll)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    register_trials(result)
    print(json.dumps({k: result[k] for k in ("chosen", "median_val_logloss", "seconds")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
