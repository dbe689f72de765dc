"""The bars contract: validation, user files and resampling (DESIGN.md "Data contracts").

Bars are a DataFrame with a tz-aware UTC DatetimeIndex named `time` (nanosecond
resolution), strictly increasing and unique, and float64 columns `open, high, low,
close, volume`. A bar's time is the *start* of its period, as yfinance labels it: a
daily bar is 00:00 UTC of the exchange date, a weekly bar is the Monday of its week.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hrm_core.errors import DataError, EmptyDataError, InsufficientDataError, InvalidBarsError

INTERVALS = ("1h", "1d", "1wk")
COLUMNS = ("open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")

# Relative slack for low <= open, close <= high: data vendors round O/H/L/C separately.
OHLC_REL_TOL = 1e-6
BAR_SPAN = {"1h": pd.Timedelta(hours=1), "1d": pd.Timedelta(days=1), "1wk": pd.Timedelta(weeks=1)}


def _bound(date: str, *, end: bool) -> pd.Timestamp:
    ts = pd.Timestamp(date)
    ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
    return ts + pd.Timedelta(days=1) if end and ts == ts.normalize() else ts  # an end date covers its day


def in_period(index: pd.DatetimeIndex, interval: str, start: str | None, end: str | None) -> np.ndarray:
    """Bars wholly inside [start, end]: the bar opens at or after start and closes by the end of `end` (the rule
    training's splits and evaluation's periods share). A weekly bar labelled Monday 2012-12-31 closes in 2013, so it is not a 2012 bar."""
    mask = np.ones(len(index), dtype=bool)
    if start is not None:
        mask &= np.asarray(index >= _bound(start, end=False))
    if end is not None:
        mask &= np.asarray(index + BAR_SPAN[interval] <= _bound(end, end=True))
    return mask


# pandas resample rules per target interval. Weekly bins run Monday 00:00 UTC to the next
# Monday and are labelled by their Monday, like Yahoo's own 1wk bars.
_RESAMPLE = {
    "1h": dict(rule="1h", label="left", closed="left"),
    "1d": dict(rule="1D", label="left", closed="left"),
    "1wk": dict(rule="W-MON", label="left", closed="left"),
}
_TIME_NAMES = ("time", "date", "datetime", "timestamp", "index", "")


# --- validation --------------------------------------------------------------------------------

def empty_bars() -> pd.DataFrame:
    """A zero-row frame that satisfies the bars contract (for 'nothing cached' answers)."""
    index = pd.DatetimeIndex([], dtype="datetime64[ns, UTC]", name="time")
    return pd.DataFrame({c: pd.Series([], dtype="float64", index=index) for c in COLUMNS})


def _one_line(text: object) -> str:
    """Collapse whitespace so an error prints as a single line in the CLI and the UI."""
    return " ".join(str(text).split())


def snippet(text: object, limit: int = 80) -> str:
    """User content safe to echo in one line: control and non-printable characters -> '?', capped at `limit`."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in " ".join(str(text).split()))
    return clean if len(clean) <= limit else clean[:limit] + "..."


def _label(symbol: str) -> str:
    return f"{symbol}: " if symbol else ""


def _to_utc_index(values: Any, *, symbol: str = "") -> pd.DatetimeIndex:
    """Parse timestamps (strings, datetimes, epoch numbers) to a UTC DatetimeIndex; naive means UTC."""
    if isinstance(values, pd.DatetimeIndex):
        idx = values
    else:
        raw = pd.Series(values)
        if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
            idx = pd.DatetimeIndex(pd.to_datetime(raw, unit=_epoch_unit(raw), utc=True))
        else:
            idx = pd.DatetimeIndex(_parse_dates(raw, symbol))
    if idx.tz is None:
        idx = idx.tz_localize("UTC")  # naive times are taken as UTC (documented); guessing an exchange zone would be worse
    # freq=None always: bars have gaps (weekends, holidays), and equal frames must compare equal
    return pd.DatetimeIndex(idx.tz_convert("UTC").as_unit("ns"), freq=None, name="time")


def _parse_dates(raw: pd.Series, symbol: str) -> pd.Series:
    """Fast path: one inferred format; slow path (mixed formats) only to find and name a bad value."""
    try:
        return pd.to_datetime(raw, utc=True)
    except (ValueError, TypeError, OverflowError):
        parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        pos = int(np.argmax(bad))
        raise InvalidBarsError(
            f"{_label(symbol)}unparseable date {snippet(raw.iloc[pos], 40)!r} in row {pos + 1} "
            f"({int(bad.sum())} bad in all); use ISO dates like 2020-01-31 or 2020-01-31 14:30:00+00:00")
    return parsed


