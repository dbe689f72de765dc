"""Train the shipped models on the bundled offline sample: each variant with several seeds, ship the median seed.

    .venv/bin/python scripts/train_shipped_models.py            # 5 seeds per variant, 2 processes
    .venv/bin/python scripts/train_shipped_models.py --seeds 3 --jobs 1 --variants hrm-default flat

Periods and labels are TrainConfig's defaults: train 1999-2012, validation 2013-2015, test 2016-2018
(never read by training or selection), label horizon 1 bar (chosen by scripts/label_experiments.py),
purge = the label horizon. Every variant differs from
hrm-default in one thing only (ablations that test what they name):

    hrm-default    HRM, preset default: N = T = 2, up to M = 3 segments, ACT on (18 block calls at most)
    flat           flat transformer, same parameter count (115,207), one pass
    hrm-n1t1       N = T = 1 with M = 9: the default's depth budget of at most 18 block calls per decision
    hrm-noact      ACT off, always M = the default's mean validation depth (rounded, >= 1)
    hrm-reset-l    L state reset at each H cycle (the seed's "fresh perspective")
    hrm-full-grad  backprop through the whole last cycle instead of the one-step gradient

For each variant the seeds are ranked by validation log-loss and the median one is shipped as
models/<variant>; its card records every seed's validation figures ("seeds"). Only validation
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
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hrm_core.evaluation.walkforward import DEFAULT_VARIANTS  # noqa: E402

COMMON = dict(symbols=("^GSPC", "^IXIC"), intervals=("1d",), epochs=8, stride=2)
# The same variants as the walk-forward evaluation (hrm_core.evaluation.walkforward); hrm-noact's depth is set below.
VARIANTS: dict[str, tuple[str, dict]] = {v.name: (v.preset, dict(v.overrides)) for v in DEFAULT_VARIANTS}


def _offline_settings(tmp: Path) -> Path:
    """Settings that let only the bundled sample serve data (offline, an empty throwaway cache)."""
    path = tmp / "hrm.toml"
    path.write_text(f'[data]\ncache_db = "{tmp}/market.db"\nmodels_dir = "{tmp}/models"\n'
                    f'sample_dir = "{ROOT}/data_cache/sample"\n')
    return path


def _train_one(name: str, preset: str, overrides: dict, seed: int, out_dir: str, settings_path: str) -> dict:
    os.environ.update(HRM_OFFLINE="1", HRM_SETTINGS=settings_path, HRM_TORCH_THREADS="1")
    from hrm_core.runtime import configure_threads
    from hrm_core.settings import load_settings
    from hrm_core.training.train import TrainConfig, train_and_save

    configure_threads()
    cfg = TrainConfig(preset=preset, overrides=tuple(overrides.items()), seed=seed, **COMMON)
    result, _ = train_and_save(cfg, name, models_dir=out_dir, settings=load_settings(settings_path), overwrite=True)
    m = result.metrics
    return {"seed": seed, "dir": out_dir, "val_logloss": m["val_logloss"], "val_accuracy": m["val_accuracy"],
            "val_net_sharpe": m["val_net_sharpe"], "mean_depth": m["act_depth"]["mean"],
            "logloss_diff_vs_constant": m["skill"]["logloss_diff"], "train_seconds": m["train_seconds"]}


def train_variant(name: str, overrides: dict, seeds: int, jobs: int, tmp: Path, settings: Path) -> dict:
    preset, base = VARIANTS[name]
    overrides = {**base, **overrides}
    ctx = get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_train_one, name, preset, overrides, s, str(tmp / f"{name}-seed{s}"), str(settings))
                   for s in range(seeds)]
        runs = sorted((f.result() for f in futures), key=lambda r: r["val_logloss"])
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
    update_metrics(tmp_dst, {"seeds": seeds})
    shutil.rmtree(dst, ignore_errors=True)
    tmp_dst.rename(dst)
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--models-dir", default=str(ROOT / "models"))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    models_dir = Path(args.models_dir)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        settings = _offline_settings(tmp)
        done = {}
        for name in args.variants:
            extra = {}
            if name == "hrm-noact":  # ACT off at the default's mean validation depth
                from hrm_core.model.checkpoint import read_card

                card = read_card(models_dir / "hrm-default")
                extra["max_segments"] = max(1, round(card["metrics"]["act_depth"]["mean"]))
            done[name] = train_variant(name, extra, args.seeds, args.jobs, tmp, settings)
            ship(done[name], models_dir)
            r = done[name]
            print(json.dumps({"variant": name, "chosen_seed": r["chosen_seed"],
                              "val_logloss": [x["val_logloss"] for x in r["runs"]],
                              "elapsed_s": round(time.perf_counter() - t0, 1)}), flush=True)
    print(json.dumps({"total_seconds": round(time.perf_counter() - t0, 1), "variants": list(done)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
