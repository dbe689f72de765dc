"""Identities shared by training, checkpoints and signals: model names, instrument ids, data hashes.

This module sits below `train.py` and `checkpoint.py` (both import it, it imports neither),
so the layers import one way: identity <- checkpoint <- train.
"""
from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd

from hrm_core.errors import ModelError

if TYPE_CHECKING:
    import torch

# A model name is one folder under models/: letters, digits, '.', '_', '-'; no separators, no '..'.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_model_name(name: str) -> str:
    """Return `name` stripped if it is a safe folder name under models/, else ModelError with the fix.

    A name is joined to the models folder: '../x', 'a/b', '/abs' or '..' would write outside it."""
    text = str(name).strip()
    if not _MODEL_NAME.fullmatch(text) or ".." in text:
        shown = text if len(text) <= 60 else text[:60] + "..."
        raise ModelError(f"invalid model name {shown!r}: use 1-100 letters, digits, '.', '_' or '-' "
                         "(no '/', '\\' or '..'), e.g. my-model-1; the model is written to models/NAME")
    return text


def instrument_vocab(symbols) -> dict[str, int]:
    """{symbol: id} with ids from 1 in the order given; 0 is the shared "unknown" instrument."""
    vocab: dict[str, int] = {}
    for s in symbols:
        vocab.setdefault(s.strip().upper(), len(vocab) + 1)
    return vocab


def instrument_ids(symbols, vocab: Mapping[str, int]) -> torch.Tensor:
    """LongTensor of ids for `symbols` (a str or a sequence); symbols not in the vocab get 0 (unknown)."""
    import torch  # here, not at the top: the Train page checks model names without loading torch

    if isinstance(symbols, str):
        symbols = [symbols]
    return torch.tensor([int(vocab.get(s.strip().upper(), 0)) for s in symbols], dtype=torch.long)


def data_hash(series: Mapping[tuple[str, str], pd.DataFrame]) -> str:
    """sha256 over every (symbol, interval) bar series used (timestamps and OHLCV values)."""
    h = hashlib.sha256()
    for (sym, iv) in sorted(series):
        df = series[(sym, iv)]
        h.update(f"{sym}|{iv}|{len(df)}|".encode())
        h.update(df.index.asi8.tobytes())
        h.update(np.ascontiguousarray(df[["open", "high", "low", "close", "volume"]].to_numpy("float64")).tobytes())
    return h.hexdigest()


__all__ = ["check_model_name", "data_hash", "instrument_ids", "instrument_vocab"]
