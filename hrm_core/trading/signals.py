"""Model -> per-bar signal table: the seam between model and money (after this module, no torch).

`generate_signals(loaded, bars, symbol=..., interval=...)` runs a loaded checkpoint over a
whole bar history in batches and returns a `SignalResult` whose `table` has one row per bar:

    time (index) | action | size | position | quantity | p_short | p_flat | p_long |
    confidence | value | steps | latency_ms | status | model

Conventions:

- **Timing.** Row t is decided at the close of bar t from the window of bars t-W+1..t
  (features are causal and the scaler comes from the checkpoint's training period), so the
  row never reads a bar after t. `run_backtest` holds it over bar t+1.
- **Position rule**: the checkpoint's own (`hrm_core.trading.decision`, stored in its card): "edge",
  quantity x clip((p_long - p_short) / scale, -1, 1), flat inside a no-trade band, with scale
  and band chosen on validation; checkpoints that predate it use "argmax", {-1, 0, +1}[argmax]
  x quantity. `position_rule="argmax"` or `"expected"` ((p_long - p_short) x quantity)
  overrides it. The action is the sign of the position, so the chart's markers follow the
  book actually held. size = |position|, quantity = the QuantityHead in [0, 1].
- **Status.** "ok"; "warmup" for bars before the first complete window (feature warm-up +
  window - 1 bars): flat, probabilities NaN, steps 0; "nonfinite" when any model output of
  the row is NaN/inf: flat (position 0), probabilities NaN, counted in `n_nonfinite`.
- **Latency** is amortised: wall time of the row's batch / rows in the batch, in ms.
- **Cache.** Raw model outputs are stored in SQLite (`signals.db` next to the market-data
  cache, see `signals_db_path`) keyed by (model id, symbol, interval, data hash). The model
  id is the checkpoint name plus a fingerprint of its weights, config, feature spec and
  scaler, so a retrained model under the same name never reads stale signals; the data hash
  covers every bar's time and OHLCV values. A second request for the same key does not run
  the model. Writes are one BEGIN IMMEDIATE transaction. The cache is best-effort: a
  corrupt, read-only or locked file never stops the signals; `SignalResult.notes` says why
  they were not cached (the CLI prints it to stderr, the pages show it).
- **Fit.** When the bars' interval or instrument is not among the checkpoint's trained
  `intervals` / `instruments`, `notes` says so (`model_fit_notes`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pandas as pd

from hrm_core.data.bars import parse_bound
from hrm_core.data.cache import describe_cache_failure
from hrm_core.trading.decision import DecisionRule, rule_of
from hrm_core.data.features import DIRECTION_CLASSES, build_dataset
from hrm_core.storage.sqlite_tx import immediate
from hrm_core.runtime import single_flight

if TYPE_CHECKING:
    from hrm_core.model.checkpoint import LoadedModel

# Overrides of the checkpoint's own rule (hrm_core.trading.decision): "argmax", or "expected" = (p_long - p_short) x quantity.
POSITION_RULES = {"argmax": DecisionRule(), "expected": DecisionRule("edge", scale=1.0, band=0.0)}
STATUSES = ("ok", "warmup", "nonfinite")
TABLE_COLUMNS = (
    "action", "size", "position", "quantity", "p_short", "p_flat", "p_long", "margin", "confidence",
    "value", "steps", "latency_ms", "status", "model",
)
RAW_COLUMNS = ("p_short", "p_flat", "p_long", "quantity", "value", "steps", "finite", "latency_ms")
log = logging.getLogger("hrm.signals")
DEFAULT_BATCH = 256  # measured on 2 CPU cores: smaller batches stay in cache (0.55 vs 0.85 ms per decision at 1024)


@dataclass(frozen=True)
class SignalResult:
    table: pd.DataFrame  # one row per bar, TABLE_COLUMNS, index `time`
    model_id: str
    symbol: str
    interval: str
    data_hash: str
    position_rule: str
    cached: bool  # True when served from the SQLite cache without running the model
    elapsed_s: float  # wall time of this call (model or cache read + table building)
    notes: tuple[str, ...] = ()  # warnings to show with the signals: signal cache failures, bars the model never saw

    @property
    def note(self) -> str:
        """All notes as one line ("" when none): the pages show it, the CLI prints it to stderr."""
        return "; ".join(self.notes)

    @property
    def position(self) -> pd.Series:
        """Target position decided at each close, in [-1, 1]: feed it to risk / run_backtest."""
        return self.table["position"]

    @property
    def n_nonfinite(self) -> int:
        return int((self.table["status"] == "nonfinite").sum())

    @property
    def n_warmup(self) -> int:
        return int((self.table["status"] == "warmup").sum())

    def between(self, start: Any = None, end: Any = None) -> pd.DataFrame:
        """Rows with start <= time <= end (an end given as a date covers that whole day)."""
        t = self.table
        lo, hi = parse_bound(start, name="start", end=False), parse_bound(end, name="end", end=True)
        if lo is not None:
            t = t[t.index >= lo]
        if hi is not None:
            t = t[t.index <= hi]
        return t

    def records(self, start: Any = None, end: Any = None) -> list[dict[str, Any]]:
        """JSON-safe rows (NaN -> None, time as ISO text)."""
        t = self.between(start, end)
        out = t.reset_index().astype(object).where(t.reset_index().notna(), None)
        out["time"] = [ts.isoformat() for ts in t.index]
        return out.to_dict(orient="records")

    def summary(self) -> dict[str, Any]:
        """JSON-safe counts for the CLI and reports."""
        t = self.table
        ok = t["status"] == "ok"
        return {
            "model": self.model_id, "symbol": self.symbol, "interval": self.interval, "rows": len(t),
            "first": t.index[0].isoformat() if len(t) else None, "last": t.index[-1].isoformat() if len(t) else None,
            "signals": int(ok.sum()), "warmup": self.n_warmup, "nonfinite": self.n_nonfinite,
            "long": int((t["action"] == "long").sum()), "flat": int((t["action"] == "flat").sum()),
            "short": int((t["action"] == "short").sum()),
            "mean_steps": float(t.loc[ok, "steps"].mean()) if ok.any() else None,
            "mean_latency_ms": float(t.loc[ok, "latency_ms"].mean()) if ok.any() else None,
            "position_rule": self.position_rule, "cached": self.cached, "data_hash": self.data_hash,
            "elapsed_s": round(self.elapsed_s, 4), "notes": list(self.notes),
        }


def _ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Nanoseconds since the epoch, whatever the index's resolution (pandas may use us or s)."""
    return index.as_unit("ns").asi8


