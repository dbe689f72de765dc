"""Market data: yfinance -> SQLite cache -> bundled sample, and the validation every bar passes.

Bars contract (DESIGN.md "Data contracts"): a DataFrame with a tz-aware UTC
DatetimeIndex named `time` (nanosecond resolution), strictly increasing and unique, and
float64 columns `open, high, low, close, volume`. A bar's time is the *start* of its
period, as yfinance labels it: a daily bar is 00:00 UTC of the exchange date, a weekly
bar is the Monday of its week.

`load_bars` tries, in order: the SQLite cache if younger than `max_age_hours`, a
yfinance download (full history, stored in the cache), the cache however old, and the
bundled sample (daily; coarser intervals are resampled from it). The `LoadResult` says
which one served the bars so the UI can show "live", "cached, 3 h old" or "offline sample".

Set HRM_OFFLINE=1 to skip the network entirely (HRM_OFFLINE_TESTS=1, set by the test
suite's conftest, does the same so no test reaches Yahoo by accident).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import sqlite_utils

from hrm_core.errors import (
    CacheError,
    DataError,
    EmptyDataError,
    InsufficientDataError,
    InvalidBarsError,
    UnknownSymbolError,
)
from hrm_core.settings import Settings, load_settings

INTERVALS = ("1h", "1d", "1wk")
COLUMNS = ("open", "high", "low", "close", "volume")
PRICES = ("open", "high", "low", "close")
SOURCES = ("live", "cache", "stale-cache", "sample", "file")

# Relative slack for low <= open, close <= high: data vendors round O/H/L/C separately.
OHLC_REL_TOL = 1e-6
_SPAN = {"1h": pd.Timedelta(hours=1), "1d": pd.Timedelta(days=1), "1wk": pd.Timedelta(weeks=1)}
# pandas resample rules per target interval. Weekly bins run Monday 00:00 UTC to the next
# Monday and are labelled by their Monday, like Yahoo's own 1wk bars.
_RESAMPLE = {
    "1h": dict(rule="1h", label="left", closed="left"),
    "1d": dict(rule="1D", label="left", closed="left"),
    "1wk": dict(rule="W-MON", label="left", closed="left"),
}
_TIME_NAMES = ("time", "date", "datetime", "timestamp", "index", "")

# downloader(symbol, interval=..., start=..., end=...) -> raw yfinance-shaped frame; the network boundary.
Downloader = Callable[..., pd.DataFrame]


# --- validation --------------------------------------------------------------------------------

def empty_bars() -> pd.DataFrame:
    """A zero-row frame that satisfies the bars contract (for 'nothing cached' answers)."""
    index = pd.DatetimeIndex([], dtype="datetime64[ns, UTC]", name="time")
    return pd.DataFrame({c: pd.Series([], dtype="float64", index=index) for c in COLUMNS})


def _one_line(text: object) -> str:
    """Collapse whitespace so an error prints as a single line in the CLI and the UI."""
    return " ".join(str(text).split())


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
            f"{_label(symbol)}unparseable date {raw.iloc[pos]!r} in row {pos + 1} "
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
            f"(found: {', '.join(map(str, df.columns))}); add them (volume 0 if unknown)")
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
        raise InvalidBarsError(
            f"no date column: expected one of Date, Datetime, time, timestamp or a first index column "
            f"(found: {', '.join(df.columns)})")
    return df.rename(columns={time_col: "time"})


def _reverse_if_descending(df: pd.DataFrame) -> pd.DataFrame:
    """Vendors often export newest-first; a fully descending file is reversed, anything else is left to validation."""
    if len(df) > 1 and df.index.is_monotonic_decreasing and df.index.is_unique:
        return df.iloc[::-1]
    return df


def read_ohlcv_file(path: str | os.PathLike) -> pd.DataFrame:
    """Read a user's CSV or Parquet OHLCV file into validated bars; any failure is a DataError naming the file."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise DataError(f"{name}: file not found ({path})")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            raw = pd.read_parquet(path)
        else:
            raw = pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many types for a broken file; all mean "unreadable"
        raise DataError(f"{name}: cannot read as {'Parquet' if path.suffix.lower() in ('.parquet', '.pq') else 'CSV'}: "
                        f"{_one_line(exc)}") from exc
    try:
        df = normalise_columns(raw)
        if df.empty:
            return validate_bars(df, symbol=name)  # raises EmptyDataError naming the file
        times = _to_utc_index(df["time"], symbol=name)
        df = df.drop(columns="time").set_index(times)
        return validate_bars(_reverse_if_descending(df), symbol=name)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{name}: cannot parse: {_one_line(exc)}") from exc


