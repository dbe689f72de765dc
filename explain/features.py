"""Feature x time attribution of the input window with IntegratedGradients, under two baselines.

Baselines for a standardised market window (the scaler maps each feature's training mean to 0):
- "zeros": every feature at its training-period mean at every bar, "an average market". The
  default: fixed, the same for every decision, and inside the data the model was trained on.
- "history": every bar set to the mean of the last HISTORY_BARS decision rows up to the bar
  explained (causal), "the recent normal". It answers "what was unusual compared with lately".
Both are computed; the ranking change between them says how much the answer depends on the choice.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients

from explain.modules import MAX_STEPS, TOLERANCE, relative_delta
from explain.words import BASELINES, FEATURE_WORDS
from explain.targets import forward_fn
from hrm_core.model.position_rule import DecisionRule

HISTORY_BARS = 250
TOP_K = 5


def check_baseline(baseline: str) -> str:
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; use one of {', '.join(BASELINES)}")
    return baseline


def baseline_window(name: str, X: np.ndarray, row: int) -> np.ndarray:
    """(W, F) baseline for window `row` of a WindowDataset's X (rows <= row only: causal)."""
    check_baseline(name)
    W, F = X.shape[1:]
    if name == "zeros":
        return np.zeros((W, F), dtype=np.float32)
    recent = X[max(0, row - HISTORY_BARS + 1): row + 1, -1, :]  # each window's last bar = that decision's features
    return np.broadcast_to(recent.mean(axis=0, dtype=np.float64), (W, F)).astype(np.float32)


def recent_span(col: np.ndarray, share: float = 0.5) -> int:
    """Smallest k such that the last k bars hold `share` of the feature's absolute attribution."""
    a = np.abs(col[::-1])
    total = a.sum()
    if total <= 0:
        return len(col)
    return int(np.searchsorted(np.cumsum(a) / total, share) + 1)


def describe_feature(name: str, col: np.ndarray) -> str:
    """'20-bar return, last 5 bars' from a feature's attribution over the window."""
    k = recent_span(col)
    return f"{FEATURE_WORDS.get(name, name)}, {'last bar' if k == 1 else f'last {k} bars'}"


def direction_word(total: float, sense: int) -> str:
    """'for' / 'against' the decision (sense +1: the target rises with it, -1: falls with it); for a flat
    decision (sense 0) the side the input pushed toward."""
    if sense == 0:
        return "toward long" if total > 0 else "toward short"
    return "for" if total * sense > 0 else "against"


def top_features(attr: np.ndarray, names: list[str], k: int = TOP_K, sense: int = 1) -> list[dict]:
    """Features ranked by |signed total over the window|, with words and direction (direction_word)."""
    totals = attr.sum(axis=0)
    order = np.argsort(-np.abs(totals), kind="stable")[:k]
    return [{"feature": names[j], "words": describe_feature(names[j], attr[:, j]), "attribution": float(totals[j]),
             "direction": direction_word(float(totals[j]), sense), "recent_bars": recent_span(attr[:, j])}
            for j in order]


def ranking_change(a: np.ndarray, b: np.ndarray, names: list[str], k: int = TOP_K) -> dict:
    """How the per-feature ranking by |total| moves between two baselines' attributions."""
    ra = pd.Series(np.abs(a.sum(0)), index=names).rank(ascending=False)
    rb = pd.Series(np.abs(b.sum(0)), index=names).rank(ascending=False)
    top_a, top_b = set(ra.nsmallest(k).index), set(rb.nsmallest(k).index)
    return {"spearman": float(ra.corr(rb, method="pearson")), "top_k": k, "top_k_overlap": len(top_a & top_b),
            "max_rank_move": int((ra - rb).abs().max()), "top_feature_same": ra.idxmin() == rb.idxmin()}


def feature_attribution(model, x: torch.Tensor, instrument_id, timeframe_id, action, *, segments: int, target: str,
                        baselines: dict[str, np.ndarray], primary: str, n_steps: int, names: list[str],
                        times: pd.DatetimeIndex, rule: DecisionRule | None = None, sense: int = 1) -> dict:
    """IG of F over the (W, F) window under every baseline in one batched call; the primary one in full.

    Call under explain.core.model_lock(model)."""
    f = forward_fn(model, segments, target, rule)
    keys = list(baselines)
    n = len(keys)
    xs = x.expand(n, *x.shape[1:]).contiguous()
    bs = torch.from_numpy(np.stack([baselines[k] for k in keys]))
    args = (instrument_id.expand(n), timeframe_id.expand(n), action.expand(n))
    with torch.no_grad():
        f_x, f_b = f(xs, *args).double().numpy(), f(bs, *args).double().numpy()
    while True:  # as attribute_modules: more points where the path crosses the clip's kink
        attr, delta = IntegratedGradients(f).attribute(xs, baselines=bs, additional_forward_args=args,
                                                       n_steps=n_steps, return_convergence_delta=True)
        rel = relative_delta(delta.detach().double().numpy(), f_x, f_b)
        if n_steps >= MAX_STEPS or not (np.abs(np.nan_to_num(rel)) > TOLERANCE).any():
            break
        n_steps = min(n_steps * 4, MAX_STEPS)
    attr = attr.detach().double().numpy()
    by = {k: {"f_baseline": float(f_b[i]), "delta": float(delta[i]),
              "completeness_delta": None if not np.isfinite(rel[i]) else float(rel[i]),
              "top_features": top_features(attr[i], names, sense=sense)} for i, k in enumerate(keys)}
    p = keys.index(primary)
    other = [k for k in keys if k != primary]
    grid = pd.DataFrame(attr[p], index=times, columns=names)
    return {
        "baseline": primary, "f_input": float(f_x[p]), "f_baseline": float(f_b[p]), "delta": float(delta[p]),
        "completeness_delta": by[primary]["completeness_delta"], "attributions": grid,
        "per_feature": grid.sum(axis=0), "per_bar": grid.sum(axis=1), "top_features": by[primary]["top_features"],
        "by_baseline": by,
        "ranking_change": ranking_change(attr[p], attr[keys.index(other[0])], names) if other else None,
        "compared_with": other[0] if other else None,
    }
