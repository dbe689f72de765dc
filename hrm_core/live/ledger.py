"""The paper-trading ledger: one SQLite file holding what live trading saw, decided and did.

A *book* is one (symbol, interval, model id) traded with fixed risk and cost settings. Per
book and bar (keyed by the bar's start time in ns) it records:

- `bars`       the bar as seen (OHLCV), the data source, when it was fetched, its age;
- `decisions`  the signal (action, raw position, probabilities, confidence, value, ACT
               steps, status), the model's unscaled input features of that bar (JSON, for
               drift monitoring), the risk layer's target, the mode (live / replay) and the
               step latency split into load / signal / risk+fill;
- `positions`  held position, asset return, gross return, turnover, cost, net return, equity;
- `orders`, `fills`  one row per bar that trades (paper fills are immediate and complete);
- `events`     what the live loop wants a person to know (no network, retries, fallbacks);
- `health_checks`  each recorded `hrm health` verdict (the alert history);
- `missed`     bars the live process did not decide because it was down when they closed
               (live mode never back-fills them at historical prices: hrm_core.live.trader).

Writes of one bar happen in ONE `BEGIN IMMEDIATE` transaction (`Ledger.bar_transaction`):
a crash leaves either the whole bar or none of it, and two writers serialise on the file
lock, so a bar is never written twice (primary keys) nor half.

Errors: any SQLite failure (a ledger locked past the busy timeout, a corrupt or foreign file)
surfaces as a one-line `LedgerError` naming the file, never a raw sqlite3 error, so the live
loop reports it and retries. The read verbs (`hrm reconcile`, `hrm health`, the pages) open
the file READ-ONLY (`Ledger(path, create=False)`): no schema, no WAL pragma, nothing written,
and a file that is not a ledger (e.g. the signal cache) is refused in one line.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from hrm_core.errors import HRMError
from hrm_core.settings import CostSettings, RiskSettings
from hrm_core.storage.sqlite_tx import immediate

SCHEMA = """
CREATE TABLE IF NOT EXISTS books (
    book_id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol TEXT NOT NULL, interval TEXT NOT NULL, model_id TEXT NOT NULL, model_path TEXT NOT NULL,
    csv TEXT, risk TEXT NOT NULL, costs TEXT NOT NULL, periods_per_year REAL NOT NULL,
    created_at TEXT NOT NULL, UNIQUE (symbol, interval, model_id));
