"""Which bars should exist: trading calendars, so "stale" means "a bar that should be here is not".

Wall-clock age is the wrong measure of fresh data: a daily US book is 2.5 days "old" every Monday
morning and an hourly one 17 hours old every night, while nothing is missing. So staleness and
the live loop count *expected* bars: bars whose period has completed by `now` and that the data
does not hold.

- **exchange** (stocks, indices, ETFs): sessions, early closes and holidays from the maintained
  `exchange_calendars` package (XNYS unless the symbol's suffix names another exchange).
  Bars are labelled as Yahoo labels them: a daily bar by its session date (00:00 UTC), an hourly
  bar by its start (09:30, 10:30, ... New York; the last one ends at the close), a weekly bar by
  the Monday of its week. A bar is expected once its last session has closed and its span has
  passed (the live loop's own rule, hrm_core.data.bars.drop_unfinished: a daily bar at the
  following midnight UTC).
- **24/5** (FX, symbols ending "=X"): Sunday 17:00 to Friday 17:00 New York, every hour; a day is
  the FX trading day ending 17:00 New York (hrm_core.data.bars.session_dates), Monday to Friday.
  Market holidays are not modelled (FX trades through most of them).
- **24/7** (crypto, "-USD", "-USDT", "-EUR" ...): every UTC hour and day.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hrm_core.data.bars import BAR_SPAN, FX_DAY_START_HOURS, FX_ZONE

DEFAULT_EXCHANGE = "XNYS"
# Yahoo ticker suffix -> ISO 10383 MIC of the exchange calendar.
SUFFIX_EXCHANGES = {".L": "XLON", ".DE": "XETR", ".PA": "XPAR", ".AS": "XAMS", ".MI": "XMIL", ".SW": "XSWX",
                    ".T": "XTKS", ".HK": "XHKG", ".AX": "XASX", ".TO": "XTSE", ".SI": "XSES", ".KS": "XKRX"}
CRYPTO_QUOTES = ("-USD", "-USDT", "-USDC", "-EUR", "-BTC", "-ETH")
CALENDAR_START = "1990-01-01"


@dataclass(frozen=True)
class Calendar:
    kind: str  # "exchange", "24/5" or "24/7"
    name: str  # MIC for exchanges, else the kind

    @property
    def label(self) -> str:
        return f"{self.name} trading calendar" if self.kind == "exchange" else f"{self.kind} market"


def calendar_for(symbol: str) -> Calendar:
    """The calendar a symbol trades on (module docstring); unknown stock suffixes fall back to XNYS."""
    s = symbol.upper()
    if s.endswith("=X"):
        return Calendar("24/5", "24/5")
    if s.endswith(CRYPTO_QUOTES):
        return Calendar("24/7", "24/7")
    for suffix, mic in SUFFIX_EXCHANGES.items():
        if s.endswith(suffix):
            return Calendar("exchange", mic)
    return Calendar("exchange", DEFAULT_EXCHANGE)


@functools.lru_cache(maxsize=8)
def _exchange(mic: str):
    import exchange_calendars

    end = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=400)).strftime("%Y-%m-%d")
    return exchange_calendars.get_calendar(mic, start=CALENDAR_START, end=end)


def completed_bars(cal: Calendar, interval: str, start: pd.Timestamp, now: pd.Timestamp) -> pd.Series:
    """Bars labelled after `start` whose period has completed by `now`: label -> completion time (UTC)."""
    start, now = pd.Timestamp(start), pd.Timestamp(now)
    if interval not in BAR_SPAN:
        raise ValueError(f"unknown interval {interval!r}; use one of {sorted(BAR_SPAN)}")
    lo = start.floor("D") - pd.Timedelta(days=1)  # labels can sit up to a day before their completion
    bars = _exchange_bars(cal.name, interval, lo, now) if cal.kind == "exchange" else _round_the_clock(cal.kind,
                                                                                                    interval, lo, now)
    # usable once the session has closed AND the bar's span has passed (hrm_core.data.bars.drop_unfinished: a
    # daily bar at midnight UTC), so "expected" never runs ahead of what the live loop may decide
    done = pd.Series(np.maximum(bars.to_numpy(), (bars.index + BAR_SPAN[interval]).to_numpy()), index=bars.index)
    return done[(done.index > start) & (done <= now).to_numpy()]


def _exchange_bars(mic: str, interval: str, lo: pd.Timestamp, now: pd.Timestamp) -> pd.Series:
    xc = _exchange(mic)
    sessions = xc.sessions_in_range(lo.tz_localize(None), now.tz_localize(None).normalize())
    closes = xc.closes.reindex(sessions)  # UTC close of each session (early closes included)
    if interval == "1d":
        return pd.Series(closes.to_numpy(), index=pd.DatetimeIndex(sessions).tz_localize("UTC"))
    if interval == "1wk":
        labels = pd.DatetimeIndex(sessions).to_period("W-SUN").start_time.tz_localize("UTC")
        return pd.Series(closes.to_numpy(), index=labels).groupby(level=0).max()
    opens = xc.opens.reindex(sessions)
    starts, ends = [], []
    for o, c in zip(opens, closes):
        hours = pd.date_range(o, c, freq="1h", inclusive="left")
        starts.extend(hours)
        ends.extend(min(h + pd.Timedelta(hours=1), c) for h in hours)
    return pd.Series(pd.DatetimeIndex(ends), index=pd.DatetimeIndex(starts))


def _round_the_clock(kind: str, interval: str, lo: pd.Timestamp, now: pd.Timestamp) -> pd.Series:
    span = BAR_SPAN[interval]
    if kind == "24/7":
        labels = pd.date_range(lo.floor("D"), now, freq={"1h": "1h", "1d": "1D", "1wk": "W-MON"}[interval], tz="UTC")
        return pd.Series(labels + span, index=labels)
    # 24/5: an FX day D runs from D-1 17:00 to D 17:00 New York; days are Monday to Friday.
    days = pd.date_range(lo.tz_localize(None).floor("D"), now.tz_localize(None).floor("D") + pd.Timedelta(days=1),
                         freq="B")
    day_ends = (days + pd.Timedelta(hours=24 - FX_DAY_START_HOURS)).tz_localize(FX_ZONE).tz_convert("UTC")
    if interval == "1d":
        return pd.Series(day_ends, index=days.tz_localize("UTC"))
    if interval == "1wk":
        labels = days.to_period("W-SUN").start_time.tz_localize("UTC")
        return pd.Series(day_ends, index=labels).groupby(level=0).max()
    hours = [pd.date_range(e - pd.Timedelta(days=1), e, freq="1h", inclusive="left") for e in day_ends]
    starts = pd.DatetimeIndex([h for day in hours for h in day])
    return pd.Series(starts + span, index=starts)


def missing_bars(symbol: str, interval: str, newest: pd.Timestamp, now: pd.Timestamp, *,
                 grace: pd.Timedelta = pd.Timedelta(0)) -> pd.Series:
    """Bars after the `newest` one held that the calendar says completed more than `grace` before `now`."""
    return completed_bars(calendar_for(symbol), interval, newest, pd.Timestamp(now) - grace)


__all__ = ["CALENDAR_START", "Calendar", "DEFAULT_EXCHANGE", "calendar_for", "completed_bars", "missing_bars"]
