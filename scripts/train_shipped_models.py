"""Train the shipped models on the bundled offline sample: each variant with several seeds, ship the median seed.

    .venv/bin/python scripts/train_shipped_models.py            # 5 seeds per variant, 2 processes
    .venv/bin/python scripts/train_shipped_models.py --seeds 3 --jobs 1 --variants hrm-default flat
    .venv/bin/python scripts/train_shipped_models.py --cluster tcp://HOST:8786   # seeds on a Dask cluster

Periods and labels are TrainConfig's defaults: train 1999-2012, validation 2013-2015, test 2016-2018
(never read by training or selection), label horizon 1 bar (chosen by scripts/label_experiments.py),
purge = the label horizon. Every variant differs from
hrm-default in one thing only (ablations that test what they name):

    hrm-default    HRM, preset default: N = T = 2, up to M = 3 segments, ACT on (18 block calls at most), halting
                   objective loss_improvement with deep start (chosen on validation: scripts/halting_objectives.py),
                   inference mode chosen on validation log-loss (select_depth); the ablations below keep the
                   reference Q-learning halting they were trained with
    flat           flat transformer, same parameter count (115,207), one pass
    hrm-n1t1       N = T = 1 with M = 9: the default's depth budget of at most 18 block calls per decision
    hrm-noact      ACT off, always M = the default's mean validation depth (rounded, >= 1)
    hrm-reset-l    L state reset at each H cycle (the seed's "fresh perspective")
    hrm-full-grad  backprop through the whole last cycle instead of the one-step gradient

For each variant the seeds are ranked by validation log-loss and the median one is shipped as
models/<variant>; its card records every seed's validation figures ("seeds"). hrm-default also keeps
every seed's checkpoint under models/hrm-default/seeds/seed<N>/ (Explain's stability across seeds). Only validation
figures choose anything. The seeds' test-period figures are not computed here: the walk-forward
evaluation (`hrm evaluate --walk-forward`) reports every variant as mean +- sd over seeds.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hrm_core.evaluation.walkforward import DEFAULT_VARIANTS  # noqa: E402

COMMON = dict(symbols=("^GSPC", "^IXIC"), intervals=("1d",), epochs=8, stride=2)
# The same variants as the walk-forward evaluation (hrm_core.evaluation.walkforward); hrm-noact's depth is set below.
VARIANTS: dict[str, tuple[str, dict, dict]] = {v.name: (v.preset, dict(v.overrides), dict(v.train))
                                               for v in DEFAULT_VARIANTS}
KEEP_SEEDS = ("hrm-default",)  # variants that ship every seed's checkpoint (models/<variant>/seeds/)


def sample_bars() -> dict:
    """COMMON's bars from the bundled sample only (offline, an empty throwaway cache): sent with every job."""
    from hrm_core.settings import load_settings
    from hrm_core.training.datasets import training_bars

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "hrm.toml"
        path.write_text(f'[data]\ncache_db = "{d}/market.db"\nsample_dir = "{ROOT}/data_cache/sample"\n')
        os.environ["HRM_OFFLINE"] = "1"
        return training_bars(COMMON["symbols"], COMMON["intervals"], settings=load_settings(path))


def _summary(seed: int, folder: Path, m: dict) -> dict:
    return {"seed": seed, "dir": str(folder), "val_logloss": m["val_logloss"], "val_accuracy": m["val_accuracy"],
            "val_net_sharpe": m["val_net_sharpe"], "mean_depth": m["act_depth"]["mean"],
            "logloss_diff_vs_constant": m["skill"]["logloss_diff"], "train_seconds": m["train_seconds"],
            **({"inference_mode": m["depth_choice"]["chosen"]} if "depth_choice" in m else {})}


