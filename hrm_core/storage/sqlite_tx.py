"""One `BEGIN IMMEDIATE ... COMMIT` helper for every SQLite writer (signal cache, result store, ledger).

IMMEDIATE takes the write lock up front, so the busy timeout applies at BEGIN and no other
writer can slip in between a read and the write that depends on it. On any exception the
transaction is rolled back (only if one is still open: SQLite may already have rolled it
back itself, e.g. after a disk-full or I/O error) and the exception propagates.
"""
from __future__ import annotations

import contextlib
import sqlite3
from typing import Iterator


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT on `conn` (opened with isolation_level=None); yields `conn`."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


__all__ = ["immediate"]
