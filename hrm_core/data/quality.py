"""Data artefacts a source can carry without being invalid: opens that are really the previous close.

Some index histories (the bundled ^GSPC before 2006 among them: open == previous close on 95-98 %
of 1999-2005 days) have no real opening price; the vendor filled it with the previous close.
Such a bar's "overnight gap" is an artefact (always 0) and a fill "at its open" is a fill at the
previous close. A single open equal to the previous close happens in real data, so an open is
counted as missing only inside a run: it equals the previous close AND at least RUN_SHARE of the
trailing RUN_BARS bars (this one included) do. The rule reads bars <= t only, like the features.

What follows from a missing open (documented where it is used):
- the `gap` feature is 0 there (its documented fill: exactly what log(open / previous close) gives
  on such a bar, so features and trained models are unchanged), and model health leaves those
  bars out of the gap's drift test, where a run of zeros is not information;
- next-open fills on such bars are counted as close fills in backtests and reports;
- the data badge says how many bars lack a real open, and until when.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

RUN_BARS = 20
RUN_SHARE = 0.5
REL_TOL = 1e-9


def missing_opens(bars: pd.DataFrame) -> np.ndarray:
    """Boolean per bar: the open is the previous close inside a run of such bars (module docstring)."""
    if len(bars) == 0 or "open" not in bars:
        return np.zeros(len(bars), dtype=bool)
    prev = bars["close"].shift(1)
    equal = pd.Series(np.isclose(bars["open"], prev, rtol=REL_TOL, atol=0.0), index=bars.index)
    share = equal.astype(float).rolling(RUN_BARS, min_periods=1).mean()
    return (equal & (share >= RUN_SHARE)).to_numpy()


def missing_opens_note(bars: pd.DataFrame) -> str | None:
    """One line for the data badge, or None when every open is real."""
    miss = missing_opens(bars)
    if not miss.any():
        return None
    last = bars.index[np.flatnonzero(miss)[-1]]
    before = bars.index <= last
    return (f"opens missing (equal to the previous close) on {miss.sum():,} bars, {miss[before].mean():.0%} of the "
            f"bars up to {last:%Y-%m-%d}: their gap is 0 and a fill at such an open is a fill at the previous close")


__all__ = ["RUN_BARS", "RUN_SHARE", "missing_opens", "missing_opens_note"]
