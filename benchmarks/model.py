"""Model speed and memory on CPU, printed as JSON: `python -m benchmarks.model [--quick] [--threads N]`.

- latency: batch-1 `infer` wall time, p50/p99 in ms, per preset, at 1 thread and at --threads.
  An untrained Q-head never halts early (q_halt == q_continue at init), so an HRM decision here
  costs max_segments segments: the worst case. `paper_1_segment` shows one segment alone.
- paper_int8_dynamic: the paper preset after `torch.ao.quantization.quantize_dynamic` (int8
  Linear layers), batch-1 latency for 1 and all segments, and the largest |logit| change it causes.
- shipped_default: the shipped models/hrm-default checkpoint on real sample windows, where its
  trained Q-head halts per sample: the latency a user actually sees, and the mean segments used.
- throughput: decisions per second for one batch-256 `infer` (paper: a smaller batch with --quick).
- train_memory: one training segment (forward + backward) of `default` at batch 64 as N = T
  grows, one_step vs full gradient. Two measures:
  saved_for_backward_MB - bytes of tensors autograd keeps for backward (saved_tensors_hooks;
  exact, deterministic); peak_rss_delta_MB - in a fresh interpreter per configuration, Linux
  VmHWM after resetting it through /proc/self/clear_refs, minus VmRSS just before the step
  (process-level: includes transient no-grad buffers and first-call allocator/kernel set-up).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

from hrm_core.model.config import get_preset
from hrm_core.model.networks import build_model, describe_model

LATENCY_PRESETS = ("tiny", "default", "paper", "flat")


def _batch(cfg, B, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, cfg.window, cfg.n_features, generator=g),
            torch.ones(B, dtype=torch.long), torch.ones(B, dtype=torch.long))


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))]


def latency(preset: str, threads: int, iters: int, max_segments: int | None = None) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(get_preset(preset)).eval()
    x, iid, tid = _batch(model.config, 1)
    for _ in range(max(3, iters // 10)):
        model.infer(x, iid, tid, max_segments=max_segments)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        out = model.infer(x, iid, tid, max_segments=max_segments)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return {"p50 [ms]": round(_percentile(times, 0.5), 3), "p99 [ms]": round(_percentile(times, 0.99), 3),
            "mean [ms]": round(statistics.fmean(times), 3), "iters": iters, "threads": threads,
            "segments": int(out.steps[0])}


def throughput(preset: str, threads: int, batch: int, repeats: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(get_preset(preset)).eval()
    x, iid, tid = _batch(model.config, batch)
    model.infer(x[:8], iid[:8], tid[:8])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = model.infer(x, iid, tid)
        best = min(best, time.perf_counter() - t0)
    return {"decisions_per_s": round(batch / best, 1), "batch": batch, "threads": threads,
            "segments": int(out.steps.max()), "seconds_per_batch": round(best, 4)}


def _timed(fn, iters: int) -> list[float]:
    for _ in range(max(3, iters // 10)):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)


def paper_int8(threads: int, iters: int) -> dict:
    """Dynamic int8 quantisation of the Linear layers: the cheapest CPU speed-up for the paper preset."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    fp32 = build_model(get_preset("paper")).eval()
    int8 = torch.ao.quantization.quantize_dynamic(fp32, {torch.nn.Linear}, dtype=torch.qint8)
    x, iid, tid = _batch(fp32.config, 1)
    row = {"threads": threads, "iters": iters}
    for segments in (1, fp32.config.max_segments):
        t = _timed(lambda: int8.infer(x, iid, tid, max_segments=segments), iters)
        row[f"{segments}_segment p50 [ms]"] = round(_percentile(t, 0.5), 3)
    xs = _batch(fp32.config, 16, seed=1)
    diff = (fp32.infer(*xs).policy_logits - int8.infer(*xs).policy_logits).abs().max()
    row["max |logit change| vs fp32 (untrained)"] = round(float(diff), 4)
    return row