# --- resampling --------------------------------------------------------------------------------

def resample_bars(df: pd.DataFrame, interval: str) -> pd.DataFrame:
    """Aggregate bars to a coarser interval: open first, high max, low min, close last, volume sum.

    Bins are UTC: 1h bins start on the hour, 1d bins at 00:00 UTC, 1wk bins on Monday 00:00
    UTC; each bin is labelled by its start (Yahoo's convention). Bins without bars are dropped;
    a partial last bin (week in progress) is kept.
    """
    _check_interval(interval)
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    out = df[list(COLUMNS)].resample(**_RESAMPLE[interval]).agg(agg)
    out = out[out["open"].notna()]
    out.index = pd.DatetimeIndex(out.index, freq=None, name="time")
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
    span = _SPAN[interval]
    if step is None or abs(step - span) <= span * 0.05:  # already at this interval (5 % slack for odd gaps)
        return bars
    if step < span:
        return resample_bars(bars, interval)
    raise DataError(
        f"{what} has bars every {_fmt_step(step)}, coarser than {interval}; "
        f"choose an interval of {_fmt_step(step)} or more, or provide finer data")


def _fmt_step(step: pd.Timedelta) -> str:
    hours = step.total_seconds() / 3600
    return f"{hours:g} h" if hours < 24 else f"{hours / 24:g} d"


# --- cache -------------------------------------------------------------------------------------

def _records(symbol: str, interval: str, bars: pd.DataFrame) -> Iterator[dict]:
    """Rows for the bars table; time as int64 nanoseconds since the epoch (UTC), exact both ways."""
    times = bars.index.as_unit("ns").asi8
    values = bars[list(COLUMNS)].to_numpy(dtype="float64")
    for t, row in zip(times, values):
        yield {"symbol": symbol, "interval": interval, "time": int(t),
               **{c: float(v) for c, v in zip(COLUMNS, row)}}


