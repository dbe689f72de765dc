"""The two demo replays the Live and Model health pages offer on an empty ledger.

- **in distribution**: the first half of the middle year of the model's validation period on the
  first default symbol (2014-01-02 .. 2014-06-30 for hrm-default): model health should be green.
- **shifted**: the same half-year of a copy of that instrument whose log returns and intrabar
  ranges are tripled from the replay's start on (a volatility regime the model never saw in such
  a sudden form): model health should turn red. The copy is written once beside the caches
  (data_cache/demo/), named so it can never pass for the real instrument.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from hrm_core.errors import HRMError
from hrm_core.settings import Settings

VOL_FACTOR = 3.0


def demo_replays(settings: Settings, model: str | Path | None = None) -> dict[str, dict[str, str]]:
    """{"in distribution": args, "shifted": args}; args: symbol, interval, start, end, csv (or ""), command."""
    from hrm_core.model.cards import read_card, resolve_model

    periods = read_card(resolve_model(model, settings)).get("periods") or {}
    validation = periods.get("validation") or periods.get("test") or []
    if not validation:
        raise HRMError("the model card records no validation or test period: run `hrm live --replay START END` "
                       "with dates you choose")
    first, last = pd.Timestamp(validation[0]).year, pd.Timestamp(validation[1]).year
    start = pd.Timestamp(f"{first + (last - first) // 2}-01-01")  # the middle year of the validation period
    end = start + pd.DateOffset(months=6) - pd.Timedelta(days=1)
    symbol = settings.data.default_symbols[0]
    span = {"interval": "1d", "start": str(start.date()), "end": str(end.date())}
    same = {"symbol": symbol, "csv": "", **span}
    path = shifted_copy(settings, symbol, since=span["start"])
    shifted = {"symbol": path.stem, "csv": str(path), **span}
    for args in (same, shifted):
        data = f"--csv {args['csv']}" if args["csv"] else f"--symbol {args['symbol']}"
        args["command"] = f"hrm live --replay {args['start']} {args['end']} {data} --interval 1d"
    return {"in distribution": same, "shifted": shifted}


def shifted_copy(settings: Settings, symbol: str, *, since: str) -> Path:
    """The instrument's daily history with log returns and intrabar ranges x VOL_FACTOR from `since` on."""
    from hrm_core.data.market import load_bars

    name = "".join(c for c in symbol if c.isalnum()) or "demo"
    path = settings.data.path("cache_db").parent / "demo" / f"{name}-vol-x{VOL_FACTOR:g}-from-{since}.csv"
    if path.exists():
        return path
    bars = load_bars(symbol, "1d", settings=settings).bars.copy()
    on = np.asarray(bars.index >= pd.Timestamp(since, tz="UTC"))
    r = np.log(bars["close"]).diff().fillna(0.0).to_numpy()
    close = bars["close"].iloc[0] * np.exp(np.cumsum(np.where(on, VOL_FACTOR * r, r)))
    for col in ("open", "high", "low"):
        rel = np.log(bars[col].to_numpy() / bars["close"].to_numpy())
        bars[col] = close * np.exp(np.where(on, VOL_FACTOR * rel, rel))
    bars["close"] = close
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary file of this writer's own: sessions (or processes) writing the copy at once each replace the
    # same finished content; a shared temporary name made the loser's rename fail (issue 22).
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            bars.reset_index().to_csv(f, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


__all__ = ["VOL_FACTOR", "demo_replays", "shifted_copy"]
