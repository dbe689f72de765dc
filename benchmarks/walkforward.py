"""The same small walk-forward sweep on each compute backend: 1 process, 2 local processes, and a 2-worker
Dask cluster started from distributed's own CLI (`dask scheduler`, `dask worker`) on this machine.

    .venv/bin/python -m benchmarks.walkforward          # JSON on stdout; ~6 min on 2 cores

Sweep: hrm-default and flat, 3 seeds, test years 2016-2017 (12 folds), default presets, 3 epochs, stride 2,
bundled sample, offline. Each backend starts from an empty work folder, so every fold trains. `folds_s` is
the time from the sweep's start until its last fold is stored (the part the backend parallelises: worker
start-up and torch import included); `total_s` adds the serial evaluation of the out-of-sample series.
The cluster's own start-up is not timed (a user's cluster is already running). Ratios are measured in one
run, beside the same run's matmul GFLOP/s, because this machine's speed drifts from day to day.
"""
from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

SEEDS = (0, 1, 2)
EPOCHS = 3  # enough work per fold that a worker's start-up (a fresh interpreter importing torch) is amortised
YEARS = (2016, 2017)


def sweep(cfg, settings) -> dict:
    import hrm_core.evaluation.walkforward as wf

    t0 = time.perf_counter()
    last = {"t": None}

    def on_fold(done: int, total: int) -> None:
        if done == total:
            last["t"] = time.perf_counter() - t0

    result = wf.run_walk_forward(cfg, settings, on_fold=on_fold)
    assert {f["status"] for f in result.folds} == {"trained"}, "a fold was not trained: the work folder was not empty"
    return {"folds_s": round(last["t"], 1), "total_s": round(time.perf_counter() - t0, 1),
            "folds": len(result.folds), "backend": result.backend,
            "fold_records": {(f["variant"], f["seed"], f["year"]): f["key"] for f in result.folds}}


def main() -> dict:
    os.environ["HRM_OFFLINE"] = "1"
    import hrm_core.evaluation.walkforward as wf
    from benchmarks.live import matmul_gflops
    from hrm_core.compute.local_cluster import local_cluster
    from hrm_core.settings import load_settings

    settings = load_settings()
    gflops = matmul_gflops()
    with tempfile.TemporaryDirectory(prefix="hrm-bench-wf-") as d:
        base = wf.WalkForwardConfig(years=YEARS, variants=wf.select_variants(["hrm-default", "flat"]), seeds=SEEDS,
                                    epochs=EPOCHS, stride=2, n_boot=200, work_dir=str(Path(d) / "one"), jobs=1)
        runs = {"1 process": sweep(base, settings),
                "2 processes": sweep(replace(base, jobs=2, work_dir=str(Path(d) / "two")), settings)}
        with local_cluster(2, Path(d) / "cluster") as cluster:
            runs["dask 2 workers"] = sweep(replace(base, cluster=cluster.address, work_dir=str(Path(d) / "dask")),
                                           settings)
    same_folds = len({json.dumps(sorted(map(list, r.pop("fold_records").items()))) for r in runs.values()}) == 1
    one, two, dask = (runs[k]["folds_s"] for k in ("1 process", "2 processes", "dask 2 workers"))
    return {
        "benchmark": "walk-forward sweep per compute backend", "command": "python -m benchmarks.walkforward",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "matmul_gflops": round(gflops, 1)},
        "sweep": {"variants": ["hrm-default", "flat"], "seeds": len(SEEDS), "years": list(YEARS), "epochs": EPOCHS,
                  "stride": 2, "folds": runs["1 process"]["folds"]},
        "runs": runs,
        "speedup_2_processes_vs_1": round(one / two, 2),
        "dask_vs_2_processes": round(dask / two, 2),  # > 1: Dask slower than the local pool by that factor
        "same_fold_keys_on_every_backend": same_folds,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