# ----------------------------------------------------------------------------- identities

def bars_hash(bars: pd.DataFrame) -> str:
    """sha256 of every bar's time (ns) and OHLCV values: equal hashes mean identical inputs."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(_ns(bars.index)).tobytes())
    h.update(np.ascontiguousarray(bars[["open", "high", "low", "close", "volume"]].to_numpy(np.float64)).tobytes())
    return h.hexdigest()[:32]


def model_fingerprint(loaded: LoadedModel) -> str:
    """Checkpoint name + short hash of weights, config, feature spec, scaler, vocabulary and position rule (the
    rule decides the actions, so explanations, diagnostics and ledgers of another rule are another model's)."""
    h = hashlib.sha256()
    meta = {
        "config": loaded.config.to_dict(), "spec": loaded.feature_spec.to_dict(),
        "scaler": loaded.scaler.to_dict(), "instruments": dict(sorted(dict(loaded.instruments).items())),
        "rule": checkpoint_rule(loaded).to_dict(),
    }
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for key, tensor in sorted(loaded.model.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"{loaded.name}@{h.hexdigest()[:12]}"


# ----------------------------------------------------------------------------- the SQLite cache

def signals_db_path(settings) -> Path:
    """`signals.db` in the folder of the market-data cache (data_cache/ by default; gitignored)."""
    return settings.data.path("cache_db").parent / "signals.db"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS signal_runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL, symbol TEXT NOT NULL, interval TEXT NOT NULL,
    data_hash TEXT NOT NULL, created_at TEXT NOT NULL, rows INTEGER NOT NULL,
    UNIQUE (model_id, symbol, interval, data_hash));
CREATE TABLE IF NOT EXISTS signal_rows (
    run_id INTEGER NOT NULL REFERENCES signal_runs(run_id) ON DELETE CASCADE,
    t INTEGER NOT NULL,
    p_short REAL, p_flat REAL, p_long REAL, quantity REAL, value REAL,
    steps INTEGER, finite INTEGER, latency_ms REAL,
    PRIMARY KEY (run_id, t)) WITHOUT ROWID;
"""
_KEY = "model_id=? AND symbol=? AND interval=? AND data_hash=?"


class SignalCache:
    """Raw model outputs per (model id, symbol, interval, data hash) in one SQLite file: best-effort.

    The cache is an optimisation, so it never fails its caller: any failure (corrupt file,
    read-only folder, a lock held past the busy timeout) makes `read` a miss and `write` a
    no-op, logs a warning and keeps it in `warning` for the UI and the CLI. A write is one
    BEGIN IMMEDIATE transaction (check, delete and insert together), so two processes writing
    the same key queue on the lock instead of colliding on the UNIQUE key.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 10.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.warning: str = ""  # the last failure, one line ("" when the cache worked)
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        """Open once (autocommit mode: transactions are explicit) and create the schema under the write lock."""
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            try:
                _try_wal(conn)
                if conn.execute("SELECT count(*) FROM sqlite_master WHERE name='signal_rows'").fetchone()[0] == 0:
                    with immediate(conn):
                        for statement in filter(str.strip, _SCHEMA.split(";")):
                            conn.execute(statement)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _failed(self, what: str, exc: BaseException) -> None:
        self.warning = (describe_cache_failure("signal cache", self.path, exc)
                        + f"; {what}: signals were computed without it")
        log.warning(self.warning)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SignalCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, model_id: str, symbol: str, interval: str, data_hash: str) -> pd.DataFrame | None:
        """Raw outputs indexed by bar time (ns, UTC), or None on a miss or any failure (see `warning`)."""
        try:
            conn = self._connect()
            with _snapshot(conn):  # both SELECTs see one state, even while another process replaces the run
                row = conn.execute(f"SELECT run_id, rows FROM signal_runs WHERE {_KEY}",
                                   (model_id, symbol, interval, data_hash)).fetchone()
                if row is None:
                    return None
                raw = pd.read_sql_query(f"SELECT t, {', '.join(RAW_COLUMNS)} FROM signal_rows WHERE run_id=? ORDER BY t",
                                        conn, params=(row[0],))
            if len(raw) != row[1]:
                return None  # incomplete run (should not happen: writes are transactions)
            raw.index = pd.DatetimeIndex(pd.to_datetime(raw.pop("t").to_numpy(), unit="ns", utc=True), name="time")
            return raw.astype({c: "float64" for c in RAW_COLUMNS if c not in ("steps", "finite")})
        except (sqlite3.Error, pd.errors.DatabaseError, OSError, ValueError, TypeError, OverflowError) as exc:
            self._failed("not read", exc)
            return None

    def write(self, model_id: str, symbol: str, interval: str, data_hash: str, raw: pd.DataFrame) -> bool:
        """Replace the run for this key in one BEGIN IMMEDIATE transaction; False (and `warning`) on any failure."""
        values = raw[list(RAW_COLUMNS)].astype(object).where(raw[list(RAW_COLUMNS)].notna(), None)
        rows = [(tt, *vals) for tt, vals in zip(_ns(raw.index).tolist(), values.itertuples(index=False, name=None))]
        key = (model_id, symbol, interval, data_hash)
        try:
            conn = self._connect()
            with immediate(conn):
                old = conn.execute(f"SELECT run_id FROM signal_runs WHERE {_KEY}", key).fetchone()
                if old is not None:
                    conn.execute("DELETE FROM signal_rows WHERE run_id=?", old)
                    conn.execute("DELETE FROM signal_runs WHERE run_id=?", old)
                cur = conn.execute(
                    "INSERT INTO signal_runs (model_id, symbol, interval, data_hash, created_at, rows) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (*key, dt.datetime.now(dt.timezone.utc).isoformat(), len(raw)))
                conn.executemany(
                    f"INSERT INTO signal_rows (run_id, t, {', '.join(RAW_COLUMNS)}) VALUES (?, ?{', ?' * len(RAW_COLUMNS)})",
                    [(cur.lastrowid, *r) for r in rows])
            return True
        except (sqlite3.Error, OSError, ValueError, TypeError, OverflowError) as exc:
            self._failed("not written", exc)
            return False

    def runs(self) -> pd.DataFrame:
        """One row per cached run (for `hrm data list`-style listings and tests)."""
        return pd.read_sql_query(
            "SELECT model_id, symbol, interval, data_hash, created_at, rows FROM signal_runs ORDER BY run_id",
            self._connect())


def _try_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL (readers never wait for a writer). SQLite does not apply the busy timeout to the
    switch, so two processes opening a new file together can collide: the loser simply carries on in
    the default journal mode (the other one is switching the file to WAL anyway)."""
    try:
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise


@contextlib.contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: in autocommit mode each SELECT would otherwise see its own state."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


# ----------------------------------------------------------------------------- running the model

def model_inputs(loaded: LoadedModel, bars: pd.DataFrame, *, symbol: str, interval: str):
    """(WindowDataset, instrument id, timeframe id) exactly as the checkpoint expects them (also used by diagnostics)."""
    spec = loaded.feature_spec
    spec.check_matches_code()
    ds = build_dataset(bars, window=int(loaded.config.window), scaler=loaded.scaler, horizon=spec.horizon,
                       threshold_k=spec.threshold_k, vol_lookback=spec.vol_lookback)
    return ds, int(loaded.instrument_ids([symbol])[0]), loaded.timeframe_id(interval)


def run_model(loaded: LoadedModel, bars: pd.DataFrame, *, symbol: str, interval: str,
              batch_size: int = DEFAULT_BATCH) -> pd.DataFrame:
    """Raw outputs per bar (NaN rows for the warm-up): the only place torch runs."""
    import torch

    ds, inst, tf = model_inputs(loaded, bars, symbol=symbol, interval=interval)
    n_bars, n = len(bars), len(ds)
    out = {k: np.full(n_bars, np.nan) for k in RAW_COLUMNS}
    out["steps"] = np.zeros(n_bars)
    out["finite"] = np.zeros(n_bars)
    model = loaded.model
    if model.training:
        model.eval()
    device = next(model.parameters()).device
    rows = ds.end_idx
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        x = torch.from_numpy(ds.X[lo:hi]).to(device)
        k = hi - lo
        t0 = time.perf_counter()
        with torch.inference_mode():
            res = model.infer(x, torch.full((k,), inst, dtype=torch.long, device=device),
                              torch.full((k,), tf, dtype=torch.long, device=device))
        elapsed = time.perf_counter() - t0
        probs = torch.softmax(res.policy_logits.float(), dim=-1).cpu().numpy().astype(np.float64)
        idx = rows[lo:hi]
        out["p_short"][idx], out["p_flat"][idx], out["p_long"][idx] = probs[:, 0], probs[:, 1], probs[:, 2]
        out["quantity"][idx] = res.quantity.float().cpu().numpy()
        out["value"][idx] = res.value.float().cpu().numpy()
        out["steps"][idx] = res.steps.cpu().numpy()
        fin = res.finite.cpu().numpy().astype(bool) & np.isfinite(probs).all(axis=1)
        out["finite"][idx] = fin
        out["latency_ms"][idx] = 1e3 * elapsed / k
    raw = pd.DataFrame(out, index=bars.index)
    raw.index.name = "time"
    return raw


def full_depth_actions(loaded: LoadedModel, bars: pd.DataFrame, times: pd.DatetimeIndex, *, symbol: str,
                       interval: str) -> pd.Series | None:
    """The action every decision at `times` would take with all M segments, under the checkpoint's rule
    (the Signals table shows it where it differs from the as-run action); None when depth cannot differ
    (the flat baseline, or a checkpoint that always runs max depth)."""
    import torch

    cfg = loaded.config
    if cfg.arch != "hrm" or cfg.max_segments == 1 or cfg.inference_mode == "max" or \
            (cfg.inference_mode == "adaptive" and not cfg.act):
        return None
    ds, inst, tf = model_inputs(loaded, bars, symbol=symbol, interval=interval)
    rows = np.flatnonzero(ds.times.isin(times))
    if not len(rows):
        return pd.Series(dtype=object)
    ids = torch.full((len(rows),), inst, dtype=torch.long)
    with torch.inference_mode():
        out = loaded.model.infer(torch.from_numpy(ds.X[rows]), ids, torch.full_like(ids, tf), halt=False)
    probs = torch.softmax(out.policy_logits.float(), -1).numpy().astype(np.float64)
    raw = pd.DataFrame({"p_short": probs[:, 0], "p_flat": probs[:, 1], "p_long": probs[:, 2],
                        "quantity": out.quantity.float().numpy(), "value": out.value.float().numpy(),
                        "steps": out.steps.numpy().astype(float), "finite": out.finite.numpy().astype(float),
                        "latency_ms": np.nan}, index=ds.times[rows])
    return build_table(raw, model_id=loaded.name, rule=loaded.rule)["action"]


def build_table(raw: pd.DataFrame, *, model_id: str, rule: DecisionRule | None = None) -> pd.DataFrame:
    """Raw outputs -> the signal table (pure numpy/pandas; see the module docstring for the rules)."""
    rule = rule or DecisionRule()
    probs = raw[["p_short", "p_flat", "p_long"]].to_numpy(dtype=np.float64)
    qty = raw["quantity"].to_numpy(dtype=np.float64)
    steps = raw["steps"].to_numpy(dtype=np.float64)
    computed = steps > 0  # the model ran on this bar (else: warm-up)
    ok = computed & (raw["finite"].to_numpy() > 0) & np.isfinite(probs).all(axis=1) & np.isfinite(qty)
    status = np.where(~computed, "warmup", np.where(ok, "ok", "nonfinite"))

    p = np.where(ok[:, None], probs, np.nan)
    position = np.where(ok, rule.positions(p, np.where(ok, qty, 0.0)), 0.0) + 0.0
    cls = np.sign(position).astype(int) + 1  # the action is the side of the book
    table = pd.DataFrame(
        {
            "action": np.asarray(DIRECTION_CLASSES, dtype=object)[cls],
            "size": np.abs(position),
            "position": position,
            "quantity": np.where(ok, qty, np.nan),
            "p_short": p[:, 0], "p_flat": p[:, 1], "p_long": p[:, 2],
            "margin": np.where(ok, rule.margin(np.where(ok[:, None], p, 0.0)), np.nan),  # distance to a side change
            "confidence": np.where(ok, np.nanmax(np.where(ok[:, None], p, 0.0), axis=1), np.nan),  # live drift stat
            "value": np.where(ok, raw["value"].to_numpy(dtype=np.float64), np.nan),
            "steps": steps.astype(np.int64),
            "latency_ms": raw["latency_ms"].to_numpy(dtype=np.float64),
            "status": status,
            "model": model_id,
        },
        index=raw.index,
    )
    return table


def generate_signals(
    loaded: LoadedModel,
    bars: pd.DataFrame,
    *,
    symbol: str,
    interval: str,
    cache: SignalCache | str | Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    position_rule: str | None = None,
) -> SignalResult:
    """Signal table for every bar of `bars` (pass the full history: rows before the first
    complete window are "warmup"). With `cache` (a SignalCache or a path), the raw outputs
    are read from / written to SQLite."""
    t0 = time.perf_counter()
    model_id = model_fingerprint(loaded)
    data_hash = bars_hash(bars)
    own = isinstance(cache, (str, Path))
    store = SignalCache(cache) if own else cache
    def stored():
        raw = store.read(model_id, symbol, interval, data_hash) if store is not None else None
        if raw is not None and np.array_equal(_ns(raw.index), _ns(bars.index)):
            raw.index = bars.index  # same instants; keep the caller's index (resolution, name)
            return raw
        return None

    try:
        raw = stored()
        cached = raw is not None
        if not cached:
            # Several sessions asking at once: one runs the model, the others find its rows in the store.
            with single_flight(("signals", str(store.path) if store is not None else None, model_id, symbol,
                                interval, data_hash)):
                raw = stored() if store is not None else None
                cached = raw is not None
                if not cached:
                    raw = run_model(loaded, bars, symbol=symbol, interval=interval, batch_size=batch_size)
                    if store is not None:
                        store.write(model_id, symbol, interval, data_hash, raw)
        cache_note = store.warning if store is not None else ""
    finally:
        if own and store is not None:
            store.close()
    table = build_table(raw, model_id=model_id, rule=checkpoint_rule(loaded, position_rule))
    notes = tuple(n for n in (*model_fit_notes(loaded, symbol, interval), cache_note) if n)
    return SignalResult(table=table, model_id=model_id, symbol=symbol, interval=interval, data_hash=data_hash,
                        position_rule=position_rule or "checkpoint", cached=cached,
                        elapsed_s=time.perf_counter() - t0, notes=notes)


def checkpoint_rule(loaded: LoadedModel, override: str | None = None) -> DecisionRule:
    """The checkpoint's own position rule (its card's "decision"), or a named override from POSITION_RULES."""
    if override is None:
        return rule_of(getattr(loaded, "metrics", None))
    if override not in POSITION_RULES:
        raise ValueError(f"position_rule must be one of {sorted(POSITION_RULES)} or None, got {override!r}")
    return POSITION_RULES[override]


def model_fit_notes(loaded: LoadedModel, symbol: str, interval: str) -> list[str]:
    """Warnings when the bars are not what the checkpoint was trained on: another interval, an unseen instrument.

    Such signals still run (an unseen symbol uses the shared "unknown" embedding), but they are
    outside the model's training distribution and the user must know it."""
    notes = []
    trained = tuple(getattr(loaded, "intervals", ()) or ())
    if trained and interval not in trained:
        notes.append(f"model {loaded.name} was trained on {', '.join(trained)} bars, not {interval}: its {interval} "
                     f"signals are outside what it learned; use --interval {trained[0]} or train on {interval}")
    vocab = dict(getattr(loaded, "instruments", {}) or {})
    if vocab and symbol.strip().upper() not in vocab:
        notes.append(f"model {loaded.name} was not trained on {symbol} (trained on {', '.join(sorted(vocab))}): "
                     "it reads it as an unknown instrument")
    return notes


