"""What would change the decision: for each top input, the smallest change of that one input, in its own
units, that moves the book to another side (across the no-trade band's edge, or to the other side), found
with the real model (its adaptive depth included).

"Change of the input" = the same shift of its value on the recent bars its attribution lies on (the
"last k bars" of the explanation; the whole window at most), so "from" and "to" are its value at the
decision bar before and after. Search: shifts that move the decision bar's value across the range the
input takes over every decidable bar of the data (the "observed range", GRID points); the candidate
nearest the actual value whose decision differs is refined by bisection. If no point of the range
changes the decision: "no change within the input's observed range flips it". All candidates of all
inputs run as one batch per step, so the search costs a few batched forward passes.
"""
from __future__ import annotations

import numpy as np
import torch

from hrm_core.data.features import DIRECTION_CLASSES

GRID = 64
BISECT = 12


def _actions(model, x: torch.Tensor, iid: torch.Tensor, tid: torch.Tensor, rule) -> np.ndarray:
    """The side (-1 / 0 / +1) of the book each window decides, as the signal table decides it."""
    with torch.no_grad():
        out = model.infer(x, iid.expand(len(x)), tid.expand(len(x)))
    p = torch.softmax(out.policy_logits.float(), -1).double().numpy()
    q = out.quantity.double().numpy()
    ok = out.finite.numpy() & np.isfinite(p).all(1) & np.isfinite(q)
    return np.where(ok, np.sign(rule.positions(np.where(ok[:, None], p, 0.0), np.where(ok, q, 0.0))), 0).astype(int)


def counterfactuals(model, x: torch.Tensor, iid: torch.Tensor, tid: torch.Tensor, *, rule, features: list[dict],
                    names: list[str], words: dict[str, str], observed: np.ndarray, scaler, side: int) -> list[dict]:
    """One entry per top feature ({"feature", "recent_bars"}): feature, words, bars, from / to (raw units at the
    decision bar), change, result, text.

    x: (1, W, F) scaled window; observed: (n, F) scaled values of every decidable bar's last row."""
    spans = [min(max(int(f.get("recent_bars") or 1), 1), x.shape[1]) for f in features]
    features = [f["feature"] for f in features]
    cols = [names.index(f) for f in features]
    current = x[0, -1, cols].double().numpy()
    lo, hi = observed[:, cols].min(0), observed[:, cols].max(0)
    grid = np.linspace(lo, hi, GRID)  # (GRID, k)

    def decide(values: np.ndarray, which: np.ndarray) -> np.ndarray:
        """Decisions with input which[r] shifted so that its decision-bar value is values[r]."""
        xb = x.repeat(len(values), 1, 1)
        for r, (v, i) in enumerate(zip(values, which)):
            xb[r, -spans[i]:, cols[i]] += float(v - current[i])
        return _actions(model, xb, iid, tid, rule)

    k = len(cols)
    flat_idx = np.repeat(np.arange(k), GRID)
    sides = decide(grid.T.reshape(-1), flat_idx).reshape(k, GRID)
    near = np.full(k, np.nan)
    for i in range(k):
        changed = np.flatnonzero(sides[i] != side)
        if len(changed):
            near[i] = grid[changed[np.argmin(np.abs(grid[changed, i] - current[i]))], i]
    a, b = current.copy(), near.copy()  # a keeps the decision, b changes it: bisect toward the boundary
    todo = np.flatnonzero(np.isfinite(near))
    for _ in range(BISECT if len(todo) else 0):
        mid = (a[todo] + b[todo]) / 2
        same = decide(mid, todo) == side
        a[todo] = np.where(same, mid, a[todo])
        b[todo] = np.where(same, b[todo], mid)
    result_sides = decide(b[todo], todo) if len(todo) else np.array([], dtype=int)
    out = []
    mean, std = scaler.mean, scaler.std
    for i, f in enumerate(features):
        j = cols[i]
        raw_from = float(current[i] * std[j] + mean[j])
        entry = {"feature": f, "words": words.get(f, f), "bars": spans[i], "from": raw_from, "to": None,
                 "result": None, "change": None}
        where = "on the last bar" if spans[i] == 1 else f"over the last {spans[i]} bars"
        if i in todo:
            new_side = int(result_sides[list(todo).index(i)])
            raw_to = float(b[i] * std[j] + mean[j])
            entry.update(to=raw_to, change=raw_to - raw_from, result=DIRECTION_CLASSES[new_side + 1])
            entry["text"] = (f"{entry['words']} shifted by {raw_to - raw_from:+.3g} {where} ({raw_from:.4g} -> "
                             f"{raw_to:.4g} at the decision bar) would make the book {entry['result']}")
        else:
            entry["text"] = f"no shift of {entry['words']} {where} within its observed range flips the decision"
        out.append(entry)
    return out


__all__ = ["counterfactuals"]
