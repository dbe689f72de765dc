"""A best-effort SQLite store of computed results keyed like the signal table: JSON payloads (`get`/`put`) and
Python objects (`get_object`/`put_object`, pickled: a page's whole result, e.g. a backtest with its intervals).

It is an optimisation: any failure (corrupt, locked, read-only file, an object that no longer unpickles) is
logged and reported as a miss, never raised, so a result can always be computed and shown. The objects are
pickles this application wrote into its own cache folder (data_cache/results.db); like the code itself, that
folder must not be writable by anyone you do not trust.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import pickle
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hrm_core.runtime import code_fingerprint, single_flight
from hrm_core.storage.sqlite_tx import immediate

log = logging.getLogger("hrm.store")
KEEP_OBJECTS = 32  # per kind, newest first: every code edit makes new keys, so old objects are dropped, not kept


def results_db_path(settings) -> Path:
    """`results.db` in the folder of the market-data cache (data_cache/ by default; gitignored)."""
    return settings.data.path("cache_db").parent / "results.db"


class ResultStore:
    """get/put JSON payloads under (kind, key); one BEGIN IMMEDIATE transaction per write."""

    def __init__(self, path: str | Path, *, timeout_s: float = 5.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.warning: str | None = None  # the last failure, for a UI note

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        conn.execute("CREATE TABLE IF NOT EXISTS results (kind TEXT NOT NULL, key TEXT NOT NULL, "
                     "created_at TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (kind, key))")
        conn.execute("CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, key TEXT NOT NULL, "
                     "created_at TEXT NOT NULL, payload BLOB NOT NULL, PRIMARY KEY (kind, key))")
        return conn

    def _failed(self, what: str, exc: Exception) -> None:
        self.warning = f"result cache {self.path} could not {what} ({exc}); computed without it"
        log.warning(self.warning)

    def _read(self, table: str, kind: str, key: str, decode: Callable[[Any], Any]) -> Any | None:
        try:
            conn = self._connect()
            try:
                row = conn.execute(f"SELECT payload FROM {table} WHERE kind=? AND key=?", (kind, key)).fetchone()
            finally:
                conn.close()
            return None if row is None else decode(row[0])
        except Exception as exc:  # noqa: BLE001  (a broken file or payload, or one that no longer unpickles: a miss)
            self._failed("be read", exc)
            return None

    def _write(self, table: str, kind: str, key: str, payload: Any, keep: int | None = None) -> bool:
        """One transaction: the row, then (keep) only the newest `keep` rows of this kind."""
        try:
            conn = self._connect()
            try:
                with immediate(conn):
                    conn.execute(f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?, ?)",
                                 (kind, key, dt.datetime.now(dt.timezone.utc).isoformat(), payload))
                    if keep is not None:
                        conn.execute(f"DELETE FROM {table} WHERE kind = ? AND key NOT IN (SELECT key FROM {table} "
                                     "WHERE kind = ? ORDER BY created_at DESC LIMIT ?)", (kind, kind, keep))
            finally:
                conn.close()
            return True
        except (sqlite3.Error, OSError) as exc:
            self._failed("be written", exc)
            return False

    def get(self, kind: str, key: str) -> Any | None:
        return self._read("results", kind, key, json.loads)

    def put(self, kind: str, key: str, payload: Any) -> bool:
        try:
            text = json.dumps(payload, allow_nan=True, default=str)
        except (TypeError, ValueError) as exc:
            self._failed("be written", exc)
            return False
        return self._write("results", kind, key, text)

    def get_object(self, kind: str, key: str) -> Any | None:
        return self._read("objects", kind, key, pickle.loads)

    def put_object(self, kind: str, key: str, value: Any) -> bool:
        try:
            blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            self._failed("be written", exc)
            return False
        return self._write("objects", kind, key, blob, keep=KEEP_OBJECTS)


def files_digest(*paths: str | Path) -> str:
    """sha256 of the files' bytes, in order: equal digests mean equal contents. A missing file digests as such
    (by its path), so a result keyed on it is never reused once the file appears."""
    h = hashlib.sha256()
    for path in paths:
        try:
            h.update(Path(path).read_bytes())
        except OSError:
            h.update(b"missing:" + str(path).encode())
    return h.hexdigest()[:24]


def object_key(parts: Any) -> str:
    """A stable key for JSON-able `parts` plus the code's fingerprint: results of other code are never reused."""
    text = json.dumps([code_fingerprint(), parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def remember(store: ResultStore | None, kind: str, parts: Any, compute: Callable[[], Any]) -> tuple[Any, bool]:
    """(value, stored): the stored object of (kind, parts) or, on a miss, compute() once however many threads ask
    at once (single flight: the others wait, then read what it stored). `store` None: compute, keep nothing."""
    if store is None:
        return compute(), False
    key = object_key(parts)
    hit = store.get_object(kind, key)
    if hit is not None:
        return hit, True
    with single_flight(("object", str(store.path), kind, key)):
        hit = store.get_object(kind, key)
        if hit is not None:
            return hit, True
        value = compute()
        store.put_object(kind, key, value)
        return value, False
