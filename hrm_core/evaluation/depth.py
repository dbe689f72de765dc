"""Does reasoning depth pay? The same figures for one test period (hrm_core.reasoning.diagnostics) and for the
walk-forward years (hrm_core.evaluation.walkforward):

- `depth_logloss`: log-loss of the labelled decisions as run, at a fixed depth of 1 and at max depth, and
  their paired differences (one set of stationary-bootstrap indices for both sides) with 95 % intervals;
  `pays` is True when max depth lowers the log-loss against depth 1 with the interval below 0, False when
  the interval lies above 0, None when it straddles 0.
- `fold_depth`: what a walk-forward fold keeps of its HRM's depth (segments as run, the probabilities at
  depth 1 and at max depth, the max-depth action) for its out-of-sample bars.
- `walk_forward_depth`: one variant's folds concatenated per seed: the depth histogram, depth against
  realised volatility (Spearman, bootstrap interval), `depth_logloss` and the as-run / max-depth action
  agreement, each the mean over seeds (intervals: the mean of each seed's bounds).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from hrm_core.trading.metrics import bootstrap_ci, periods_per_year_of, rank_correlation

PAIRS = (("as_run", "depth_1"), ("max_depth", "depth_1"), ("as_run", "max_depth"))
VOL_WINDOW = 20  # bars of realised volatility (REFERENCE "Regimes")
EPS = 1e-12


def depth_logloss(probs: Mapping[str, np.ndarray], y: np.ndarray, *, max_segments: int, n_boot: int = 1000,
                  seed: int = 0, mean_block: float | None = None, alpha: float = 0.05) -> dict[str, Any]:
    """probs: {"as_run", "depth_1", "max_depth"} -> (n, 3) class probabilities; y: (n,) labels (NaN = unlabelled)."""
    y = np.asarray(y, dtype=np.float64)
    scored = np.isfinite(y) & np.logical_and.reduce([np.isfinite(np.asarray(p)).all(axis=1) for p in probs.values()])
    ok = np.flatnonzero(scored)
    cls = y[ok].astype(np.int64)
    losses = {k: -np.log(np.clip(np.asarray(p)[ok, cls], EPS, 1.0)) for k, p in probs.items()}
    out: dict[str, Any] = {"n": int(len(ok)), "max_segments": int(max_segments), "ci_level": 1 - alpha,
                           "logloss": {k: float(v.mean()) if len(v) else math.nan for k, v in losses.items()},
                           "differences": {}, "pays": None}
    for a, b in PAIRS:
        d = losses[a] - losses[b]
        ci = bootstrap_ci(d, lambda r: r.mean(axis=1), n_boot=n_boot, alpha=alpha, seed=seed, vectorized=True,
                          mean_block=mean_block) if len(d) > 1 else (math.nan, math.nan)
        out["differences"][f"{a}_minus_{b}"] = {"mean": float(d.mean()) if len(d) else math.nan, "ci": list(ci)}
    lo, hi = out["differences"]["max_depth_minus_depth_1"]["ci"]
    if max_segments == 1 or not len(ok):
        out["statement"] = "one segment only: nothing to compare" if max_segments == 1 else "no labelled decision"
    elif hi < 0:
        out["pays"], out["statement"] = True, "depth pays: max depth lowers the log-loss against depth 1"
    elif lo > 0:
        out["pays"], out["statement"] = False, "depth hurts: max depth raises the log-loss against depth 1"
    else:
        out["statement"] = "depth does not measurably pay: the log-loss difference's interval includes 0"
    out["note"] = ("log-loss per labelled decision, differences paired on the same decisions; "
                   "intervals: stationary bootstrap over decisions")
    return out


def realised_volatility(close: pd.Series, *, periods_per_year: float, window: int = VOL_WINDOW) -> pd.Series:
    """sigma_t = sqrt(P) s(last `window` returns through t): causal, hrm_core.trading.risk.trailing_volatility."""
    from hrm_core.trading.risk import trailing_volatility

    return trailing_volatility(close.astype(float), lookback=window, periods_per_year=periods_per_year)


# ----------------------------------------------------------------------------- walk-forward folds

def fold_depth(loaded, bars: pd.DataFrame, table: pd.DataFrame, rows: np.ndarray, *, symbol: str,
               interval: str) -> dict | None:
    """The fold's depth at its out-of-sample bars `rows` (positions in `bars`): None for the flat baseline."""
    import torch

    from hrm_core.trading.signals import build_table, model_inputs

    if loaded.config.arch != "hrm":
        return None
    ds, inst, tf = model_inputs(loaded, bars, symbol=symbol, interval=interval)
    at = np.searchsorted(ds.end_idx, rows)
    have = (at < len(ds.end_idx)) & (ds.end_idx[np.minimum(at, len(ds.end_idx) - 1)] == rows)
    n, M = len(rows), loaded.config.max_segments
    p1, pm = np.full((n, 3), np.nan), np.full((n, 3), np.nan)
    action_max = np.full(n, None, dtype=object)
    if have.any():
        x = torch.from_numpy(ds.X[at[have]])
        ids = torch.full((len(x),), inst, dtype=torch.long)
        with torch.inference_mode():
            one = loaded.model.infer(x, ids, torch.full_like(ids, tf), depth=1)
            full = loaded.model.infer(x, ids, torch.full_like(ids, tf), halt=False)
        p1[have] = torch.softmax(one.policy_logits.float(), -1).numpy()
        pm[have] = torch.softmax(full.policy_logits.float(), -1).numpy()
        raw = pd.DataFrame({"p_short": pm[have, 0], "p_flat": pm[have, 1], "p_long": pm[have, 2],
                            "quantity": full.quantity.float().numpy(), "value": full.value.float().numpy(),
                            "steps": float(M), "finite": full.finite.numpy().astype(float), "latency_ms": np.nan},
                           index=bars.index[rows[have]])
        action_max[have] = build_table(raw, model_id=loaded.name, rule=loaded.rule)["action"].to_numpy()
    return {"steps": table["steps"].to_numpy()[rows].tolist(), "p_depth_1": p1.tolist(), "p_max": pm.tolist(),
            "action": table["action"].to_numpy()[rows].tolist(), "action_max": action_max.tolist(),
            "max_segments": int(M), "objective": loaded.config.halt_objective,
            "inference_mode": loaded.config.inference_mode}