def action_changes(table: pd.DataFrame) -> pd.DataFrame:
    """Rows where the action differs from the previous bar's (decisions to mark on a chart).

    Columns: action (the new one), previous, position, confidence. Warm-up rows never count
    as a change; the first signalled bar counts when it is not flat.
    """
    act = table["action"].where(table["status"] != "warmup")
    prev = act.shift(1).fillna("flat")
    changed = act.notna() & (act != prev)
    out = table.loc[changed, ["action", "position", "confidence"]].copy()
    out.insert(1, "previous", prev[changed])
    return out


def load_signals(model: str | Path | None, symbol: str, interval: str, *, settings, path: str | Path | None = None,
                 position_rule: str | None = None):
    """What the CLI and the pages call: (LoadResult of the full history, LoadedModel, SignalResult), cached.

    model: a checkpoint path, a directory or a name under models/, or None for the shipped default.
    """
    from hrm_core.model.cards import resolve_model
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars

    loaded = load_checkpoint(resolve_model(model, settings))
    res = load_bars(symbol, interval, path=path, settings=settings)
    with SignalCache(signals_db_path(settings), timeout_s=settings.data.cache_timeout_s) as cache:
        sig = generate_signals(loaded, res.bars, symbol=res.symbol, interval=interval, cache=cache,
                               position_rule=position_rule)
    return res, loaded, sig


__all__ = [
    "POSITION_RULES", "STATUSES", "action_changes", "checkpoint_rule", "TABLE_COLUMNS", "SignalCache", "SignalResult", "bars_hash", "build_table",
    "full_depth_actions", "generate_signals", "load_signals", "model_fingerprint", "model_fit_notes", "model_inputs", "run_model", "signals_db_path",
]