class BarCache:
    """SQLite cache of bars keyed (symbol, interval, time), with fetched_at per (symbol, interval).

    WAL mode and a busy timeout let several processes (dashboard, CLI, cron) share one file;
    each write is one IMMEDIATE transaction, so readers never see half a download and
    concurrent writers queue instead of failing.
    """

    def __init__(self, db_path: str | os.PathLike, *, timeout_s: float = 30.0):
        self.path = Path(db_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=timeout_s)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self.db = sqlite_utils.Database(conn)
            self._enable_wal(timeout_s)
            self._create_tables()
        except BaseException:
            conn.close()  # a corrupt or locked file must not leak an open handle
            raise

    def _enable_wal(self, timeout_s: float) -> None:
        """Switch to WAL, retrying: the switch needs a moment alone with the file and SQLite does not
        apply the busy timeout to it, so two processes opening a new cache together can collide."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.db.enable_wal()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _create_tables(self) -> None:
        """Create the schema once, under the write lock: two processes racing on CREATE TABLE would
        otherwise hit SQLITE_BUSY on a stale snapshot, which the busy timeout does not retry."""
        if {"bars", "series"} <= set(self.db.table_names()):
            return
        with self._transaction():
            self._create_tables_unlocked()

    def _create_tables_unlocked(self) -> None:
        self.db["bars"].create(
            {"symbol": str, "interval": str, "time": int,
             "open": float, "high": float, "low": float, "close": float, "volume": float},
            pk=("symbol", "interval", "time"), if_not_exists=True)
        self.db["series"].create(
            {"symbol": str, "interval": str, "fetched_at": str},
            pk=("symbol", "interval"), if_not_exists=True)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "BarCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE: take the write lock up front so the busy timeout applies (no upgrade deadlock)."""
        self.db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.conn.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                self.db.conn.execute("ROLLBACK")
            raise
        self.db.conn.execute("COMMIT")

    def write(self, symbol: str, interval: str, bars: pd.DataFrame, *,
              fetched_at: pd.Timestamp | None = None, replace: bool = False) -> int:
        """Upsert bars (or replace the whole series) and stamp fetched_at, all in one transaction; returns rows written.

        `replace=True` is what a download uses: Yahoo's adjusted history is rebased after each
        dividend or split, so mixing old and new rows would leave a seam.
        """
        fetched_at = pd.Timestamp.now(tz="UTC") if fetched_at is None else _as_utc(fetched_at)
        with self._transaction():
            if replace:
                self.db.execute('DELETE FROM bars WHERE symbol = ? AND "interval" = ?', [symbol, interval])
            self.db["bars"].upsert_all(_records(symbol, interval, bars), pk=("symbol", "interval", "time"))
            self.db["series"].upsert(
                {"symbol": symbol, "interval": interval, "fetched_at": fetched_at.isoformat()},
                pk=("symbol", "interval"))
        return len(bars)

    def read(self, symbol: str, interval: str) -> pd.DataFrame:
        """All cached bars of one series in contract form (empty frame if none)."""
        rows = self.db.execute(
            'SELECT time, open, high, low, close, volume FROM bars WHERE symbol = ? AND "interval" = ? ORDER BY time',
            [symbol, interval]).fetchall()
        if not rows:
            return empty_bars()
        arr = np.array(rows, dtype="float64")
        index = pd.DatetimeIndex(pd.to_datetime(np.array([r[0] for r in rows], dtype="int64"), unit="ns", utc=True),
                                 name="time")
        return pd.DataFrame(arr[:, 1:], index=index, columns=list(COLUMNS))

    def fetched_at(self, symbol: str, interval: str) -> pd.Timestamp | None:
        """When the series was last downloaded (UTC), or None if it is not cached."""
        row = self.db.execute('SELECT fetched_at FROM series WHERE symbol = ? AND "interval" = ?',
                              [symbol, interval]).fetchone()
        return pd.Timestamp(row[0]).tz_convert("UTC") if row else None

    def summary(self) -> pd.DataFrame:
        """One row per cached series: symbol, interval, first, last, rows, fetched_at."""
        rows = self.db.execute(
            'SELECT b.symbol, b."interval", MIN(b.time), MAX(b.time), COUNT(*), s.fetched_at FROM bars b '
            'LEFT JOIN series s ON s.symbol = b.symbol AND s."interval" = b."interval" '
            'GROUP BY b.symbol, b."interval" ORDER BY b.symbol, b."interval"').fetchall()
        out = pd.DataFrame(rows, columns=["symbol", "interval", "first", "last", "rows", "fetched_at"])
        for c in ("first", "last"):
            out[c] = pd.to_datetime(out[c].astype("int64"), unit="ns", utc=True)
        return out


@contextlib.contextmanager
def cache_errors(db_path: Path) -> Iterator[None]:
    """Turn SQLite failures into a CacheError that names the file: a broken cache is the user's to fix."""
    try:
        yield
    except sqlite3.Error as exc:
        raise CacheError(f"market-data cache {db_path} is unusable ({_one_line(exc)}); "
                         f"delete the file or point data.cache_db elsewhere") from exc


# --- bundled sample ----------------------------------------------------------------------------

def sample_index(settings: Settings) -> list[dict]:
    """Entries of data_cache/sample/index.json (symbol, file, interval, ...); [] if there is no sample."""
    index_path = settings.data.path("sample_dir") / "index.json"
    if not index_path.is_file():
        return []
    return list(json.loads(index_path.read_text())["series"])


def _sample_entry(symbol: str, settings: Settings) -> dict | None:
    return next((e for e in sample_index(settings) if e["symbol"].upper() == symbol), None)


def _read_sample(entry: dict, settings: Settings) -> pd.DataFrame:
    return read_ohlcv_file(settings.data.path("sample_dir") / entry["file"])


