"""Today first: what the model wants for the next bar of one instrument, in the words a trader acts on.

The newest decided bar of the signal table gives the target position, its side and the margin over the
no-trade band; the settings' execution says when it fills (the next bar's open, or this close); the paper
ledger's last recorded health verdict for the same instrument and timeframe (`hrm health`) says whether
the model is fit to trust, or that no live book is monitored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hrm_core.errors import HRMError
from hrm_core.live.ledger import Ledger


@dataclass(frozen=True)
class Today:
    symbol: str
    interval: str
    time: pd.Timestamp | None  # the bar whose close decided; None before the first decision
    side: str  # "long", "short" or "flat"
    position: float
    margin: float  # p_long - p_short beyond the no-trade band (negative: inside it)
    fills: str  # when the target is traded
    health: str  # "green" / "amber" / "red" / "not monitored"

    @property
    def headline(self) -> str:
        if self.time is None:
            return f"{self.symbol} {self.interval}: no decision yet (the model needs more bars)"
        size = f" {abs(self.position):.0%} of capital" if self.side != "flat" else ""
        return f"{self.symbol} {self.interval}: {self.side.upper()}{size}, {self.fills}"


def health_of(db: str | Path, symbol: str, interval: str) -> str:
    """The last verdict `hrm health` recorded for this book, or "not monitored" (no ledger, no book, none yet)."""
    if not Path(db).exists():
        return "not monitored"
    try:
        with Ledger(db, create=False) as ledger:
            return ledger.last_health(ledger.find_book(symbol=symbol, interval=interval).book_id) or "not monitored"
    except HRMError:
        return "not monitored"


def today(table: pd.DataFrame, *, symbol: str, interval: str, execution: str, health: str) -> Today:
    """The card for the newest decided bar of a signal table (rows with status "ok")."""
    decided = table[table["status"] == "ok"]
    fills = "fills at the next bar's open" if execution == "next_open" else "fills at this bar's close"
    if decided.empty:
        return Today(symbol, interval, None, "flat", 0.0, math.nan, fills, health)
    row = decided.iloc[-1]
    position = float(row["position"])
    side = "long" if position > 0 else "short" if position < 0 else "flat"
    when = decided.index[-1]
    fills = (f"fills at the open after {when:%Y-%m-%d}" if execution == "next_open"
             else f"filled at the close of {when:%Y-%m-%d}")
    return Today(symbol, interval, when, side, position, float(row.get("margin", math.nan)), fills, health)


__all__ = ["Today", "health_of", "today"]
