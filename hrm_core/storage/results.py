"""A best-effort SQLite store of computed results (JSON) keyed like the signal table.

It is an optimisation: any failure (corrupt, locked, read-only file) is logged and
reported as a miss, never raised, so a result can always be shown.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from hrm_core.storage.sqlite_tx import immediate

log = logging.getLogger("hrm.store")


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
        return conn

    def _failed(self, what: str, exc: Exception) -> None:
        self.warning = f"result cache {self.path} could not {what} ({exc}); computed without it"
        log.warning(self.warning)

    def get(self, kind: str, key: str) -> Any | None:
        try:
            conn = self._connect()
            try:
                row = conn.execute("SELECT payload FROM results WHERE kind=? AND key=?", (kind, key)).fetchone()
            finally:
                conn.close()
            return None if row is None else json.loads(row[0])
        except (sqlite3.Error, OSError, ValueError) as exc:
            self._failed("be read", exc)
            return None

    def put(self, kind: str, key: str, payload: Any) -> bool:
        try:
            text = json.dumps(payload, allow_nan=True, default=str)
            conn = self._connect()
            try:
                with immediate(conn):
                    conn.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)",
                                 (kind, key, dt.datetime.now(dt.timezone.utc).isoformat(), text))
            finally:
                conn.close()
            return True
        except (sqlite3.Error, OSError, TypeError, ValueError) as exc:
            self._failed("be written", exc)
            return False