def _offline_summary(settings: Settings) -> str:
    """'^GSPC 1d (sample), AAPL 1h (cache)': what a user can load without the network."""
    table = list_available(settings)
    if table.empty:
        return "nothing (no sample, empty cache)"
    return ", ".join(f"{r.symbol} {r.interval} ({r.source})" for r in table.itertuples())


def list_available(settings: Settings | None = None) -> pd.DataFrame:
    """What can be loaded offline: columns symbol, interval, source ("sample"/"cache"), first, last, rows."""
    settings = settings or load_settings()
    rows = []
    for e in sample_index(settings):
        bars = _read_sample(e, settings)
        rows.append({"symbol": e["symbol"], "interval": e["interval"], "source": "sample",
                     "first": bars.index[0], "last": bars.index[-1], "rows": len(bars)})
    db_path = settings.data.path("cache_db")
    if db_path.is_file():  # listing must not create the cache file
        with cache_errors(db_path), BarCache(db_path) as cache:
            for r in cache.summary().itertuples():
                rows.append({"symbol": r.symbol, "interval": r.interval, "source": "cache",
                             "first": r.first, "last": r.last, "rows": int(r.rows)})
    return pd.DataFrame(rows, columns=["symbol", "interval", "source", "first", "last", "rows"])


# --- yfinance ----------------------------------------------------------------------------------

def offline() -> bool:
    """True when HRM_OFFLINE (or the test suite's HRM_OFFLINE_TESTS) asks us never to reach the network."""
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes")
               for k in ("HRM_OFFLINE", "HRM_OFFLINE_TESTS"))


def yfinance_download(symbol: str, *, interval: str = "1d", start: Any = None, end: Any = None) -> pd.DataFrame:
    """Download one symbol with yfinance; start/end None means the longest history Yahoo serves.

    yfinance returns an EMPTY frame when a download fails (unknown ticker, no network) and
    raises on other failures; the caller handles both. Its own error log is muted because
    load_bars reports the fallback itself.
    """
    import yfinance  # imported here: slow to import and only needed online

    period = {"period": "max"} if start is None and end is None else {}
    log = logging.getLogger("yfinance")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="yfinance")  # its pandas deprecation noise is not the user's
            return yfinance.download(symbol, start=start, end=end, interval=interval, auto_adjust=True,
                                     progress=False, multi_level_index=False, threads=False, **period)
    finally:
        log.setLevel(level)


def normalise_download(raw: pd.DataFrame | None, *, symbol: str = "") -> pd.DataFrame:
    """yfinance frame -> contract bars: lower-case columns, UTC index, duplicate/NaN rows dropped, then validated.

    Yahoo's adjusted O/H/L/C are rounded separately, so open/close can sit a hair outside
    [low, high]; high/low are widened to cover them when the gap is under 0.5 %.
    """
    if raw is None or len(raw) == 0:
        return empty_bars()
    df = raw.copy()
    if isinstance(df.columns, pd.MultiIndex):  # multi_level_index=False was ignored (several tickers)
        df.columns = df.columns.get_level_values(0)
    df = normalise_columns(df)
    index = _to_utc_index(df["time"], symbol=symbol)
    df = df.drop(columns="time").set_index(index)
    df = df[~df.index.duplicated(keep="last")].sort_index()
    df = df.dropna(subset=[c for c in PRICES if c in df.columns])
    if df.empty:
        return empty_bars()
    if "volume" in df.columns:
        df["volume"] = df["volume"].fillna(0.0)
    df = _reconcile_ohlc(df)
    return validate_bars(df, symbol=symbol)


def _reconcile_ohlc(df: pd.DataFrame, rel_gap: float = 0.005) -> pd.DataFrame:
    """Widen high/low to contain open/close where a vendor rounding gap is small (< rel_gap)."""
    if not set(PRICES) <= set(df.columns):
        return df
    df = df.copy()
    top = df[["open", "close"]].max(axis=1)
    bottom = df[["open", "close"]].min(axis=1)
    fix_high = (top > df["high"]) & (top <= df["high"] * (1 + rel_gap))
    fix_low = (bottom < df["low"]) & (bottom >= df["low"] * (1 - rel_gap))
    df.loc[fix_high, "high"] = top[fix_high]
    df.loc[fix_low, "low"] = bottom[fix_low]
    return df


