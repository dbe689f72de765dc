"""Windows and periods shared by training, skill and the logistic learner: which bars lie in a period,
the labelled windows of a period (purged so no label reads past it), and batch inference over them.

Below train, skill and logistic, so none of them needs another for these (no import circle).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import TensorDataset

from hrm_core.data.bars import in_period
from hrm_core.data.features import FeatureSpec, Scaler, build_dataset
from hrm_core.model.config import TIMEFRAMES


def period_rows(index: pd.DatetimeIndex, interval: str, period, *, purge: int) -> np.ndarray:
    """Bar numbers inside [start, end] (inclusive dates) minus the last `purge` bars of the period."""
    start, end = (None if v is None else str(v) for v in period)
    inside = np.flatnonzero(in_period(index, interval, start, end))
    return inside[inside + purge <= inside[-1]] if len(inside) else inside


@dataclass
class WindowSet:
    """Windows of several series stacked for the model, with what evaluation needs per row."""

    X: np.ndarray  # (N, W, F) float32
    instrument: np.ndarray  # (N,) int64
    timeframe: np.ndarray  # (N,) int64
    direction: np.ndarray  # (N,) int64 class id
    fwd_return: np.ndarray  # (N,) float64 over the horizon
    next_return: np.ndarray  # (N,) float64: the next bar's simple return (what a position earns)
    series: np.ndarray  # (N,) int64 index into `keys`; rows of one series are in time order
    times: pd.DatetimeIndex
    keys: list[tuple[str, str]]

    def __len__(self) -> int:
        return len(self.direction)

    def tensors(self) -> TensorDataset:
        return TensorDataset(torch.from_numpy(self.X), torch.from_numpy(self.instrument),
                             torch.from_numpy(self.timeframe), torch.from_numpy(self.direction),
                             torch.from_numpy(self.fwd_return.astype(np.float32)))


def make_windows_for_period(series: Mapping[tuple[str, str], pd.DataFrame], *, vocab: Mapping[str, int],
                            scaler: Scaler, spec: FeatureSpec, start: str, end: str, purge: int,
                            stride: int = 1) -> WindowSet:
    """Labelled windows whose decision bar lies in [start, end], minus the last `purge` bars of the period.

    Purging in bars of the period: a row at bar i is kept only if i + purge <= the period's last bar,
    so its label (close[i + horizon], horizon <= purge) never reads a bar after the period."""
    parts = []
    keys = list(series)
    for k, (sym, iv) in enumerate(keys):
        bars = series[(sym, iv)]
        inside = np.flatnonzero(in_period(bars.index, iv, start, end))
        if len(inside) == 0:
            continue
        ds = build_dataset(bars, window=spec.window, scaler=scaler, horizon=spec.horizon,
                           threshold_k=spec.threshold_k, vol_lookback=spec.vol_lookback)
        keep = (ds.end_idx >= inside[0]) & (ds.end_idx + purge <= inside[-1]) & ds.labelled
        rows = np.flatnonzero(keep)[::stride]
        if len(rows) == 0:
            continue
        close = bars["close"].to_numpy("float64")
        nxt = ds.end_idx[rows] + 1
        parts.append(dict(X=ds.X[rows], instrument=np.full(len(rows), vocab.get(sym, 0), np.int64),
                          timeframe=np.full(len(rows), TIMEFRAMES[iv], np.int64),
                          direction=ds.direction[rows].astype(np.int64), fwd_return=ds.fwd_return[rows],
                          next_return=close[nxt] / close[nxt - 1] - 1.0,
                          series=np.full(len(rows), k, np.int64), times=ds.times[rows]))
    if not parts:
        W, nf = spec.window, len(spec.names)
        return WindowSet(np.empty((0, W, nf), np.float32), *(np.empty(0, np.int64) for _ in range(3)),
                         np.empty(0), np.empty(0), np.empty(0, np.int64), pd.DatetimeIndex([], tz="UTC"), keys)
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "times"}
    times = pd.DatetimeIndex(np.concatenate([p["times"].asi8 for p in parts])).tz_localize("UTC")
    return WindowSet(**cat, times=times, keys=keys)


@torch.no_grad()
def predict(model: nn.Module, ws: WindowSet, *, device: torch.device | str = "cpu",
            batch_size: int = 1024, halt: bool = True, depth: int | None = None) -> dict[str, np.ndarray]:
    """Inference outputs for every window: probabilities, quantity, value, steps (the checkpoint's
    inference mode; halt=False: every window at full depth; depth=k: exactly k segments)."""
    model.eval()
    outs: dict[str, list[np.ndarray]] = {"probs": [], "quantity": [], "value": [], "steps": []}
    amp = torch.device(device).type == "cuda"
    for i in range(0, len(ws), batch_size):
        sl = slice(i, i + batch_size)
        x = torch.from_numpy(ws.X[sl]).to(device)
        iid, tid = torch.from_numpy(ws.instrument[sl]).to(device), torch.from_numpy(ws.timeframe[sl]).to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            o = model.infer(x, iid, tid, halt=halt, depth=depth)
        outs["probs"].append(torch.softmax(o.policy_logits.float(), -1).cpu().numpy())
        outs["quantity"].append(o.quantity.float().cpu().numpy())
        outs["value"].append(o.value.float().cpu().numpy())
        outs["steps"].append(o.steps.cpu().numpy())
    return {k: np.concatenate(v) if v else np.empty(0) for k, v in outs.items()}


__all__ = ["WindowSet", "in_period", "make_windows_for_period", "period_rows", "predict"]