def _epoch_unit(values: pd.Series) -> str:
    """Guess the unit of epoch timestamps from their magnitude (exchanges export s, ms, us or ns)."""
    top = float(np.nanmax(np.abs(values.to_numpy(dtype="float64")))) if len(values) else 0.0
    return "ns" if top > 1e17 else "us" if top > 1e14 else "ms" if top > 1e11 else "s"


def _first_bad(mask: pd.Series | np.ndarray, index: pd.DatetimeIndex) -> str:
    """'2020-01-03 (and 4 more)': where a problem starts, so a trader can find it in the file."""
    mask = np.asarray(mask, dtype=bool)
    pos = int(np.argmax(mask))
    more = int(mask.sum()) - 1
    return f"{_fmt_time(index[pos])}" + (f" (and {more} more)" if more else "")


def _fmt_time(ts: pd.Timestamp) -> str:
    """Date only for midnight bars, full time otherwise."""
    return ts.strftime("%Y-%m-%d") if ts == ts.normalize() else ts.strftime("%Y-%m-%d %H:%M:%S%z")


def validate_bars(df: pd.DataFrame, *, symbol: str = "", min_rows: int = 1) -> pd.DataFrame:
    """Check a frame against the bars contract and return it in contract form (UTC ns index, float64 columns).

    Accepts the times as a DatetimeIndex (naive = UTC), a `time` column, or an index of date
    strings. Extra columns are dropped. Raises EmptyDataError, InvalidBarsError or
    InsufficientDataError with the column, first bad date and the fix.
    """
    who = _label(symbol)
    if df is None or len(df) == 0:
        raise EmptyDataError(f"{who}no bars: the data is empty; check the symbol, interval and date range")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InvalidBarsError(
            f"{who}missing column(s) {', '.join(missing)}; bars need open, high, low, close, volume "
            f"(found: {snippet(', '.join(map(str, df.columns)))}); add them (volume 0 if unknown)")
    if isinstance(df.index, pd.DatetimeIndex):
        times = df.index
    elif "time" in df.columns:
        times = df["time"]
    elif pd.api.types.is_numeric_dtype(df.index.dtype):  # a RangeIndex is row numbers, not times
        raise InvalidBarsError(f"{who}no timestamps: give the bars a DatetimeIndex or a 'time' column")
    else:
        times = df.index.to_series()
    index = _to_utc_index(times, symbol=symbol)
    if not index.is_unique:
        dup = index.duplicated(keep=False)
        raise InvalidBarsError(f"{who}duplicate timestamps at {_first_bad(dup, index)}; keep one row per time")
    if not index.is_monotonic_increasing:
        pos = int(np.argmax(np.diff(index.asi8) < 0)) + 1
        raise InvalidBarsError(
            f"{who}timestamps not in increasing order: {_fmt_time(index[pos])} (row {pos + 1}) comes after "
            f"{_fmt_time(index[pos - 1])}; sort the rows by time")
    out = pd.DataFrame(index=index)
    for c in COLUMNS:
        col = pd.to_numeric(pd.Series(df[c].to_numpy(), index=index), errors="coerce")
        bad = ~np.isfinite(col.to_numpy(dtype="float64", na_value=np.nan))
        if bad.any():
            raise InvalidBarsError(
                f"{who}column {c} has missing, non-numeric or infinite values at {_first_bad(bad, index)}; "
                f"drop or fill those rows")
        out[c] = col.astype("float64")
    _check_prices(out, who)
    if len(out) < min_rows:
        raise InsufficientDataError(
            f"{who}only {len(out)} bars from {_fmt_time(index[0])} to {_fmt_time(index[-1])}; "
            f"need at least {min_rows}: widen the date range or use a shorter interval")
    return out