def train_variant(name: str, overrides: dict, seeds: int, executor, tmp: Path, bars: dict) -> dict:
    """Every seed of one variant through the executor; the median seed by validation log-loss is chosen."""
    from hrm_core.compute.executors import run_all
    from hrm_core.settings import load_settings
    from hrm_core.training.sweep import TrainJob, run_train_job, write_checkpoint
    from hrm_core.training.train import TrainConfig

    preset, base, options = VARIANTS[name]
    overrides = {**base, **overrides}
    settings = load_settings(ROOT / "hrm.toml")
    jobs = [TrainJob(TrainConfig(preset=preset, overrides=tuple(overrides.items()), seed=s, **COMMON, **options), name, bars,
                     settings) for s in range(seeds)]
    runs = []

    def keep(job, out) -> None:  # the seed's checkpoint comes back as bytes: written here, in tmp
        folder = tmp / f"{name}-seed{job.config.seed}"
        write_checkpoint(out["files"], folder / name)
        runs.append(_summary(job.config.seed, folder, out["metrics"]))

    run_all(executor, run_train_job, jobs, keep)
    runs.sort(key=lambda r: r["val_logloss"])
    chosen = runs[(len(runs) - 1) // 2]  # the median seed by validation log-loss (lower median for even counts)
    return {"variant": name, "preset": preset, "overrides": overrides, "chosen_seed": chosen["seed"],
            "rule": "median validation log-loss over seeds", "runs": sorted(runs, key=lambda r: r["seed"]),
            "dir": chosen["dir"]}


def ship(summary: dict, models_dir: Path) -> Path:
    """Copy the chosen seed's checkpoint to models/<variant> and record every seed's figures in its card."""
    from hrm_core.model.checkpoint import update_metrics

    src, dst = Path(summary["dir"]) / summary["variant"], models_dir / summary["variant"]
    tmp_dst = dst.with_name(dst.name + ".new")
    shutil.rmtree(tmp_dst, ignore_errors=True)
    shutil.copytree(src, tmp_dst)
    seeds = {k: v for k, v in summary.items() if k != "dir"}
    seeds["runs"] = [{k: v for k, v in r.items() if k != "dir"} for r in summary["runs"]]
    # The bars came from the bundled sample alone (sample_bars), though training saw them as "given" bars.
    sample = {f"{s} {iv}": "sample" for s in COMMON["symbols"] for iv in COMMON["intervals"]}
    update_metrics(tmp_dst, {"seeds": seeds, "data_sources": sample})
    if summary["variant"] in KEEP_SEEDS:
        for r in summary["runs"]:
            shutil.copytree(Path(r["dir"]) / summary["variant"], tmp_dst / "seeds" / f"seed{r['seed']}")
            update_metrics(tmp_dst / "seeds" / f"seed{r['seed']}", {"data_sources": sample})
    shutil.rmtree(dst, ignore_errors=True)
    tmp_dst.rename(dst)
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="local worker processes")
    ap.add_argument("--cluster", default=None, metavar="ADDRESS",
                    help="Dask scheduler, e.g. tcp://HOST:8786 (default: $DASK_SCHEDULER_ADDRESS, else local)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    args = ap.parse_args(argv)
    from hrm_core.compute.executors import cluster_address, open_executor

    t0 = time.perf_counter()
    models_dir = Path(args.models_dir)
    bars = sample_bars()
    with tempfile.TemporaryDirectory() as d, open_executor(args.jobs, cluster_address(args.cluster)) as (pool, backend):
        print(f"training on {backend.describe()}", file=sys.stderr, flush=True)
        tmp = Path(d)
        done = {}
        for name in args.variants:
            extra = {}
            if name == "hrm-noact":  # ACT off at the default's mean validation depth
                from hrm_core.model.cards import read_card

                card = read_card(models_dir / "hrm-default")
                extra["max_segments"] = max(1, round(card["metrics"]["act_depth"]["mean"]))
            done[name] = train_variant(name, extra, args.seeds, pool, tmp, bars)
            ship(done[name], models_dir)
            r = done[name]
            print(json.dumps({"variant": name, "chosen_seed": r["chosen_seed"],
                              "val_logloss": [x["val_logloss"] for x in r["runs"]],
                              "elapsed_s": round(time.perf_counter() - t0, 1)}), flush=True)
    print(json.dumps({"total_seconds": round(time.perf_counter() - t0, 1), "variants": list(done)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
