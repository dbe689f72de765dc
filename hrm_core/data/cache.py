"""SQLite cache of bars: WAL, busy timeout, one transaction per write, shared by dashboard, CLI and cron."""
from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import sqlite_utils

from hrm_core.data.bars import COLUMNS, as_utc, _one_line, empty_bars
from hrm_core.errors import CacheError

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

    def __init__(self, db_path: str | os.PathLike, *, timeout_s: float = 10.0):
        self.path = Path(db_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout_s  # one budget for the whole open: a lock is waited for once
        conn = sqlite3.connect(str(self.path), timeout=timeout_s)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self.db = sqlite_utils.Database(conn)
            self._enable_wal(deadline)
            self._create_tables()
        except BaseException:
            conn.close()  # a corrupt or locked file must not leak an open handle
            raise

    def _enable_wal(self, deadline: float) -> None:
        """Switch to WAL, retrying until `deadline`: the switch needs a moment alone with the file and SQLite
        does not apply the busy timeout to it, so two processes opening a new cache together can collide."""
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
        fetched_at = pd.Timestamp.now(tz="UTC") if fetched_at is None else as_utc(fetched_at)
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
        if row is None:
            return None
        try:
            ts = as_utc(row[0])
        except (ValueError, TypeError, OverflowError):
            ts = pd.NaT
        if ts is pd.NaT or not isinstance(row[0], str):
            raise ValueError(f"fetched_at of {symbol} {interval} is not a timestamp: {_one_line(row[0])[:40]!r}")
        return ts

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


class CacheLockedError(CacheError):
    """Another process held the cache longer than the busy timeout: skip it now, do not retry (or delete it)."""


def describe_cache_failure(what: str, path: Path, exc: BaseException) -> str:
    """One line saying what is wrong with a SQLite cache file and the fix that fits that failure.

    Deleting the file is advised only for a corrupt file in a writable folder: never for a
    locked file (another process is using it) or a read-only folder (deleting cannot work)."""
    text = _one_line(exc)[:200]
    low = text.lower()
    folder = path.parent
    elsewhere = "point data.cache_db to a writable folder"
    if "locked" in low or "busy" in low:
        return (f"{what} {path} is locked by another process ({text}); skipped it this time: try again when "
                "that process finishes")
    if isinstance(exc, (NotADirectoryError, FileExistsError)) or (folder.exists() and not folder.is_dir()):
        return f"{what} {path} cannot be created: {folder} is a file, not a folder; {elsewhere}"
    if "readonly" in low or "read-only" in low or isinstance(exc, PermissionError):
        return f"{what} {path} is read-only ({text}); results are not cached: make {folder} writable or {elsewhere}"
    if "unable to open" in low:
        return f"{what} {path} cannot be opened ({text}); make sure {folder} is a writable folder or {elsewhere}"
    fix = "delete the file to rebuild it, or " + elsewhere if os.access(folder, os.W_OK) else elsewhere
    if "not a database" in low or "malformed" in low or isinstance(exc, (ValueError, TypeError, OverflowError)):
        return f"{what} {path} is corrupt ({text}); {fix}"
    return f"{what} {path} is unusable ({text}); {fix}"


@contextlib.contextmanager
def cache_errors(db_path: Path) -> Iterator[None]:
    """Turn any failure of the cache file (SQLite, the file system, garbage in a row) into a CacheError
    that names the file and the fix: a broken cache is the user's to fix and never hides the data."""
    try:
        yield
    except (sqlite3.Error, OSError, ValueError, TypeError, OverflowError) as exc:
        message = describe_cache_failure("market-data cache", db_path, exc)
        kind = CacheLockedError if "is locked by another process" in message else CacheError
        raise kind(message) from exc