def _check_prices(bars: pd.DataFrame, who: str) -> None:
    """Positive prices, non-negative volume, low <= open, close <= high (with rounding slack)."""
    index = bars.index
    for c in PRICES:
        bad = bars[c] <= 0
        if bad.any():
            raise InvalidBarsError(f"{who}non-positive {c} price at {_first_bad(bad, index)}; prices must be > 0")
    bad = bars["volume"] < 0
    if bad.any():
        raise InvalidBarsError(f"{who}negative volume at {_first_bad(bad, index)}; volume must be >= 0")
    tol = OHLC_REL_TOL * bars["high"].abs()
    bad = bars["high"] < bars["low"] - tol
    if bad.any():
        raise InvalidBarsError(f"{who}high below low at {_first_bad(bad, index)}; check those rows (swapped columns?)")
    for c in ("open", "close"):
        bad = (bars[c] > bars["high"] + tol) | (bars[c] < bars["low"] - tol)
        if bad.any():
            raise InvalidBarsError(
                f"{who}{c} outside the low-high range at {_first_bad(bad, index)}; fix high/low or {c} there")


# --- files -------------------------------------------------------------------------------------

def _normalise_name(name: object) -> str:
    """'Adj Close' -> 'adj_close', ' Open ' -> 'open'."""
    return "_".join(str(name).strip().lower().replace("_", " ").split())


def normalise_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Rename vendor columns to the bars layout: a `time` column, lower-case OHLCV, no Adj Close.

    `close` is the file's Close (consistent with its open/high/low); `Adj Close` is used as
    close only when there is no Close column, and ignored otherwise.
    """
    df = df.copy()
    if isinstance(df.index, pd.DatetimeIndex) or df.index.name is not None:
        df = df.reset_index()  # Parquet/yfinance keep the dates in the index
    df.columns = [_normalise_name(c) for c in df.columns]
    renames = {"adjclose": "adj_close", "adj_close_price": "adj_close", "vol": "volume"}
    df = df.rename(columns=renames)
    if "close" not in df.columns and "adj_close" in df.columns:
        df = df.rename(columns={"adj_close": "close"})
    df = df.drop(columns=[c for c in df.columns if c == "adj_close"])
    if "date" in df.columns and "time" in df.columns:  # intraday exports split "Date,Time": join them
        df["time"] = df["date"].astype(str) + " " + df["time"].astype(str)
        df = df.drop(columns="date")
    time_col = next((c for c in df.columns if c in _TIME_NAMES or c.startswith("unnamed:_0")), None)
    if time_col is None:
        found = ", ".join(map(str, df.columns))
        hint = next((f"; the file seems to use {d!r} as delimiter: save it comma-separated"
                     for d in (";", "\t", "|") if d in found), "")
        raise InvalidBarsError(
            f"no date column: expected one of Date, Datetime, time, timestamp or a first index column "
            f"(found: {snippet(found)}){hint}")
    return df.rename(columns={time_col: "time"})


def _reverse_if_descending(df: pd.DataFrame) -> pd.DataFrame:
    """Vendors often export newest-first; a fully descending file is reversed, anything else is left to validation."""
    if len(df) > 1 and df.index.is_monotonic_decreasing and df.index.is_unique:
        return df.iloc[::-1]
    return df


_DELIMITERS = ",;\t|"


def _sniff_delimiter(head: str) -> str:
    """The CSV delimiter among , ; tab | (European exports use ';'); ',' when unsure."""
    import csv

    try:
        return csv.Sniffer().sniff(head, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _read_text_table(path: Path) -> pd.DataFrame:
    """A CSV with its delimiter detected; binary content is refused without echoing it."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if b"\x00" in head:
        raise DataError(f"{path.name}: not a text CSV file (binary content); export the data as CSV or Parquet")
    sep = _sniff_delimiter(head.decode("utf-8", errors="replace"))
    return pd.read_csv(path, sep=sep)