# --- loading -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadResult:
    """Bars plus where they came from; `fetched_at` is the download time (None for sample and file)."""

    bars: pd.DataFrame
    symbol: str
    interval: str
    source: str  # "live" | "cache" | "stale-cache" | "sample" | "file"
    fetched_at: pd.Timestamp | None
    note: str = ""  # why a fallback happened ("download failed: ConnectionError ..."), or the file read

    def age(self, now: pd.Timestamp | None = None) -> pd.Timedelta | None:
        """Time since the download, or None when the bars were not downloaded."""
        if self.fetched_at is None:
            return None
        now = pd.Timestamp.now(tz="UTC") if now is None else _as_utc(now)
        return now - self.fetched_at

    def badge(self, now: pd.Timestamp | None = None) -> str:
        """Short text for the UI: 'live', 'cached, 3 h old', 'stale cache, 2 d old (offline)', 'offline sample'."""
        age = self.age(now)
        if self.source == "live":
            return "live"
        if self.source == "cache":
            return f"cached, {_fmt_age(age)}"
        if self.source == "stale-cache":
            return f"stale cache, {_fmt_age(age)} (offline)"
        if self.source == "sample":
            return "offline sample"
        if self.source == "file":
            return f"file: {Path(self.note).name if self.note else self.symbol}"
        return self.source


def _fmt_age(age: pd.Timedelta | None) -> str:
    if age is None:
        return "age unknown"
    hours = max(age.total_seconds(), 0.0) / 3600
    if hours < 1:
        return f"{hours * 60:.0f} min old"
    if hours < 48:
        return f"{hours:.0f} h old"
    return f"{hours / 24:.0f} d old"


def _as_utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def _check_interval(interval: str) -> str:
    if interval not in INTERVALS:
        raise DataError(f"unknown interval {interval!r}; use one of {', '.join(INTERVALS)}")
    return interval


