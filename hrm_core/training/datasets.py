"""Training on a user's own files: bars for several files (and sample symbols) at once, and default periods
that split the chosen data's common span, so `hrm train --csv` and the Train page need no dates."""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import pandas as pd

from hrm_core.errors import HRMError

SPLIT = (0.70, 0.15, 0.15)  # train / validation / test shares of the common span
PERIOD_KEYS = ("train_start", "train_end", "val_start", "val_end", "test_start", "test_end")


class DatasetError(HRMError, ValueError):
    """The chosen files and symbols cannot make one training set: no common span, an unreadable file."""


def training_bars(symbols: Sequence[str], intervals: Sequence[str], *, settings,
                  files: Mapping[str, str | os.PathLike] | None = None) -> dict[tuple[str, str], pd.DataFrame]:
    """(SYMBOL, interval) -> full bar history for every chosen instrument: a name in `files` reads that file
    (CSV or Parquet, named as given, upper-cased as TrainConfig names instruments), any other symbol the
    market data (cache, sample). The training code cuts each series at the end of validation."""
    from hrm_core.data.market import load_bars

    files = {name.strip().upper(): path for name, path in (files or {}).items()}
    out = {}
    for sym in dict.fromkeys(s.strip().upper() for s in symbols):
        for iv in intervals:
            path = files.get(sym)
            res = load_bars("" if path else sym, iv, path=path, settings=settings)
            out[(sym, iv)] = res.bars
    return out


def split_common_span(frames: Sequence[pd.DataFrame], split: Sequence[float] = SPLIT) -> dict[str, str]:
    """TrainConfig's six period dates: the span every frame covers, cut by calendar time into train /
    validation / test in the `split` shares (whole days; each period starts the day after the last ends)."""
    frames = [df for df in frames if len(df)]
    if not frames:
        raise DatasetError("no bars to train on: choose at least one instrument with data")
    start, end = max(df.index[0] for df in frames), min(df.index[-1] for df in frames)
    if (end - start).days < 20:
        raise DatasetError(f"the chosen instruments share only {start:%Y-%m-%d} .. {end:%Y-%m-%d}: pick files "
                           "whose dates overlap (years of bars for daily data), or set the periods yourself")
    total = (end.normalize() - start.normalize()).days
    cut1 = start.normalize() + pd.Timedelta(days=round(total * split[0]))
    cut2 = start.normalize() + pd.Timedelta(days=round(total * (split[0] + split[1])))
    day = pd.Timedelta(days=1)
    dates = (start, cut1, cut1 + day, cut2, cut2 + day, end)
    return {k: f"{d:%Y-%m-%d}" for k, d in zip(PERIOD_KEYS, dates)}


__all__ = ["DatasetError", "PERIOD_KEYS", "SPLIT", "split_common_span", "training_bars"]