def read_ohlcv_file(path: str | os.PathLike) -> pd.DataFrame:
    """Read a user's CSV or Parquet OHLCV file into validated bars; any failure is a DataError naming the file.

    Nothing of the file's content is echoed beyond a short, sanitised snippet (`snippet`)."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise DataError(f"{name}: file not found ({path})")
    parquet = path.suffix.lower() in (".parquet", ".pq")
    try:
        raw = pd.read_parquet(path) if parquet else _read_text_table(path)
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a broken file; all mean "unreadable"
        raise DataError(f"{name}: cannot read as {'Parquet' if parquet else 'CSV'}: "
                        f"{type(exc).__name__}: {snippet(exc, 160)}") from None
    try:
        df = normalise_columns(raw)
        if df.empty:
            return validate_bars(df, symbol=name)  # raises EmptyDataError naming the file
        times = _to_utc_index(df["time"], symbol=name)
        df = df.drop(columns="time").set_index(times)
        return validate_bars(_reverse_if_descending(df), symbol=name)
    except InvalidBarsError as exc:
        raise InvalidBarsError(f"{name}: {exc}" if not str(exc).startswith(name) else str(exc)) from None
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{name}: cannot parse: {type(exc).__name__}: {snippet(exc, 160)}") from None


# --- resampling --------------------------------------------------------------------------------

# Session calendars for turning intraday bars into days (see `session_calendar`).
CALENDARS = ("exchange", "24/5", "24/7")
FX_ZONE = "America/New_York"
FX_DAY_START_HOURS = 7  # the FX day runs 17:00 -> 17:00 New York: shift wall time by 7 h, take the date


def session_calendar(index: pd.DatetimeIndex) -> str:
    """Which trading calendar intraday bars follow, read off their UTC weekdays.

    "24/7" (crypto): Saturdays are as busy as other days (over 5 % of bars). "24/5" (FX,
    futures): trading from Sunday evening to Friday evening, so Sunday-UTC bars exist but
    Saturdays are empty. "exchange": a session inside one UTC day (stocks, indices), and any
    daily or coarser data (already one bar per trading day).
    """
    if len(index) < 2 or _bar_step(index) >= pd.Timedelta(hours=20):
        return "exchange"
    dow = np.asarray(index.day_of_week)
    if (dow == 5).mean() > 0.05:
        return "24/7"
    if (dow == 6).mean() > 0.005:
        return "24/5"
    return "exchange"


def session_dates(index: pd.DatetimeIndex, calendar: str) -> pd.DatetimeIndex:
    """The trading day of each bar, as 00:00 UTC of that date (the label of its daily bar).

    "exchange" and "24/7": the UTC calendar date (a US session, 13:30-20:00 UTC, sits inside it;
    crypto's own daily bars are UTC days). "24/5": the FX convention, a day ends at 17:00 New
    York time (DST-aware): Sunday 17:00 NY opens Monday's day, so the Sunday-evening hours
    belong to Monday instead of forming a "Sunday" stub bar that would be fed to the model as a
    full day and would push the annualisation to 365. Any bar still dated on a weekend (stray
    ticks) is merged into the next Monday.
    """
    if calendar not in CALENDARS:
        raise ValueError(f"unknown calendar {calendar!r}; use one of {CALENDARS}")
    if calendar != "24/5":
        return pd.DatetimeIndex(index.normalize(), name="time")
    wall = index.tz_convert(FX_ZONE).tz_localize(None)  # New York wall clock: DST handled by the zone
    days = (wall + pd.Timedelta(hours=FX_DAY_START_HOURS)).normalize()
    dow = np.asarray(days.day_of_week)
    days = days + pd.to_timedelta(np.where(dow >= 5, 7 - dow, 0), unit="D")
    return pd.DatetimeIndex(days.tz_localize("UTC"), name="time")


def resample_bars(df: pd.DataFrame, interval: str) -> pd.DataFrame:
    """Aggregate bars to a coarser interval: open first, high max, low min, close last, volume sum.

    1h bins start on the hour (UTC). 1d bins are trading days of the bars' session calendar
    (`session_calendar`, `session_dates`): UTC dates for exchange and 24/7 markets, FX days
    (17:00 New York to 17:00) for 24/5 markets. 1wk bins are Monday-to-Sunday weeks of those
    trading days, labelled by their Monday 00:00 UTC (Yahoo's convention). Bins without bars are
    dropped; a partial last bin (week in progress) is kept.
    """
    _check_interval(interval)
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    if interval == "1h":
        out = df[list(COLUMNS)].resample(**_RESAMPLE[interval]).agg(agg)
        out = out[out["open"].notna()]
    else:
        days = session_dates(df.index, session_calendar(df.index))
        if interval == "1wk":
            days = days - pd.to_timedelta(np.asarray(days.day_of_week), unit="D")
        out = df[list(COLUMNS)].groupby(days).agg(agg)
    out.index = pd.DatetimeIndex(out.index, freq=None, name="time").as_unit("ns")
    return out.astype("float64")


def _bar_step(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """Smallest spacing of the bars (weekends and holidays only widen gaps); None for a single bar.

    Erring towards "finer" is harmless: resampling bars that already sit one per bin leaves them as they are.
    """
    if len(index) < 2:
        return None
    return pd.Timedelta(int(np.diff(index.asi8).min()), unit="ns")


def conform_interval(bars: pd.DataFrame, interval: str, *, what: str = "data") -> pd.DataFrame:
    """Return bars at `interval`: unchanged if already there, resampled if finer, DataError if coarser."""
    step = _bar_step(bars.index)
    span = BAR_SPAN[interval]
    if step is None or abs(step - span) <= span * 0.05:  # already at this interval (5 % slack for odd gaps)
        return bars
    if step < span:
        return resample_bars(bars, interval)
    usable = [iv for iv in INTERVALS if BAR_SPAN[iv] * 1.05 >= step]
    fix = (f"use --interval {' or '.join(usable)}" if usable else
           f"no interval here is that coarse (the app offers {', '.join(INTERVALS)}): provide weekly or finer data")
    raise DataError(f"{what} has bars every {_fmt_step(step)}, coarser than {interval}; {fix}")


def _fmt_step(step: pd.Timedelta) -> str:
    hours = step.total_seconds() / 3600
    return f"{hours:g} h" if hours < 24 else f"{hours / 24:g} d"


def parse_bound(value: Any, *, name: str, end: bool) -> pd.Timestamp | None:
    """start/end as UTC; an end given as a date (midnight) covers that whole day; bad or out-of-range -> DataError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    hint = (f"use a date like 2015-01-31 between {pd.Timestamp.min.date() + pd.Timedelta(days=1)} and "
            f"{pd.Timestamp.max.date() - pd.Timedelta(days=1)}")
    try:
        ts = as_utc(value)
        if ts is pd.NaT:
            raise ValueError("not a date")
        if end and ts == ts.normalize():
            ts = ts + pd.Timedelta(days=1) - pd.Timedelta(1, unit="ns")
    except (ValueError, TypeError, OverflowError) as exc:  # OutOfBoundsDatetime is a ValueError
        shown = _one_line(value)[:40]
        why = "is out of range" if _overflow(exc) else "is not a date"
        raise DataError(f"cannot read {name} date {shown!r}: it {why}; {hint}") from None
    return ts


def bar_at_or_before(index: pd.DatetimeIndex, at: Any, *, first: pd.Timestamp | None = None) -> int:
    """Position in `index` of the last bar at or before `at`, the one rule for `--at` (hrm explain, hrm
    diagnose, the pages): a date written without a time ("2017-06-01") covers its whole day; a time
    after the last bar's day or before `first` (default: the first bar) is a DataError in one line."""
    try:
        ts = as_utc(at)
        if ts is pd.NaT:
            raise ValueError("not a date")
    except (ValueError, TypeError, OverflowError):
        raise DataError(f"--at {_one_line(at)[:40]!r} is not a date or time; write e.g. 2017-06-01") from None
    shown = f"{ts:%Y-%m-%d %H:%M}"
    if isinstance(at, str) and len(at.strip()) <= 10:
        shown = f"{ts:%Y-%m-%d}"
        ts = ts.normalize() + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    if not len(index):
        raise DataError(f"no bars to pick {shown} from")
    first = index[0] if first is None else first
    last = index[-1]
    if ts.normalize() > last.normalize() + pd.Timedelta(days=1) - pd.Timedelta(1, "ns"):
        raise DataError(f"{shown} is after the data (last bar {last:%Y-%m-%d %H:%M}): pick an earlier time")
    pos = int(index.searchsorted(ts, side="right")) - 1
    if pos < 0 or index[pos] < first:
        raise DataError(f"{shown} is before the first complete window (first decision "
                        f"{first:%Y-%m-%d %H:%M}): pick a later time")
    return pos


def _overflow(exc: BaseException) -> bool:
    return isinstance(exc, (OverflowError, pd.errors.OutOfBoundsDatetime)) or "out of bounds" in str(exc).lower()


def as_utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def _check_interval(interval: str) -> str:
    if interval not in INTERVALS:
        raise DataError(f"unknown interval {interval!r}; use one of {', '.join(INTERVALS)}")
    return interval


def drop_unfinished(bars: pd.DataFrame, interval: str, now: pd.Timestamp) -> pd.DataFrame:
    """Drop a last bar whose period has not ended yet (a live download during the session).

    Its "close" is only the latest trade: a signal on it would be revised when the bar ends.
    Bars are labelled by their start, so a bar is finished once start + span <= now (for a
    daily bar that is midnight UTC after the session: conservative for US markets).
    """
    if len(bars) and bars.index[-1] + BAR_SPAN[interval] > now:
        return bars.iloc[:-1]
    return bars