def _parse_bound(value: Any, *, name: str, end: bool) -> pd.Timestamp | None:
    """start/end as UTC; an end given as a date (midnight) covers that whole day."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        ts = _as_utc(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"cannot read {name} date {value!r}; use a date like 2015-01-31") from exc
    if ts is pd.NaT:
        raise DataError(f"cannot read {name} date {value!r}; use a date like 2015-01-31")
    if end and ts == ts.normalize():
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(1, unit="ns")
    return ts


def select_range(bars: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None, *,
                 what: str) -> pd.DataFrame:
    """Bars with start <= time <= end; EmptyDataError naming the available range if none remain."""
    out = bars
    if start is not None:
        out = out[out.index >= start]
    if end is not None:
        out = out[out.index <= end]
    if out.empty:
        have = f"{_fmt_time(bars.index[0])} .. {_fmt_time(bars.index[-1])}" if len(bars) else "no bars"
        want = f"{_fmt_time(start) if start is not None else '...'} .. {_fmt_time(end) if end is not None else '...'}"
        raise EmptyDataError(f"{what}: no bars between {want}; available: {have}")
    return out


def _load_file(path: str | os.PathLike, symbol: str, interval: str,
               start: pd.Timestamp | None, end: pd.Timestamp | None) -> LoadResult:
    name = Path(path).name
    bars = conform_interval(read_ohlcv_file(path), interval, what=name)
    bars = select_range(bars, start, end, what=name)
    return LoadResult(bars, symbol or name, interval, "file", None, str(path))


def load_bars(symbol: str, interval: str = "1d", start: Any = None, end: Any = None, *,
              path: str | os.PathLike | None = None, settings: Settings | None = None,
              downloader: Downloader | None = None) -> LoadResult:
    """Bars for (symbol, interval) between start and end (inclusive), from the best source available.

    Order: fresh cache -> yfinance (full history, replaces the cached series) -> stale cache ->
    bundled sample (resampled to coarser intervals). `path=` reads a user's CSV/Parquet file
    instead. `downloader` replaces yfinance (tests, other vendors); its frame is validated.
    """
    settings = settings or load_settings()
    interval = _check_interval(interval)
    start_ts = _parse_bound(start, name="start", end=False)
    end_ts = _parse_bound(end, name="end", end=True)
    if start_ts is not None and end_ts is not None and start_ts > end_ts:
        raise DataError(f"start {start} is after end {end}")
    if path is not None:
        return _load_file(path, symbol, interval, start_ts, end_ts)
    symbol = symbol.strip().upper()  # Yahoo tickers are case-insensitive; yfinance upper-cases them too
    if not symbol:
        raise DataError("no symbol given; pass a ticker such as ^GSPC or a file path")
    what = f"{symbol} {interval}"
    db_path = settings.data.path("cache_db")
    with cache_errors(db_path):
        return _load_cached_or_live(symbol, interval, start_ts, end_ts, db_path, settings, downloader, what)


def _load_cached_or_live(symbol: str, interval: str, start_ts: pd.Timestamp | None, end_ts: pd.Timestamp | None,
                         db_path: Path, settings: Settings, downloader: Downloader | None,
                         what: str) -> LoadResult:
    """The cache/yfinance part of load_bars; falls through to the sample when both come up empty."""
    now = pd.Timestamp.now(tz="UTC")
    with BarCache(db_path) as cache:
        fetched = cache.fetched_at(symbol, interval)
        if fetched is not None and now - fetched <= pd.Timedelta(hours=settings.data.max_age_hours):
            return LoadResult(select_range(cache.read(symbol, interval), start_ts, end_ts, what=what),
                              symbol, interval, "cache", fetched)
        bars, note = _try_download(symbol, interval, downloader)
        if not bars.empty:
            cache.write(symbol, interval, bars, fetched_at=now, replace=True)
            return LoadResult(select_range(bars, start_ts, end_ts, what=what), symbol, interval, "live", now)
        if fetched is not None:
            return LoadResult(select_range(cache.read(symbol, interval), start_ts, end_ts, what=what),
                              symbol, interval, "stale-cache", fetched, note)
    return _load_sample(symbol, interval, start_ts, end_ts, settings, note)


def _try_download(symbol: str, interval: str, downloader: Downloader | None) -> tuple[pd.DataFrame, str]:
    """Call the network boundary; (bars, "") on success, (empty, why) when it gave nothing usable."""
    if downloader is None:
        if offline():
            return empty_bars(), "offline mode (HRM_OFFLINE set)"
        downloader = yfinance_download
    try:
        raw = downloader(symbol, interval=interval, start=None, end=None)
    except Exception as exc:  # any failure at the boundary means "fall back", never a crash
        return empty_bars(), f"download failed: {type(exc).__name__}: {_one_line(exc)}"
    try:
        bars = normalise_download(raw, symbol=symbol)
    except DataError as exc:
        return empty_bars(), f"download rejected: {exc}"
    return bars, "" if not bars.empty else "the download returned no data (unknown ticker, or no network)"


def _load_sample(symbol: str, interval: str, start: pd.Timestamp | None, end: pd.Timestamp | None,
                 settings: Settings, note: str) -> LoadResult:
    """Last resort: the bundled sample, resampled if the interval is coarser than its own."""
    entry = _sample_entry(symbol, settings)
    if entry is None:
        raise UnknownSymbolError(
            f"unknown symbol {symbol!r}: {note or 'no source has it'}; it is not in the cache or the bundled "
            f"sample. Available offline: {_offline_summary(settings)}. Check the Yahoo ticker (indices start "
            f"with ^, e.g. ^GSPC)")
    if INTERVALS.index(interval) < INTERVALS.index(entry["interval"]):
        raise DataError(
            f"{symbol} {interval} bars are not available offline: the bundled sample has {entry['interval']} "
            f"bars only and yfinance gave nothing ({note}). Use --interval {entry['interval']} or coarser, "
            f"connect to the network, or pass your own file with --csv")
    bars = _read_sample(entry, settings)
    if interval != entry["interval"]:
        bars = resample_bars(bars, interval)
    what = f"{symbol} {interval} (offline sample)"
    return LoadResult(select_range(bars, start, end, what=what), symbol, interval, "sample", None, note)