def walk_forward_depth(runs: Sequence[Sequence[dict]], bars: pd.DataFrame, *, interval: str,
                       n_boot: int = 1000) -> dict[str, Any] | None:
    """runs: per seed, that seed's fold series entries of one instrument (with "time", "p", "y", "depth").
    None when no fold kept its depth (a flat model, or folds recorded before depth was kept)."""
    per_seed = [_seed_depth(entries, bars, interval=interval, n_boot=n_boot) for entries in runs]
    per_seed = [s for s in per_seed if s is not None]
    if not per_seed:
        return None

    def mean(get) -> float:
        vals = [get(s) for s in per_seed]
        vals = [v for v in vals if v is not None and np.isfinite(v)]
        return float(np.mean(vals)) if vals else math.nan

    M = per_seed[0]["max_segments"]
    hist = {str(k): int(sum(s["segments_histogram"][str(k)] for s in per_seed)) for k in range(1, M + 1)}
    diffs = {k: {"mean": mean(lambda s, k=k: s["logloss"]["differences"][k]["mean"]),
                 "ci": [mean(lambda s, k=k: s["logloss"]["differences"][k]["ci"][0]),
                        mean(lambda s, k=k: s["logloss"]["differences"][k]["ci"][1])]}
             for k in per_seed[0]["logloss"]["differences"]}
    lo, hi = diffs["max_depth_minus_depth_1"]["ci"]
    return {
        "seeds": len(per_seed), "decisions": int(sum(s["decisions"] for s in per_seed)), "max_segments": M,
        "inference_modes": sorted({m for s in per_seed for m in s["inference_modes"]}),
        "segments_histogram": hist,
        "mean_segments": mean(lambda s: s["mean_segments"]),
        "depth_volatility_corr": {"value": mean(lambda s: s["depth_volatility_corr"]["value"]),
                                  "ci": [mean(lambda s: s["depth_volatility_corr"]["ci"][0]),
                                         mean(lambda s: s["depth_volatility_corr"]["ci"][1])],
                                  "note": next((s["depth_volatility_corr"]["note"] for s in per_seed
                                                if s["depth_volatility_corr"].get("note")), None)},
        "logloss": {k: mean(lambda s, k=k: s["logloss"]["logloss"][k]) for k in ("as_run", "depth_1", "max_depth")},
        "differences": diffs,
        "pays": True if hi < 0 else False if lo > 0 else None,
        "action_agreement": mean(lambda s: s["action_agreement"]),
        "note": "mean over seeds of each seed's figure on its concatenated out-of-sample years; intervals: the "
                "mean of each seed's 95 % stationary-bootstrap bounds",
    }


def _seed_depth(entries: Sequence[dict], bars: pd.DataFrame, *, interval: str, n_boot: int) -> dict | None:
    """One seed's years concatenated: its depth figures (None if any fold lacks them)."""
    if not entries or any("depth" not in e for e in entries):
        return None
    cat = lambda key: [v for e in entries for v in e["depth"][key]]  # noqa: E731
    times = pd.DatetimeIndex(pd.to_datetime([t for e in entries for t in e["time"]], utc=True))
    steps = np.asarray(cat("steps"), dtype=float)
    y = np.asarray([v for e in entries for v in e.get("y", [math.nan] * len(e["time"]))], dtype=float)
    p_run = np.asarray([v for e in entries for v in e["p"]], dtype=float)
    M = int(entries[0]["depth"]["max_segments"])
    block = float(max(VOL_WINDOW, len(steps) ** (1 / 3)))
    vol = realised_volatility(bars["close"], periods_per_year=periods_per_year_of(bars.index, interval))
    vol = vol.reindex(times.as_unit(bars.index.unit)).to_numpy()
    decided = np.isfinite(steps) & (steps > 0)
    agree = np.asarray(cat("action"), dtype=object) == np.asarray(cat("action_max"), dtype=object)
    return {
        "decisions": int(decided.sum()), "max_segments": M,
        "inference_modes": {e["depth"]["inference_mode"] for e in entries},
        "segments_histogram": {str(k): int((steps[decided] == k).sum()) for k in range(1, M + 1)},
        "mean_segments": float(steps[decided].mean()) if decided.any() else math.nan,
        "depth_volatility_corr": rank_correlation(steps[decided], vol[decided], n_boot=n_boot, mean_block=block,
                                                  names=("depth", "volatility")),
        "logloss": depth_logloss({"as_run": p_run, "depth_1": np.asarray(cat("p_depth_1"), dtype=float),
                                  "max_depth": np.asarray(cat("p_max"), dtype=float)}, y, max_segments=M,
                                 n_boot=n_boot, mean_block=block),
        "action_agreement": float(agree[decided].mean()) if decided.any() else math.nan,
    }


__all__ = ["depth_logloss", "fold_depth", "realised_volatility", "walk_forward_depth"]
