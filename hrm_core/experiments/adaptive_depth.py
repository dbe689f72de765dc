"""Does the halting machinery adapt where it should? Each halting objective on a task with a known answer.

The task (hrm_core.data.synthetic.composition_task) sets per window how many compositions of a hidden rule
the label needs (its difficulty), with an easy stratum (one composition) and a pure-noise stratum (nothing
to compute). An HRM is trained on it with one halting objective and the production loss
(`hrm_core.training.train.loss_terms`, value and sizing terms off: there are no returns), in one of two
ways (`DepthJob.unroll`):

- unrolled (the default): each batch runs all M segments with the carry's graph kept, the loss of every
  segment is summed (deep supervision) and one optimiser step follows, so a later segment's loss reaches
  the earlier updates and segment 1 learns to leave a partial product that segment 2 extends;
- detached: production training (one optimiser step per segment, carry detached, halted slots refilled
  with fresh windows). On this task it never made extra segments pay: each segment is trained to answer
  alone, so none stores what the next could extend (benchmarks/results-adaptive-depth-detached.json).

Then it is judged on fresh windows:

- `spearman_difficulty_depth`: rank correlation of difficulty and the segments used as run (noise stratum
  left out: it has no difficulty);
- `accuracy_by_stratum`: accuracy per difficulty as run (adaptive), at a fixed depth of 1 and at max depth;
- `mean_depth_by_stratum`: segments used as run per difficulty, "noise" included.

It passes when the correlation is >= PASS_SPEARMAN, the hardest stratum is more accurate as run than at
depth 1 by at least PASS_MARGIN, and the noise stratum uses the fewest segments on average (ties within
NOISE_TIE segments count: the noise and the one-move strata both stopping at once is the answer).
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hrm_core.data.synthetic import composition_task
from hrm_core.model.config import HALT_OBJECTIVES, get_preset

if TYPE_CHECKING:
    import torch

PASS_SPEARMAN = 0.5
PASS_MARGIN = 0.05  # accuracy, hardest stratum, as run minus depth 1
NOISE_TIE = 0.01  # mean segments: a noise window in 100 going one segment deeper still ties with the easiest


@dataclass(frozen=True)
class DepthJob:
    """One objective on one model size: everything a worker needs."""

    objective: str
    preset: str = "tiny"
    overrides: dict = field(default_factory=dict)  # ModelConfig overrides on top of the preset
    difficulties: tuple[int, ...] = (1, 2, 4, 8)
    steps: int = 600  # optimiser steps (unrolled: one per batch of M segments; detached: one per segment)
    batch_size: int = 128
    lr: float = 2e-3
    n_test: int = 3000
    seed: int = 0
    unroll: bool = True  # train through all M segments at once (see the module docstring); False: production

    def model_config(self):
        deep = self.objective != "q_learning"  # the reference init for Q-learning, deep start for the others
        return get_preset(self.preset, **{"halt_objective": self.objective, "deep_start": deep, **self.overrides})


def _draw(job: DepthJob, cfg, n: int, seed: int):
    return composition_task(n, window=cfg.window, patch_size=cfg.patch_size, n_features=cfg.n_features,
                            difficulties=job.difficulties, seed=seed)


def train_on_task(job: DepthJob) -> torch.nn.Module:
    """Train an HRM on the task (unrolled or as production trains, see the module docstring); returns it in
    eval mode."""
    import torch  # here and in judge: the Diagnostics page reads this module's results without loading torch

    from hrm_core.model.networks import build_model
    from hrm_core.training.train import TrainConfig, loss_terms

    if job.objective not in HALT_OBJECTIVES:
        raise ValueError(f"objective must be one of {HALT_OBJECTIVES}, got {job.objective!r}")
    torch.manual_seed(job.seed)
    cfg = job.model_config()
    model = build_model(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=job.lr, weight_decay=0.0)
    losses = TrainConfig(w_value=0.0, w_sizing=0.0)
    ids = torch.ones(job.batch_size, dtype=torch.long)
    zeros = torch.zeros(job.batch_size)

    def segment_loss(out, y):
        return loss_terms(out, y, zeros, ret_scale=1.0, cost=0.0, cfg=losses, act=cfg.act, halt=cfg)[0]

    def step(loss):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    pool = _draw(job, cfg, job.batch_size * 64, job.seed + 1)  # refilled slots and batches draw from here
    X, Y = torch.from_numpy(pool.X), torch.from_numpy(pool.y)
    if job.unroll:
        for i in range(job.steps):
            if i and i % 64 == 0:
                pool = _draw(job, cfg, job.batch_size * 64, job.seed + 1 + i)
                X, Y = torch.from_numpy(pool.X), torch.from_numpy(pool.y)
            rows = slice((i % 64) * job.batch_size, (i % 64 + 1) * job.batch_size)
            x, y, carry, total = X[rows], Y[rows], None, 0.0
            for _ in range(cfg.max_segments):
                out, carry = model(x, ids, ids, carry=carry, keep_graph=True)
                total = total + segment_loss(out, y)
            step(total / cfg.max_segments)
        return model.eval()
    nxt = job.batch_size
    x, y = X[:nxt].clone(), Y[:nxt].clone()
    carry = None
    for _ in range(job.steps):
        out, carry = model(x, ids, ids, carry=carry)
        step(segment_loss(out, y))
        fresh = carry.halted.clone()
        k = int(fresh.sum())
        if k:
            if nxt + k > len(X):
                nxt = 0
            x[fresh], y[fresh] = X[nxt:nxt + k], Y[nxt:nxt + k]
            nxt += k
            carry = model.refill(carry, fresh)
    return model.eval()


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def judge(model, job: DepthJob) -> dict:
    """Accuracy and depth per stratum on fresh windows, the correlation and the verdict."""
    import torch

    cfg = model.config
    test = _draw(job, cfg, job.n_test, job.seed + 1_000_000)  # seeds below are training pools
    x, y = torch.from_numpy(test.X), test.y
    ids = torch.ones(len(x), dtype=torch.long)
    runs = {"adaptive": model.infer(x, ids, ids), "depth_1": model.infer(x, ids, ids, depth=1),
            "max_depth": model.infer(x, ids, ids, halt=False)}
    right = {k: (o.policy_logits.argmax(-1).numpy() == y) for k, o in runs.items()}
    depth = runs["adaptive"].steps.numpy()
    strata = {str(k): test.difficulty == k for k in job.difficulties} | {"noise": test.difficulty == 0}
    acc = {name: {k: float(v[m].mean()) for k, v in right.items()} for name, m in strata.items()}
    mean_depth = {name: float(depth[m].mean()) for name, m in strata.items()}
    hard = str(max(job.difficulties))
    solved = test.difficulty > 0
    rho = _spearman(test.difficulty[solved], depth[solved])
    gain = acc[hard]["adaptive"] - acc[hard]["depth_1"]
    noise_shallowest = mean_depth["noise"] <= min(mean_depth[str(k)] for k in job.difficulties) + NOISE_TIE
    return {
        "spearman_difficulty_depth": rho,
        "accuracy_by_stratum": acc,
        "mean_depth_by_stratum": mean_depth,
        "hardest_gain_vs_depth_1": gain,
        "noise_shallowest": bool(noise_shallowest),
        "passes": bool(rho >= PASS_SPEARMAN and gain >= PASS_MARGIN and noise_shallowest),
        "n_test": int(len(y)),
    }


def run_depth_job(job: DepthJob) -> dict:
    """Train and judge one objective (a worker's job for hrm_core.compute.executors)."""
    from hrm_core.runtime import configure_threads

    configure_threads(1)
    t0 = time.perf_counter()
    model = train_on_task(job)
    seconds = time.perf_counter() - t0
    cfg = model.config
    return {"job": asdict(job), "config": {k: getattr(cfg, k) for k in ("window", "hidden", "h_cycles", "l_cycles",
                                                                          "max_segments", "deep_start")},
            "train_seconds": round(seconds, 1), **judge(model, job)}


RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results-adaptive-depth.json"  # written by --out


def load_result(path: str | Path | None = None) -> dict | None:
    """The committed benchmark (`--out`, default RESULTS), or None when it has not been run or cannot be read."""
    try:
        return json.loads(Path(path or RESULTS).read_text())
    except (OSError, ValueError):
        return None


def headline(result: Mapping, size: str = "tiny") -> str:
    """One sentence per objective: correlation, the hardest stratum's gain, the noise stratum's depth, verdict."""
    parts = []
    for objective, r in result["objectives"][size].items():
        hard = max((k for k in r["mean_depth_by_stratum"] if k != "noise"), key=int)
        parts.append(f"{objective}: difficulty/depth Spearman {r['spearman_difficulty_depth']:+.2f}, hardest stratum "
                     f"({hard} moves) {100 * r['hardest_gain_vs_depth_1']:+.1f} points as run vs depth 1, noise "
                     f"stratum {r['mean_depth_by_stratum']['noise']:.2f} segments "
                     f"({'passes' if r['passes'] else 'fails'})")
    chosen = result["chosen"].get(size)
    return ("; ".join(parts) + ". " + (f"Chosen: {chosen}." if chosen else
                                      "No objective passes: depth has not been shown to adapt where it should."))


def stratum_table(result: Mapping, size: str = "tiny") -> pd.DataFrame:
    """Rows: objective x stratum; columns: mean depth and accuracy as run, at depth 1 and at max depth."""
    rows = []
    for objective, r in result["objectives"][size].items():
        for stratum, acc in r["accuracy_by_stratum"].items():
            rows.append({"objective": objective, "moves to compose": stratum,
                         "mean depth": r["mean_depth_by_stratum"][stratum],
                         **{f"accuracy {k.replace('_', ' ')}": v for k, v in acc.items()}})
    return pd.DataFrame(rows)


def choose(results: list[dict]) -> str | None:
    """The objective that passes with the highest correlation (None when none passes)."""
    passing = [r for r in results if r["passes"]]
    return max(passing, key=lambda r: r["spearman_difficulty_depth"])["job"]["objective"] if passing else None


__all__ = ["DepthJob", "NOISE_TIE", "PASS_MARGIN", "PASS_SPEARMAN", "RESULTS", "choose", "headline", "judge",
           "load_result", "run_depth_job", "stratum_table", "train_on_task"]