def shipped_default(threads: int, iters: int) -> dict | None:
    """Latency of the shipped checkpoint on real windows, with its trained ACT halting."""
    from hrm_core.model.cards import default_model_path
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars
    from hrm_core.data.features import build_dataset

    path = default_model_path()
    if path is None:
        return None
    torch.set_num_threads(threads)
    loaded = load_checkpoint(path)
    bars = load_bars("^GSPC", "1d", end="2018-12-31").bars
    ds = build_dataset(bars, window=loaded.config.window, scaler=loaded.scaler,
                       horizon=loaded.feature_spec.horizon, threshold_k=loaded.feature_spec.threshold_k)
    x = torch.from_numpy(ds.X[-iters:])
    iid, tid = loaded.instrument_ids(["^GSPC"]), torch.tensor([loaded.timeframe_id("1d")])
    model, times, steps = loaded.model, [], []
    for i in range(len(x)):
        t0 = time.perf_counter()
        out = model.infer(x[i:i + 1], iid, tid)
        times.append((time.perf_counter() - t0) * 1e3)
        steps.append(int(out.steps[0]))
    times.sort()
    return {"model": str(path.parent.name), "threads": threads, "decisions": len(times),
            "p50 [ms]": round(_percentile(times, 0.5), 3), "p99 [ms]": round(_percentile(times, 0.99), 3),
            "mean segments": round(statistics.fmean(steps), 2)}


def _rss_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _train_memory_worker(n: int, grad_mode: str, batch: int) -> dict:
    """One training segment in this (fresh) process; see the module docstring for the two measures."""
    torch.manual_seed(0)
    model = build_model(get_preset("default", h_cycles=n, l_cycles=n, grad_mode=grad_mode)).train()
    x, iid, tid = _batch(model.config, batch)
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    rss_before = _rss_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak (VmHWM) to the current RSS
        can_reset = True
    except OSError:
        can_reset = False
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out, _ = model(x, iid, tid)
        loss = out.policy_logits.logsumexp(-1).mean() + out.value.square().mean()
    loss.backward()
    peak = _rss_kib("VmHWM")
    return {"N": n, "T": n, "grad_mode": grad_mode, "batch": batch,
            "saved_for_backward_MB": round(saved[0] / 2**20, 2),
            "peak_rss_delta_MB": round((peak - rss_before) / 1024, 2) if can_reset and peak and rss_before else None}


def train_memory(n: int, grad_mode: str, batch: int, threads: int) -> dict:
    """Run the worker in a fresh interpreter so no earlier step's freed memory hides the peak."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "benchmarks.model", "--memory-worker", str(n), grad_mode, str(batch)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations, smaller paper batch (~1 minute)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the multi-thread figures")
    ap.add_argument("--memory-worker", nargs=3, metavar=("N", "GRAD_MODE", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_worker:
        n, mode, batch = args.memory_worker
        result = _train_memory_worker(int(n), mode, int(batch))
        print(json.dumps(result))
        return result
    iters = {"tiny": 300, "default": 300, "flat": 300, "paper": 20} if args.quick else \
            {"tiny": 1000, "default": 1000, "flat": 1000, "paper": 60}
    t_start = time.perf_counter()
    result: dict = {
        "machine": {"torch": torch.__version__, "python": platform.python_version(),
                    "cpu_count": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
        "method": __doc__.split("\n\n", 1)[1].strip(),
        "parameters": {p: describe_model(get_preset(p))["parameters"] for p in LATENCY_PRESETS},
        "latency_batch1": {}, "throughput": {}, "train_memory": [],
    }
    for threads in sorted({1, args.threads}):
        lat = {p: latency(p, threads, iters[p]) for p in LATENCY_PRESETS}
        lat["paper_1_segment"] = latency("paper", threads, iters["paper"], max_segments=1)
        result["latency_batch1"][f"threads={threads}"] = lat
        result.setdefault("paper_int8_dynamic", {})[f"threads={threads}"] = paper_int8(threads, iters["paper"])
        result.setdefault("shipped_default", {})[f"threads={threads}"] = shipped_default(threads, iters["default"])
    for p in LATENCY_PRESETS:
        batch = 64 if (p == "paper" and args.quick) else 256
        result["throughput"][p] = throughput(p, args.threads, batch, repeats=1 if p == "paper" else 5)
    torch.set_num_threads(args.threads)
    for n in (1, 2, 3, 4):
        for mode in ("one_step", "full"):
            result["train_memory"].append(train_memory(n, mode, batch=64, threads=args.threads))
    result["targets"] = {"default p50 [ms]": 5.0, "paper p50 [ms]": 47.0, "cores": 2}
    result["runtime [s]"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
