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

import json
import logging
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from hrm_core.data.bars import (  # noqa: F401  (re-exported: the data layer's public API)
    INTERVALS, PRICES, as_utc, _check_interval, _fmt_time, _one_line, _to_utc_index,
    conform_interval, drop_unfinished, empty_bars, normalise_columns, parse_bound, read_ohlcv_file, resample_bars,
    validate_bars,
)
from hrm_core.data.cache import BarCache, CacheLockedError, cache_errors
from hrm_core.data.quality import missing_opens_note
from hrm_core.errors import CacheError, DataError, EmptyDataError, UnknownSymbolError
from hrm_core.settings import Settings, load_settings

SOURCES = ("live", "cache", "stale-cache", "sample", "file")

# downloader(symbol, interval=..., start=..., end=...) -> raw yfinance-shaped frame; the network boundary.
Downloader = Callable[..., pd.DataFrame]


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
    """What can be loaded offline: columns symbol, interval, source ("sample"/"cache"), first, last, rows.

    An unreadable cache is skipped: the sample is still listed and `table.attrs["note"]` says why."""
    settings = settings or load_settings()
    rows = []
    for e in sample_index(settings):
        bars = _read_sample(e, settings)
        rows.append({"symbol": e["symbol"], "interval": e["interval"], "source": "sample",
                     "first": bars.index[0], "last": bars.index[-1], "rows": len(bars)})
    note = ""
    db_path = settings.data.path("cache_db")
    if db_path.is_file():  # listing must not create the cache file
        try:
            with cache_errors(db_path), BarCache(db_path, timeout_s=settings.data.cache_timeout_s) as cache:
                summary = cache.summary()
        except CacheError as exc:  # a broken cache must not hide the bundled sample
            note = str(exc)
        else:
            rows += [{"symbol": r.symbol, "interval": r.interval, "source": "cache", "first": r.first,
                      "last": r.last, "rows": int(r.rows)} for r in summary.itertuples()]
    table = pd.DataFrame(rows, columns=["symbol", "interval", "source", "first", "last", "rows"])
    table.attrs["note"] = note  # why cached series may be missing from the list ("" when none)
    return table


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
    problems: tuple[str, ...] = ()  # what the user should fix: a broken, locked or unwritable cache (also in note)

    @property
    def quality_note(self) -> str | None:
        """Data artefacts the bars carry without being invalid (hrm_core.data.quality), or None."""
        return missing_opens_note(self.bars)

    def age(self, now: pd.Timestamp | None = None) -> pd.Timedelta | None:
        """Time since the download, or None when the bars were not downloaded."""
        if self.fetched_at is None:
            return None
        now = pd.Timestamp.now(tz="UTC") if now is None else as_utc(now)
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
              downloader: Downloader | None = None, refresh: bool = False) -> LoadResult:
    """Bars for (symbol, interval) between start and end (inclusive), from the best source available.

    Order: fresh cache -> yfinance (full history, replaces the cached series) -> stale cache ->
    bundled sample (resampled to coarser intervals). `path=` reads a user's CSV/Parquet file
    instead. `downloader` replaces yfinance (tests, other vendors); its frame is validated.
    `refresh=True` skips the fresh-cache shortcut (live trading, when the calendar says a bar the
    cache lacks has completed); without the network the cache still serves, marked as stale.
    """
    settings = settings or load_settings()
    interval = _check_interval(interval)
    start_ts = parse_bound(start, name="start", end=False)
    end_ts = parse_bound(end, name="end", end=True)
    if start_ts is not None and end_ts is not None and start_ts > end_ts:
        raise DataError(f"start {start} is after end {end}")
    if path is not None:
        return _load_file(path, symbol, interval, start_ts, end_ts)
    symbol = symbol.strip().upper()  # Yahoo tickers are case-insensitive; yfinance upper-cases them too
    if not symbol:
        raise DataError("no symbol given; pass a ticker such as ^GSPC or a file path")
    what = f"{symbol} {interval}"
    return _load_cached_or_live(symbol, interval, start_ts, end_ts, settings.data.path("cache_db"), settings,
                                downloader, what, refresh)


def _load_cached_or_live(symbol: str, interval: str, start_ts: pd.Timestamp | None, end_ts: pd.Timestamp | None,
                         db_path: Path, settings: Settings, downloader: Downloader | None,
                         what: str, refresh: bool = False) -> LoadResult:
    """The cache/yfinance part of load_bars; falls through to the sample when both come up empty.

    A broken, locked or read-only cache never blocks the data: it is skipped (or a download is
    served uncached) and the LoadResult's note and `problems` say why, so the user can fix the file.
    Cached bars are validated like a download (NULL closes, negative lows: skipped), and a lock
    is waited for once (`cache_timeout_s`): after a locked read no write is attempted.
    """
    now = pd.Timestamp.now(tz="UTC")
    notes: list[str] = []
    timeout = settings.data.cache_timeout_s
    cached, fetched, locked = None, None, False
    try:
        with cache_errors(db_path), BarCache(db_path, timeout_s=timeout) as cache:
            fetched = cache.fetched_at(symbol, interval)
            if fetched is not None:
                cached = _valid_cached(cache.read(symbol, interval), symbol, interval, db_path, notes)
    except CacheLockedError as exc:
        locked = True  # waiting again to write would pay the busy timeout twice
        notes.append(str(exc))
    except CacheError as exc:
        notes.append(str(exc))
    problems = tuple(notes)  # so far only cache trouble: what the user should fix
    if cached is not None and not refresh and now - fetched <= pd.Timedelta(hours=settings.data.max_age_hours):
        return LoadResult(select_range(cached, start_ts, end_ts, what=what), symbol, interval, "cache", fetched)
    bars, why = _try_download(symbol, interval, downloader)
    bars = drop_unfinished(bars, interval, now)
    if not bars.empty:
        if locked:
            notes.append("served without caching (the cache is locked)")
        else:
            try:
                with cache_errors(db_path), BarCache(db_path, timeout_s=timeout) as cache:
                    cache.write(symbol, interval, bars, fetched_at=now, replace=True)
            except CacheError as exc:
                notes.append(f"served without caching: {exc}")
                problems += (notes[-1],)
        return LoadResult(select_range(bars, start_ts, end_ts, what=what), symbol, interval, "live", now,
                          "; ".join(notes), problems)
    notes.insert(0, why)
    if cached is not None:
        return LoadResult(select_range(cached, start_ts, end_ts, what=what), symbol, interval, "stale-cache",
                          fetched, "; ".join(notes), problems)
    res = _load_sample(symbol, interval, start_ts, end_ts, settings, "; ".join(n for n in notes if n))
    return replace(res, problems=problems)


def _valid_cached(bars: pd.DataFrame, symbol: str, interval: str, db_path: Path,
                  notes: list[str]) -> pd.DataFrame | None:
    """Cached bars checked like any other source; invalid ones (NULL closes, negative lows) are skipped with a note."""
    try:
        return validate_bars(bars, symbol=f"{symbol} {interval} in {db_path.name}")
    except DataError as exc:
        notes.append(f"market-data cache {db_path} holds invalid bars ({exc}); ignored them: a fresh download "
                     "replaces them")
        return None


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