CREATE TABLE IF NOT EXISTS bars (
    book_id INTEGER NOT NULL, t INTEGER NOT NULL,
    open REAL, high REAL, low REAL, close REAL NOT NULL, volume REAL,
    source TEXT NOT NULL, fetched_at TEXT, data_age_s REAL,
    PRIMARY KEY (book_id, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decisions (
    book_id INTEGER NOT NULL, t INTEGER NOT NULL, mode TEXT NOT NULL, decided_at TEXT NOT NULL,
    action TEXT NOT NULL, raw_position REAL NOT NULL, quantity REAL, p_short REAL, p_flat REAL, p_long REAL,
    confidence REAL, value REAL, steps INTEGER NOT NULL, status TEXT NOT NULL, features TEXT,
    target REAL NOT NULL, brake_active INTEGER NOT NULL,
    load_ms REAL, signal_ms REAL, risk_fill_ms REAL, latency_ms REAL NOT NULL,
    PRIMARY KEY (book_id, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions (
    book_id INTEGER NOT NULL, t INTEGER NOT NULL,
    held REAL NOT NULL, target REAL NOT NULL, asset_return REAL NOT NULL, gross_return REAL NOT NULL,
    turnover REAL NOT NULL, cost REAL NOT NULL, net_return REAL NOT NULL, equity REAL NOT NULL,
    PRIMARY KEY (book_id, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS orders (
    book_id INTEGER NOT NULL, t INTEGER NOT NULL, side TEXT NOT NULL,
    from_weight REAL NOT NULL, to_weight REAL NOT NULL, quantity REAL NOT NULL,
    PRIMARY KEY (book_id, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fills (
    book_id INTEGER NOT NULL, t INTEGER NOT NULL, side TEXT NOT NULL, price REAL NOT NULL,
    quantity REAL NOT NULL, cost REAL NOT NULL,
    PRIMARY KEY (book_id, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, book_id INTEGER,
    level TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS health_checks (
    check_id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, book_id INTEGER,
    status TEXT NOT NULL, reasons TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS missed (
    book_id INTEGER NOT NULL, t INTEGER NOT NULL, noted_at TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (book_id, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heartbeats (
    book_id INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (book_id, at)) WITHOUT ROWID;
"""
TABLES = ("books", "bars", "decisions", "positions", "orders", "fills", "events", "health_checks")  # `missed`
# and `heartbeats` are newer: a ledger written before them lacks them and still reads (both read as empty)
DB_ERRORS = (sqlite3.Error, pd.errors.DatabaseError)  # pandas wraps sqlite3 errors in read_sql_query


class LedgerError(HRMError):
    """The ledger file cannot be opened or read, or holds no book matching the request."""


@contextlib.contextmanager
def db_errors(path: Path, what: str) -> Iterator[None]:
    """Any SQLite error inside becomes a one-line LedgerError naming the file and what was being done."""
    try:
        yield
    except DB_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "locked" in reason or "busy" in reason:
            hint = "another process holds the ledger's write lock; retry later"
        elif "not a database" in reason or "malformed" in reason:
            hint = "the file is not a readable SQLite ledger; move it away to start a new one"
        else:
            hint = "move the file away to start a new one if this persists"
        raise LedgerError(f"cannot {what} the ledger {path}: {reason} ({hint})") from exc


def utc_now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def ns(t: pd.Timestamp) -> int:
    """A bar time as int nanoseconds since the epoch (the ledger's key)."""
    return int(pd.Timestamp(t).as_unit("ns").value)


def from_ns(values) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(values, dtype="int64").to_numpy(), unit="ns", utc=True),
                            name="time")


@dataclass(frozen=True)
class Book:
    book_id: int
    symbol: str
    interval: str
    model_id: str
    model_path: str
    csv: str | None
    risk: RiskSettings
    costs: CostSettings
    periods_per_year: float  # annualisation fixed when the book opened (the risk layer's vol target uses it)

    @property
    def label(self) -> str:
        return f"{self.symbol} {self.interval} {self.model_id}"


class Ledger:
    """One ledger file; cheap to open (the pages open one per run)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 60.0, create: bool = True):
        """create=True: open for writing (WAL, schema created if missing). create=False: the read verbs;
        the file must exist and be a ledger, and is opened read-only (nothing is written to it)."""
        self.path = Path(path)
        self.read_only = not create
        if not create and not self.path.is_file():
            raise LedgerError(f"no ledger at {self.path}: fill one with `hrm live --replay START END --db "
                              f"{self.path}` or `hrm live --once`")
        try:
            if self.read_only:
                self.conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout_s,
                                            isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(f"cannot open the ledger {self.path}: {exc}; move the file away to start a new one") \
                from exc
        try:
            with db_errors(self.path, "open"):
                if self.read_only:
                    have = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                    missing = [t for t in TABLES if t not in have]
                    if missing:
                        raise LedgerError(f"{self.path} is not a paper-trading ledger (no {', '.join(missing)} "
                                          "table): pass the ledger written by `hrm live` (default "
                                          "data_cache/live.db) with --db")
                else:
                    self.conn.execute("PRAGMA journal_mode=WAL")
                    self.conn.execute("PRAGMA synchronous=FULL")  # a committed bar survives a power cut
                    self.conn.executescript(SCHEMA)
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- transactions

    @contextlib.contextmanager
    def bar_transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT (hrm_core.storage.sqlite_tx.immediate): takes the write lock first, so
        read-then-write is atomic across processes. SQLite errors (a lock held past the busy timeout,
        a full disk) surface as LedgerError; the transaction is rolled back if still open."""
        with db_errors(self.path, "write to"), immediate(self.conn) as conn:
            yield conn

    # ----------------------------------------------------------------- books

    def open_book(self, *, symbol: str, interval: str, model_id: str, model_path: str, csv: str | None,
                  risk: RiskSettings, costs: CostSettings, periods_per_year: float) -> Book:
        """The book for (symbol, interval, model id), created on first use; settings must match the stored ones."""
        with self.bar_transaction() as c:
            c.execute("INSERT OR IGNORE INTO books (symbol, interval, model_id, model_path, csv, risk, costs, "
                      "periods_per_year, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (symbol, interval, model_id, model_path, csv, json.dumps(asdict(risk)),
                       json.dumps(asdict(costs)), float(periods_per_year), utc_now().isoformat()))
        book = self.find_book(symbol=symbol, interval=interval, model_id=model_id)
        if book.risk != risk or book.costs != costs:
            raise LedgerError(
                f"{self.path} trades {book.label} with risk {asdict(book.risk)} and costs {asdict(book.costs)}, "
                f"not the settings in force ({asdict(risk)}, {asdict(costs)}): a book keeps its settings so its "
                "equity stays comparable; use another --db for new settings")
        return book

    def books(self) -> list[Book]:
        with db_errors(self.path, "read"):
            rows = self.conn.execute("SELECT book_id, symbol, interval, model_id, model_path, csv, risk, costs, "
                                     "periods_per_year FROM books ORDER BY book_id").fetchall()
        return [Book(r[0], r[1], r[2], r[3], r[4], r[5], RiskSettings(**json.loads(r[6])),
                     CostSettings(**json.loads(r[7])), float(r[8])) for r in rows]

    def find_book(self, *, symbol: str | None = None, interval: str | None = None,
                  model_id: str | None = None) -> Book:
        """The one book matching the filters (None = any); LedgerError if none or several match."""
        hits = [b for b in self.books() if (symbol is None or b.symbol == symbol)
                and (interval is None or b.interval == interval) and (model_id is None or b.model_id == model_id)]
        if not hits:
            raise LedgerError(f"the ledger {self.path} has no book for "
                              f"{symbol or 'any symbol'} {interval or ''}: run `hrm live` first")
        if len(hits) > 1:
            raise LedgerError(f"the ledger {self.path} holds {len(hits)} books ({', '.join(b.label for b in hits)}): "
                              "pick one with --symbol and --interval")
        return hits[0]

    # ----------------------------------------------------------------- reading

    def last_bar(self, book_id: int, conn: sqlite3.Connection | None = None) -> int | None:
        """ns time of the book's newest decided bar, or None."""
        with db_errors(self.path, "read"):
            row = (conn or self.conn).execute("SELECT MAX(t) FROM decisions WHERE book_id=?", (book_id,)).fetchone()
        return None if row[0] is None else int(row[0])

    def has_bar(self, book_id: int, t: int, conn: sqlite3.Connection | None = None) -> bool:
        with db_errors(self.path, "read"):
            return (conn or self.conn).execute("SELECT 1 FROM decisions WHERE book_id=? AND t=?",
                                               (book_id, t)).fetchone() is not None

    def missed(self, book_id: int) -> pd.Series:
        """Reason per bar the live process skipped (index: bar time); empty for a ledger without the table."""
        with db_errors(self.path, "read"):
            has = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='missed'").fetchone()
            rows = self.conn.execute("SELECT t, reason FROM missed WHERE book_id=? ORDER BY t",
                                     (book_id,)).fetchall() if has else []
        return pd.Series([r[1] for r in rows], index=from_ns([r[0] for r in rows]), name="reason", dtype=object)

    def heartbeats(self, book_id: int) -> pd.DatetimeIndex:
        """When the live process ran a step for this book (one row per step); empty for older ledgers."""
        with db_errors(self.path, "read"):
            has = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='heartbeats'").fetchone()
            rows = self.conn.execute("SELECT at FROM heartbeats WHERE book_id=? ORDER BY at",
                                     (book_id,)).fetchall() if has else []
        return from_ns([r[0] for r in rows])

    def record_heartbeat(self, book_id: int, at: pd.Timestamp) -> None:
        with self.bar_transaction() as c:
            c.execute("INSERT OR IGNORE INTO heartbeats (book_id, at) VALUES (?, ?)", (book_id, ns(at)))

    def record_missed(self, book_id: int, times: list[int], reason: str) -> None:
        """Note bars (ns times) the live process skipped, once each."""
        with self.bar_transaction() as c:
            c.executemany("INSERT OR IGNORE INTO missed (book_id, t, noted_at, reason) VALUES (?, ?, ?, ?)",
                          [(book_id, int(t), utc_now().isoformat(), reason) for t in times])

    def frame(self, book_id: int) -> pd.DataFrame:
        """Everything per decided bar, joined, indexed by bar time (the pages, reconcile and monitor read this)."""
        with db_errors(self.path, "read"):
            df = pd.read_sql_query(
                "SELECT d.t, b.open, b.high, b.low, b.close, b.volume, b.source, b.fetched_at, b.data_age_s, d.mode, "
                "d.decided_at, d.action, d.raw_position, d.quantity, d.p_short, d.p_flat, d.p_long, d.confidence, "
                "d.value, d.steps, d.status, d.features, d.target, d.brake_active, d.load_ms, d.signal_ms, "
                "d.risk_fill_ms, d.latency_ms, p.held, p.asset_return, p.gross_return, p.turnover, p.cost, "
                "p.net_return, p.equity FROM decisions d JOIN bars b USING (book_id, t) "
                "JOIN positions p USING (book_id, t) WHERE d.book_id=? ORDER BY d.t", self.conn, params=(book_id,))
        df.index = from_ns(df.pop("t"))
        return df

    def table(self, name: str, book_id: int) -> pd.DataFrame:
        """orders / fills of a book, indexed by bar time."""
        if name not in ("orders", "fills"):
            raise ValueError(f"unknown ledger table {name!r}")
        with db_errors(self.path, "read"):
            df = pd.read_sql_query(f"SELECT * FROM {name} WHERE book_id=? ORDER BY t", self.conn,
                                   params=(book_id,))
        df.index = from_ns(df.pop("t"))
        return df.drop(columns="book_id")

    def events(self, limit: int = 200) -> pd.DataFrame:
        with db_errors(self.path, "read"):
            return pd.read_sql_query("SELECT at, book_id, level, kind, message FROM events ORDER BY event_id "
                                     "DESC LIMIT ?", self.conn, params=(limit,))

    def health_checks(self, limit: int = 200) -> pd.DataFrame:
        with db_errors(self.path, "read"):
            return pd.read_sql_query("SELECT at, book_id, status, reasons FROM health_checks ORDER BY check_id "
                                     "DESC LIMIT ?", self.conn, params=(limit,))

    # ----------------------------------------------------------------- writing (outside a bar)

    def log(self, level: str, kind: str, message: str, book_id: int | None = None) -> None:
        """One event row (autocommit): the loop's 'no network, retrying' and friends."""
        with db_errors(self.path, "write to"):
            self.conn.execute("INSERT INTO events (at, book_id, level, kind, message) VALUES (?, ?, ?, ?, ?)",
                              (utc_now().isoformat(), book_id, level, kind, message))

    def last_health(self, book_id: int | None) -> str | None:
        """The newest recorded verdict of the book, or None before its first."""
        with db_errors(self.path, "read"):
            row = self.conn.execute("SELECT status FROM health_checks WHERE book_id IS ? ORDER BY check_id DESC "
                                    "LIMIT 1", (book_id,)).fetchone()
        return row[0] if row else None

    def record_health(self, status: str, reasons: list[str], book_id: int | None) -> None:
        with db_errors(self.path, "write to"):
            self.conn.execute("INSERT INTO health_checks (at, book_id, status, reasons) VALUES (?, ?, ?, ?)",
                              (utc_now().isoformat(), book_id, status, json.dumps(reasons)))

    def dump(self) -> dict[str, list[tuple]]:
        """Every bar-keyed row of every book, sorted (timestamps of decisions left out): crash tests compare these."""
        out = {}
        for name in ("books", "bars", "decisions", "positions", "orders", "fills"):
            rows = self.conn.execute(f"SELECT * FROM {name}").fetchall()
            cols = [d[0] for d in self.conn.execute(f"SELECT * FROM {name} LIMIT 0").description]
            drop = {"created_at", "decided_at", "load_ms", "signal_ms", "risk_fill_ms", "latency_ms", "data_age_s"}
            keep = [i for i, c in enumerate(cols) if c not in drop]
            out[name] = sorted(tuple(r[i] for i in keep) for r in rows)
        return out


def insert_row(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    """INSERT one dict as a row (column names are the code's own, never user input)."""
    cols = ", ".join(row)
    conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))


def iso(ts: pd.Timestamp | dt.datetime | None) -> str | None:
    return None if ts is None else pd.Timestamp(ts).isoformat()


def ledger_db_path(settings) -> Path:
    """`live.db` in the folder of the market-data cache (data_cache/ by default; gitignored)."""
    return settings.data.path("cache_db").parent / "live.db"


__all__ = ["Book", "Ledger", "LedgerError", "from_ns", "insert_row", "iso", "ledger_db_path", "ns", "utc_now"]
