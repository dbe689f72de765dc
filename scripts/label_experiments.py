"""Label and target experiments, judged on the validation period only (2013-2015; the test period is never read).

    .venv/bin/python scripts/label_experiments.py            # 6 configurations x 3 seeds, 2 processes, ~3 min
    .venv/bin/python scripts/label_experiments.py --docs     # also write docs/results.md + docs/label_experiments.json

Each configuration trains the default preset on the bundled sample (^GSPC, ^IXIC daily, train 1999-2012)
with one change to the labels or the objective; every run is scored on validation by its log-loss
against the constant predictor of the training class frequencies (hrm_core.training.skill: a fair yardstick
across label definitions, since each has its own null) and by the validation net Sharpe of its
position rule.

Decision rule, fixed before any figure was seen: a configuration replaces the shipped labels and
objective only if (a) its mean log-loss difference to the null is below the default's by more than
the larger of the two seed standard deviations, and (b) the 95 % interval of that difference lies
below 0 for at least 2 of its 3 seeds. Otherwise the default stays. Every run counts as a trial in
docs/trials.json.
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

from scripts.train_shipped_models import COMMON, sample_bars  # noqa: E402

# Every configuration states its horizon: the winner became TrainConfig's default, the others must not move with it.
CONFIGS: dict[str, dict] = {
    "3 classes, horizon 5 (the labels before this experiment)": {"horizon": 5},
    "2 classes (no flat band), horizon 5": {"horizon": 5, "threshold_k": 0.0},
    "3 classes, horizon 1": {"horizon": 1},
    "3 classes, horizon 20": {"horizon": 20},
    "balanced class weights, horizon 5": {"horizon": 5, "class_weighting": "balanced"},
    "mean-variance utility trains the policy, horizon 5": {"horizon": 5, "soft_direction": True},
}
DEFAULT = "3 classes, horizon 5 (the labels before this experiment)"


def _row(label: str, seed: int, m: dict) -> dict:
    k = m["skill"]
    return {"config": label, "seed": seed, "logloss_diff": k["logloss_diff"], "logloss_diff_ci": k["logloss_diff_ci"],
            "accuracy": m["val_accuracy"], "majority_rate": m["val_majority_rate"],
            "val_net_sharpe": m["val_net_sharpe"], "action_shares": m["val_action_shares"],
            "train_seconds": m["train_seconds"]}


def summarise(runs: list[dict]) -> dict:
    by = {c: [r for r in runs if r["config"] == c] for c in CONFIGS}

    def stats(rs):
        d = [r["logloss_diff"] for r in rs]
        return {"seeds": len(rs), "logloss_diff_mean": statistics.mean(d), "logloss_diff_sd": statistics.stdev(d),
                "seeds_with_ci_below_0": sum(r["logloss_diff_ci"][1] < 0 for r in rs),
                "val_net_sharpe_mean": statistics.mean(r["val_net_sharpe"] for r in rs),
                "val_net_sharpe_sd": statistics.stdev(r["val_net_sharpe"] for r in rs)}

    table = {c: stats(rs) for c, rs in by.items()}
    base = table[DEFAULT]
    for c, t in table.items():
        margin = max(t["logloss_diff_sd"], base["logloss_diff_sd"])
        t["adopt"] = c != DEFAULT and t["logloss_diff_mean"] < base["logloss_diff_mean"] - margin \
            and t["seeds_with_ci_below_0"] >= 2
    adopted = [c for c, t in table.items() if t["adopt"]]
    return {"table": table, "adopted": adopted, "runs": runs}


def render_markdown(summary: dict, seconds: float) -> str:
    lines = ["## Label and target experiments (validation 2013-2015 only)", "",
             "Default preset, one change each, 3 seeds, bundled sample; scored on validation only. "
             "Log-loss minus the constant class-frequency predictor's (negative = better than the null), mean +- sd "
             "over seeds, and how many seeds' 95 % interval lies below 0; validation net Sharpe of the position rule. "
             "Rule fixed beforehand (scripts/label_experiments.py): adopt a change only if its mean log-loss "
             "difference beats the default's by more than a seed sd and 2 of 3 seeds' intervals lie below 0.", "",
             "| configuration | log-loss - null | seeds with CI < 0 | validation net Sharpe | adopted |",
             "| --- | --- | --- | --- | --- |"]
    for c, t in summary["table"].items():
        lines.append(f"| {c} | {t['logloss_diff_mean']:+.4f} +- {t['logloss_diff_sd']:.4f} | "
                     f"{t['seeds_with_ci_below_0']} / {t['seeds']} | {t['val_net_sharpe_mean']:+.2f} +- "
                     f"{t['val_net_sharpe_sd']:.2f} | {'yes' if t['adopt'] else 'no'} |")
    verdict = (f"Adopted: {', '.join(summary['adopted'])} (now TrainConfig's default; the shipped models and the "
               "walk-forward use it)." if summary["adopted"] else
               "None passes the rule: the shipped models keep the default labels and objective.")
    lines += ["", f"{verdict} {len(summary['runs'])} runs, {seconds:.0f} s on 2 CPU cores. Each run is "
              "registered as a trial in docs/trials.json. Reproduce: `.venv/bin/python scripts/label_experiments.py "
              "--docs`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2, help="local worker processes")
    ap.add_argument("--cluster", default=None, metavar="ADDRESS",
                    help="Dask scheduler, e.g. tcp://HOST:8786 (default: $DASK_SCHEDULER_ADDRESS, else local)")
    ap.add_argument("--docs", action="store_true", help="write docs/results.md (section) and docs/label_experiments.json")
    args = ap.parse_args(argv)
    from hrm_core.compute.executors import cluster_address, open_executor, run_all
    from hrm_core.settings import load_settings
    from hrm_core.training.sweep import TrainJob, run_train_job
    from hrm_core.training.train import TrainConfig

    t0 = time.perf_counter()
    bars, settings = sample_bars(), load_settings(ROOT / "hrm.toml")
    labels = {}
    jobs = []
    for label, change in CONFIGS.items():
        for seed in range(args.seeds):
            cfg = TrainConfig(preset="default", seed=seed, **COMMON, **change)
            jobs.append(TrainJob(cfg, f"label-{len(jobs)}", bars, settings, keep_checkpoint=False))
            labels[jobs[-1].name] = label
    runs = []
    with open_executor(args.jobs, cluster_address(args.cluster)) as (pool, backend):
        print(f"training on {backend.describe()}", file=sys.stderr, flush=True)
        run_all(pool, run_train_job, jobs, lambda job, out: runs.append(_row(labels[job.name], job.config.seed,
                                                                             out["metrics"])))
    runs.sort(key=lambda r: (list(CONFIGS).index(r["config"]), r["seed"]))
    seconds = time.perf_counter() - t0
    summary = {**summarise(runs), "seconds": round(seconds, 1), "period": ["2013-01-01", "2015-12-31"]}
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    if args.docs:
        from hrm_core.evaluation.report import update_section

        (ROOT / "docs" / "label_experiments.json").write_text(json.dumps(summary, indent=1) + "\n")
        update_section(ROOT / "docs" / "results.md", "label-experiments", render_markdown(summary, seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
