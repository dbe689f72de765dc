"""Similar situations: the past decisions whose final H state (the strategic summary the heads read) lies
nearest this one's, from the training period only (what the model learned from), with what followed.

Distance: Euclidean between final H summary vectors, each standardised by the training states' per-unit
sd. What followed: the close-to-close return over the model's label horizon after the bar, and the
model's gross PnL on it (its position then x that return; costs excluded). The training states of one
(model, instrument, data) are computed once per process and reused.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pandas as pd
import torch

K = 5
_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 8
_GUARD = threading.Lock()


def final_h_states(model, X: np.ndarray, iid: int, tid: int, rule, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """((n, D) final H summary state of each window at the depth infer halts at, (n,) the position it takes)."""
    states, positions = [], []
    with torch.no_grad():
        for lo in range(0, len(X), batch):
            x = torch.from_numpy(np.ascontiguousarray(X[lo: lo + batch]))
            b = len(x)
            res = model.infer(x, torch.full((b,), iid, dtype=torch.long), torch.full((b,), tid, dtype=torch.long),
                              trace=True)
            per_segment = torch.stack([seg.z_H[-1] for seg in res.trace.segments], 1)  # (b, segments, D)
            states.append(per_segment[torch.arange(b), res.steps - 1].double().numpy())
            p = torch.softmax(res.policy_logits.float(), -1).double().numpy()
            positions.append(rule.positions(p, res.quantity.double().numpy()))
    return np.concatenate(states), np.concatenate(positions)


def _training_states(key, loaded, ds, rows: np.ndarray, iid: int, tid: int) -> tuple[np.ndarray, np.ndarray]:
    with _GUARD:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    found = final_h_states(loaded.model, ds.X[rows], iid, tid, loaded.rule)
    with _GUARD:
        _CACHE[key] = found
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return found


def similar_situations(loaded, ds, bars: pd.DataFrame, state: np.ndarray, *, symbol: str, interval: str, key: str,
                       k: int = K) -> dict:
    """The k nearest training-period decisions to `state` (this decision's final H summary, (D,)).

    key: identifies model + instrument + data for the cache of the training states."""
    from hrm_core.training.windows import in_period

    train = loaded.periods.get("train") if isinstance(loaded.periods, dict) else None
    if not train or not hasattr(loaded.model, "taps") or not hasattr(loaded.model.taps, "h_prev"):
        return {"available": False, "note": "needs an HRM checkpoint with a recorded training period", "items": []}
    inside = in_period(pd.DatetimeIndex(ds.times), interval, train[0], train[1])
    rows = np.flatnonzero(inside)
    if len(rows) < k:
        return {"available": False, "note": f"the data holds {len(rows)} decisions of the training period "
                                            f"{train[0]} .. {train[1]}", "items": []}
    iid, tid = int(loaded.instrument_ids([symbol])[0]), loaded.timeframe_id(interval)
    states, positions = _training_states(key, loaded, ds, rows, iid, tid)
    sd = states.std(0)
    sd[sd == 0] = 1.0
    dist = np.sqrt((((states - state) / sd) ** 2).mean(1))
    nearest = np.argsort(dist, kind="stable")[:k]
    h = int(loaded.feature_spec.horizon)
    close = bars["close"]
    items = []
    for i in nearest:
        t = ds.times[rows[i]]
        at = close.index.get_loc(t)
        fwd = float(close.iloc[at + h] / close.iloc[at] - 1) if at + h < len(close) else float("nan")
        pos = float(positions[i]) + 0.0
        items.append({"time": t.isoformat(), "distance": float(dist[i]),
                      "action": "long" if pos > 0 else "short" if pos < 0 else "flat", "position": pos,
                      "forward_return": fwd, "model_pnl": pos * fwd})
    fwd = np.array([it["forward_return"] for it in items])
    return {"available": True, "k": k, "period": list(train), "horizon_bars": h, "items": items,
            "mean_forward_return": float(np.nanmean(fwd)) if np.isfinite(fwd).any() else None,
            "note": (f"the {k} training-period decisions ({train[0]} .. {train[1]}) whose final H state is nearest; "
                     f"forward return over the next {h} bar(s), close to close; model PnL = its position then x that "
                     "return, before costs")}


__all__ = ["final_h_states", "similar_situations"]
