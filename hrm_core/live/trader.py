"""Paper trading: each new completed bar -> signal -> risk layer -> simulated fill -> ledger.

The live path re-uses the backtest's code at every stage, so a replay of history must
match `hrm reconcile`'s vectorised backtest:

- **Signal**: `hrm_core.trading.signals.run_model` + `build_table` (the signal table's own code) on
  the trailing `warmup + window` bars ending at bar t. Features have a finite memory
  (features.py), so that slice gives the same inputs as the full history.
  NOTE: the model runs in float32 on ONE window here and on batches of 256 in the signal
  table; batched matrix products round differently, so probabilities and the quantity
  head may differ in the last float32 bits (measured <= 1e-7). `reconcile` reports this
  as numerical noise (SIGNAL_NOISE_TOL), not as a disagreement.
- **Risk**: `hrm_core.trading.risk.apply_risk` over the book's raw positions from its first bar
  through t (the drawdown brake needs the whole path), with the same vol warm-up history
  as `evaluate.backtest_target` (vol_lookback + 1 closes before the first bar).
- **Fill**: `hrm_core.trading.backtest.run_backtest` on the book's last three bars (t-2, t-1, t)
  with their targets, under the book's execution setting (`[costs] execution`); its last
  row is exactly the vectorised backtest's row t, which depends on targets t-2..t only.
  Under "next_open" (default) the step for bar t does two things: it fills the target
  decided at close t-1 at bar t's OPEN (the previous position earned the gap close t-1 ->
  open t; the new one earns open t -> close t; costs per unit of drift-aware turnover at
  that open, fill price = open t), then it decides the target at close t, which waits as an
  order for the open of bar t+1: the next step fills it. Under "close" (market-on-close)
  it trades to the new target at close t itself (fill price = close t). The ledger's
  orders/fills rows sit on the bar of the fill. Equity compounds prev_equity * (1 + net),
  exactly as the backtest's cumprod does.

Modes: `run_once` (decide the newest completed bar if the ledger lacks it; a fresh book
starts at the newest bar), `run_loop` (run_once every N seconds until SIGINT/SIGTERM),
`replay` (the same step bar by bar over stored history, each step fed only the bars up to
that bar, so nothing can look ahead).

Fresh data (live mode): the market-data cache serves bars younger than `max_age_hours` without a
download, which on hourly bars would hide the newest bar for hours. So a live step asks the
trading calendar (hrm_core.data.calendars) whether a bar has completed after the newest one it
holds; if so it downloads (`load_bars(refresh=True)`), and only a failed download leaves it on
the cache, marked as a fallback.

Downtime (live mode only): after the process was down (or the data stalled) several bars
may have closed since the ledger's newest one. Deciding each of them now and filling it at
its historical open would put trades in the paper equity that could not have happened. So a
live step never back-fills: it decides only the NEWEST completed bar and records the bars in
between in the ledger's `missed` table; `hrm reconcile` reports each with its reason. Every live
step records a heartbeat, so the reason is known: "missed (downtime)" when no step ran between
the bar's completion and now (the process was down), "missed (data late)" when one did (the
process was up but the data source did not have the bar yet). The position held before the
downtime simply stays on through it (the gap from the last decided close to the new bar's open
is earned by it, as any held position would), and the order decided at the last close before the downtime is filled at the first
open the process sees again. (Catching up with late fills was the alternative; it needs a
second fill convention beside the backtest's, so the simpler honest rule was chosen.) A
replay decides every bar: it simulates history, it is not trading. Without the network the data
layer falls back to the cache or the sample; the loop says so, keeps the last state and
retries; a bar the data does not have is never invented.
"""
from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from hrm_core.trading.backtest import run_backtest
from hrm_core.data.bars import BAR_SPAN, drop_unfinished, parse_bound
from hrm_core.data.calendars import missing_bars
from hrm_core.trading.decision import rule_of
from hrm_core.errors import DataError, EmptyDataError, HRMError, InsufficientDataError
from hrm_core.data.features import WARMUP_BARS, compute_features
from hrm_core.jsonsafe import json_safe
from hrm_core.live import alerts
from hrm_core.live.ledger import Book, Ledger, LedgerError, insert_row, iso, ledger_db_path, ns, utc_now
from hrm_core.trading.metrics import periods_per_year_of
from hrm_core.trading.risk import apply_risk
from hrm_core.settings import Settings
from hrm_core.trading.signals import RAW_COLUMNS, build_table, model_fingerprint, model_fit_notes, run_model

LEDGER_TIMEOUT_S = 60.0  # how long a step waits for another writer's lock on the ledger before it fails (and retries)
LOG_TIMEOUT_S = 5.0  # recording a failure is best-effort: a locked ledger is itself the failure
FILL_BARS = 3  # a backtest row depends on the targets of its bar and the two before it (next_open)
MISSED_REASON = ("missed (downtime): closed while the live process was not running; not back-filled at "
                 "historical prices")
LATE_REASON = ("missed (data late): the live process was running but its data source did not have this bar "
               "until a newer one had closed; not back-filled at historical prices")
FRESH_SOURCES = ("live", "cache")  # anything else in live mode is a fallback (stale cache, sample)
Progress = Callable[[int, int], None]


# ----------------------------------------------------------------------------- the signal for one bar

def decide(loaded, bars: pd.DataFrame, *, symbol: str, interval: str, model_id: str) -> tuple[pd.Series, dict]:
    """Signal-table row and unscaled features for the LAST bar of `bars` (reads bars <= it only)."""
    need = WARMUP_BARS + int(loaded.config.window)
    tail = bars.iloc[-need:]
    try:
        raw = run_model(loaded, tail, symbol=symbol, interval=interval).iloc[-1:]
    except InsufficientDataError:  # the table calls such a bar "warmup": flat
        raw = pd.DataFrame({k: [np.nan] for k in RAW_COLUMNS}, index=bars.index[-1:]).assign(steps=0.0, finite=0.0)
    row = build_table(raw, model_id=model_id, rule=rule_of(loaded.metrics)).iloc[-1]
    feats = compute_features(tail).iloc[-1] if len(tail) > WARMUP_BARS else pd.Series(dtype=float)
    return row, {k: (float(v) if math.isfinite(v) else None) for k, v in feats.items()}


# ----------------------------------------------------------------------------- the trader

@dataclass
class _History:
    """The book's path so far, cached in memory between bars (reloaded when another writer moved on)."""

    times: list[int] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    open: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)
    target: list[float] = field(default_factory=list)
    equity: float = 1.0


@dataclass(frozen=True)
class StepResult:
    time: pd.Timestamp
    action: str
    target: float
    equity: float
    latency_ms: float
    written: bool  # False when another writer had already recorded this bar
    fill: dict | None = None  # the paper fill on this bar: side, quantity, price, from_weight, to_weight, time


class PaperTrader:
    """Trades one book of a ledger; `step(bars)` decides every bar of `bars` the ledger lacks."""

    def __init__(self, ledger: Ledger, book: Book, loaded, *, mode: str):
        self.ledger, self.book, self.loaded, self.mode = ledger, book, loaded, mode
        self._hist: _History | None = None
        self._pre_close: pd.Series | None = None  # closes before the book's first bar (vol warm-up)

    @classmethod
    def open(cls, ledger: Ledger, loaded, *, symbol: str, interval: str, bars: pd.DataFrame, settings: Settings,
             csv: str | None, mode: str) -> PaperTrader:
        """Open (or create) the book for this model, symbol and interval with the settings in force."""
        book = ledger.open_book(symbol=symbol, interval=interval, model_id=model_fingerprint(loaded),
                                model_path=str(loaded.path), csv=csv, risk=settings.risk, costs=settings.costs,
                                periods_per_year=periods_per_year_of(bars.index, interval))
        return cls(ledger, book, loaded, mode=mode)

    def pending(self, bars: pd.DataFrame) -> np.ndarray:
        """Row numbers of `bars` to decide: those after the ledger's newest bar (a fresh book: the last one);
        in live mode only the newest of them (the others are missed: see the module docstring)."""
        rows = self._after_last(bars)
        return rows[-1:] if self.mode == "live" else rows

    def _after_last(self, bars: pd.DataFrame) -> np.ndarray:
        last = self.ledger.last_bar(self.book.book_id)
        if last is None:
            return np.array([len(bars) - 1]) if len(bars) else np.array([], dtype=int)
        return np.flatnonzero(bars.index.as_unit("ns").asi8 > last)

    def missed(self, bars: pd.DataFrame) -> pd.DatetimeIndex:
        """Bars after the ledger's newest one that a live step will not decide (all but the newest)."""
        rows = self._after_last(bars)
        return bars.index[rows[:-1]] if self.mode == "live" else bars.index[:0]

    def step(self, bars: pd.DataFrame, *, source: str, fetched_at: pd.Timestamp | None,
             load_ms: float = 0.0) -> list[StepResult]:
        """Decide each pending bar, oldest first, one transaction per bar; returns what was done.
        Live mode first records the bars it will not back-fill as missed."""
        skipped = self.missed(bars)
        if len(skipped):
            beats = self.ledger.heartbeats(self.book.book_id)
            for reason, times in self.missed_reasons(skipped, beats).items():
                self.ledger.record_missed(self.book.book_id, [ns(t) for t in times], reason)
                self.ledger.log("warning", "missed", f"{len(times)} bar(s) {times[0]:%Y-%m-%d %H:%M} .. "
                                f"{times[-1]:%Y-%m-%d %H:%M} UTC {reason}", self.book.book_id)
        return [self._step_bar(bars.iloc[: i + 1], source=source, fetched_at=fetched_at, load_ms=load_ms)
                for i in self.pending(bars)]

    def missed_reasons(self, skipped: pd.DatetimeIndex, beats: pd.DatetimeIndex) -> dict[str, list[pd.Timestamp]]:
        """Downtime when no heartbeat falls after the bar's end (its start + one bar span), else data late."""
        out: dict[str, list[pd.Timestamp]] = {}
        span = BAR_SPAN[self.book.interval]
        for t in skipped:
            up = bool(len(beats)) and bool((beats > t + span).any())
            out.setdefault(LATE_REASON if up else MISSED_REASON, []).append(t)
        return out

    def _step_bar(self, bars: pd.DataFrame, *, source: str, fetched_at, load_ms: float) -> StepResult:
        """Signal outside the lock (pure), then risk, fill and every row of the bar in one transaction."""
        t0 = time.perf_counter()
        b, when = self.book, bars.index[-1]
        row, feats = decide(self.loaded, bars, symbol=b.symbol, interval=b.interval, model_id=b.model_id)
        t1 = time.perf_counter()
        t = ns(when)
        with self.ledger.bar_transaction() as c:
            if self.ledger.has_bar(b.book_id, t, c):  # another writer decided it meanwhile
                return StepResult(when, str(row["action"]), math.nan, math.nan, 0.0, written=False)
            hist = self._history(c)
            if hist.times and hist.times[-1] > t:
                raise LedgerError(f"{b.label}: bar {when} arrived after later bars were decided; it cannot be traded "
                                  "without rewriting the book (reconcile names it)")
            target, brake = self._risk(hist, bars, float(row["position"]), t)
            fill = self._fill(hist, bars.iloc[-1], target)
            t2 = time.perf_counter()
            latency = 1e3 * (t2 - t0)
            self._write(c, bars, row, feats, target, brake, fill, source=source, fetched_at=fetched_at,
                        timing=(load_ms, 1e3 * (t1 - t0), 1e3 * (t2 - t1), latency))
        hist.times.append(t)
        hist.raw.append(float(row["position"]))
        hist.open.append(float(bars["open"].iloc[-1]))
        hist.close.append(float(bars["close"].iloc[-1]))
        hist.target.append(target)
        hist.equity = fill["equity"]
        filled = None
        if fill["turnover"] > 0:
            filled = {"side": "buy" if fill["to_weight"] > fill["from_weight"] else "sell", "time": when.isoformat(),
                      "quantity": float(fill["turnover"]), "price": float(fill["fill_price"]),
                      "from_weight": float(fill["from_weight"]), "to_weight": float(fill["to_weight"])}
        return StepResult(when, str(row["action"]), target, fill["equity"], latency, written=True, fill=filled)

    def _history(self, conn) -> _History:
        """The in-memory path, reloaded from the ledger when it is not at the ledger's newest bar."""
        last = self.ledger.last_bar(self.book.book_id, conn)
        if self._hist is not None and (self._hist.times[-1] if self._hist.times else None) == last:
            return self._hist
        rows = conn.execute(
            "SELECT d.t, d.raw_position, b.open, b.close, d.target, p.equity FROM decisions d JOIN bars b "
            "USING (book_id, t) JOIN positions p USING (book_id, t) WHERE d.book_id=? ORDER BY d.t",
            (self.book.book_id,)).fetchall()
        self._hist = _History(times=[r[0] for r in rows], raw=[r[1] for r in rows], open=[r[2] for r in rows],
                              close=[r[3] for r in rows], target=[r[4] for r in rows],
                              equity=rows[-1][5] if rows else 1.0)
        self._pre_close = None
        return self._hist

    def _warmup_closes(self, bars: pd.DataFrame, first: int) -> pd.Series:
        """vol_lookback + 1 closes before the book's first bar, as evaluate.backtest_target takes them."""
        if self._pre_close is None:
            before = bars["close"][bars.index.as_unit("ns").asi8 < first]
            self._pre_close = before.iloc[max(0, len(before) - self.book.risk.vol_lookback - 1):]
        return self._pre_close

    def _risk(self, hist: _History, bars: pd.DataFrame, raw_t: float, t: int) -> tuple[float, bool]:
        """apply_risk over the book's whole raw path (the brake is path-dependent); the last row is bar t's target."""
        b = self.book
        index = pd.DatetimeIndex(pd.to_datetime(np.array([*hist.times, t], dtype="int64"), unit="ns", utc=True))
        close = pd.Series([*hist.close, float(bars["close"].iloc[-1])], index=index)
        opens = pd.Series([*hist.open, float(bars["open"].iloc[-1])], index=index)
        raw = pd.Series([*hist.raw, raw_t], index=index)
        history = self._warmup_closes(bars, hist.times[0] if hist.times else t)
        risk = apply_risk(raw, close, b.risk, periods_per_year=b.periods_per_year, costs_bps=b.costs.total_bps,
                          history=history, execution=b.costs.execution, open_price=opens)
        return float(risk.final.iloc[-1]), bool(risk.frame["brake_active"].iloc[-1])

    def _fill(self, hist: _History, bar: pd.Series, target: float) -> dict[str, float]:
        """run_backtest on the last FILL_BARS bars: row t's held position, returns, fill, turnover and cost."""
        b = self.book
        k = FILL_BARS - 1  # earlier bars of the book (fewer at its start: flat before it, as in the backtest)
        tgt = pd.Series([*hist.target[-k:], target]) if k else pd.Series([target])
        px = pd.Series([*hist.close[-k:], float(bar["close"])])
        op = pd.Series([*hist.open[-k:], float(bar["open"])])
        f = run_backtest(tgt.clip(-1.0, 1.0), px, commission_bps=b.costs.commission_bps,
                         slippage_bps=b.costs.slippage_bps, execution=b.costs.execution, open_price=op).frame.iloc[-1]
        out = {k: float(f[k]) for k in ("position", "asset_return", "gross_return", "turnover", "cost",
                                         "net_return", "target_position", "fill_price", "from_weight", "to_weight")}
        out["equity"] = hist.equity * (1.0 + out["net_return"])
        return out

    def _write(self, c, bars: pd.DataFrame, row: pd.Series, feats: dict, target: float, brake: bool,
               fill: dict, *, source: str, fetched_at, timing: tuple[float, float, float, float]) -> None:
        """All rows of one bar, inside the caller's transaction."""
        b, bar = self.book, bars.iloc[-1]
        t, now = ns(bars.index[-1]), utc_now()
        age = (now - fetched_at).total_seconds() if fetched_at is not None else None
        insert_row(c, "bars", {"book_id": b.book_id, "t": t, **{k: float(bar[k]) for k in
                                                                 ("open", "high", "low", "close", "volume")},
                               "source": source, "fetched_at": iso(fetched_at), "data_age_s": age})
        load_ms, signal_ms, risk_fill_ms, latency = timing
        insert_row(c, "decisions", {
            "book_id": b.book_id, "t": t, "mode": self.mode, "decided_at": now.isoformat(),
            "action": str(row["action"]), "raw_position": float(row["position"]),
            **{k: json_safe(row[k]) for k in ("quantity", "p_short", "p_flat", "p_long", "confidence", "value")},
            "steps": int(row["steps"]), "status": str(row["status"]), "features": json.dumps(feats),
            "target": target, "brake_active": int(brake), "load_ms": load_ms, "signal_ms": signal_ms,
            "risk_fill_ms": risk_fill_ms, "latency_ms": latency})
        insert_row(c, "positions", {
            "book_id": b.book_id, "t": t, "held": fill["position"], "target": target,
            **{k: fill[k] for k in ("asset_return", "gross_return", "turnover", "cost", "net_return", "equity")}})
        if fill["turnover"] > 0:  # the fill on this bar: at its open (next_open) or its close (close)
            side = "buy" if fill["to_weight"] > fill["from_weight"] else "sell"
            insert_row(c, "orders", {"book_id": b.book_id, "t": t, "side": side, "from_weight": fill["from_weight"],
                                     "to_weight": fill["to_weight"], "quantity": fill["turnover"]})
            insert_row(c, "fills", {"book_id": b.book_id, "t": t, "side": side, "price": fill["fill_price"],
                                    "quantity": fill["turnover"], "cost": fill["cost"]})


# ----------------------------------------------------------------------------- drivers

@dataclass(frozen=True)
class RunSummary:
    """What one `hrm live` call did (JSON-safe via to_dict)."""

    db: str
    book: str
    mode: str
    source: str
    decided: int  # bars written by this call
    skipped: int  # bars another writer had already written
    first: str | None
    last: str | None
    equity: float | None
    last_action: str | None
    seconds: float
    notes: tuple[str, ...] = ()
    fills: tuple[dict, ...] = ()  # the paper fills this call made

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def _load_model(settings: Settings, model: str | Path | None):
    from hrm_core.model.cards import resolve_model
    from hrm_core.model.checkpoint import load_checkpoint

    return load_checkpoint(resolve_model(model, settings))


def _summary(db: Path, trader: PaperTrader, done: list[StepResult], source: str, seconds: float,
             notes: list[str]) -> RunSummary:
    written = [d for d in done if d.written]
    last = written[-1] if written else None
    return RunSummary(db=str(db), book=trader.book.label, mode=trader.mode, source=source, decided=len(written),
                      skipped=len(done) - len(written), first=written[0].time.isoformat() if written else None,
                      last=last.time.isoformat() if last else None, equity=last.equity if last else None,
                      last_action=last.action if last else None, seconds=round(seconds, 3),
                      notes=(*model_fit_notes(trader.loaded, trader.book.symbol, trader.book.interval), *notes),
                      fills=tuple(d.fill for d in written if d.fill))


def replay(settings: Settings, *, symbol: str, interval: str, start: Any, end: Any, model: str | Path | None = None,
           db: str | Path | None = None, csv: str | Path | None = None, progress: Progress | None = None,
           stop: threading.Event | None = None) -> RunSummary:
    """Drive the live step bar by bar over stored bars in [start, end], each step fed bars <= its bar only.

    Resumable: bars the ledger already has are skipped, so a killed replay restarted with the
    same arguments ends with the same ledger as an uninterrupted one.
    """
    from hrm_core.data.market import load_bars

    t0 = time.perf_counter()
    loaded = _load_model(settings, model)
    res = load_bars(symbol, interval, path=csv, settings=settings)
    bars = res.bars
    lo, hi = parse_bound(start, name="replay start", end=False), parse_bound(end, name="replay end", end=True)
    if lo is None or hi is None:
        raise DataError("a replay needs a start and an end date, e.g. --replay 2018-01-01 2018-12-31")
    rows = np.flatnonzero((bars.index >= lo) & (bars.index <= hi))
    if len(rows) == 0:
        raise EmptyDataError(f"{res.symbol} {interval}: no bars between {start} and {end}; the data covers "
                             f"{bars.index[0]:%Y-%m-%d} .. {bars.index[-1]:%Y-%m-%d}")
    db = Path(db) if db else ledger_db_path(settings)
    with Ledger(db) as ledger:
        trader = PaperTrader.open(ledger, loaded, symbol=res.symbol, interval=interval, bars=bars, settings=settings,
                                  csv=str(csv) if csv else None, mode="replay")
        _check_replay_range(ledger, trader.book, bars, rows)
        done: list[StepResult] = []
        for k, i in enumerate(rows):
            if stop is not None and stop.is_set():
                break
            done += trader.step(bars.iloc[: i + 1], source=res.source, fetched_at=res.fetched_at)
            if progress:
                progress(k + 1, len(rows))
        return _summary(db, trader, done, res.source, time.perf_counter() - t0, [])


def _check_replay_range(ledger: Ledger, book: Book, bars: pd.DataFrame, rows: np.ndarray) -> None:
    """A replay extends a book without gaps: it may resume inside it, not jump past its end or start before it."""
    last = ledger.last_bar(book.book_id)
    if last is None:
        return
    t = bars.index.as_unit("ns").asi8
    first = ledger.conn.execute("SELECT MIN(t) FROM decisions WHERE book_id=?", (book.book_id,)).fetchone()[0]
    if t[rows[0]] < first or (t[rows[0]] > last and rows[0] > 0 and t[rows[0] - 1] != last):
        span = f"{pd.Timestamp(first, tz='UTC'):%Y-%m-%d} .. {pd.Timestamp(last, tz='UTC'):%Y-%m-%d}"
        raise LedgerError(f"{ledger.path} already holds {book.label} for {span}; a replay must start inside that "
                          "range or on the bar right after it. Use another --db for another period")


def run_once(settings: Settings, *, symbol: str, interval: str, model: str | Path | None = None,
             db: str | Path | None = None, csv: str | Path | None = None, loaded=None,
             now: pd.Timestamp | None = None, downloader=None) -> RunSummary:
    """Load the latest bars (cache -> yfinance -> fallbacks; a download whenever the trading calendar says the
    cache lacks a completed bar) and decide the newest completed bar the ledger lacks."""
    from hrm_core.data.market import load_bars

    t0 = time.perf_counter()
    now = utc_now() if now is None else pd.Timestamp(now)
    loaded = loaded if loaded is not None else _load_model(settings, model)
    res = load_bars(symbol, interval, path=csv, settings=settings, downloader=downloader)
    if csv is None and res.source == "cache" and len(res.bars) and len(
            missing_bars(res.symbol, interval, res.bars.index[-1], now)):
        res = load_bars(symbol, interval, settings=settings, downloader=downloader, refresh=True)
    bars = drop_unfinished(res.bars, interval, now) if csv is None else res.bars
    load_ms = 1e3 * (time.perf_counter() - t0)
    db = Path(db) if db else ledger_db_path(settings)
    notes = []
    with Ledger(db, timeout_s=LEDGER_TIMEOUT_S) as ledger:
        trader = PaperTrader.open(ledger, loaded, symbol=res.symbol, interval=interval, bars=bars, settings=settings,
                                  csv=str(csv) if csv else None, mode="live")
        if csv is None and res.source not in FRESH_SOURCES:
            notes.append(f"no fresh data ({res.badge()}{': ' + res.note if res.note else ''}); kept the last state, "
                         "no bar invented")
            ledger.log("warning", "fallback", notes[-1], trader.book.book_id)
        skipped = trader.missed(bars)
        reasons = trader.missed_reasons(skipped, ledger.heartbeats(trader.book.book_id)) if len(skipped) else {}
        done = trader.step(bars, source=res.source, fetched_at=res.fetched_at, load_ms=load_ms)
        if reasons:
            counts = ", ".join(f"{len(times)} {reason.split(':')[0]}" for reason, times in reasons.items())
            notes.append(f"bars since the last decided one: {counts}; only the newest, "
                         f"{bars.index[-1]:%Y-%m-%d %H:%M} UTC, was decided")
        if not done:
            notes.append(f"no new completed bar after {bars.index[-1]:%Y-%m-%d %H:%M} UTC")
        ledger.record_heartbeat(trader.book.book_id, now)
        return _summary(db, trader, done, res.source, time.perf_counter() - t0, notes)


def parse_every(text: str) -> float:
    """'60s', '5m', '1h' or a number of seconds -> seconds (> 0)."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    t = str(text).strip().lower()
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        raise HRMError(f"cannot read --every {text!r}; use e.g. 60s, 5m or 1h") from None
    if not value > 0:
        raise HRMError(f"--every must be positive, got {text!r}")
    return value


def run_loop(settings: Settings, *, symbol: str, interval: str, every_s: float, model: str | Path | None = None,
             db: str | Path | None = None, csv: str | Path | None = None, max_iterations: int | None = None,
             report: Callable[[str], None] = print, stop: threading.Event | None = None) -> int:
    """run_once every `every_s` seconds until SIGINT/SIGTERM (a bar being written is finished first).

    Failures (no network, a locked ledger, bad data) are logged to the ledger and retried on the
    next tick; the last recorded state is kept. Returns the number of bars decided.
    """
    stop = stop or threading.Event()
    restore = _install_stop_handlers(stop)
    loaded = _load_model(settings, model)
    decided, n = 0, 0
    try:
        while not stop.is_set() and (max_iterations is None or n < max_iterations):
            n += 1
            try:
                s = run_once(settings, symbol=symbol, interval=interval, db=db, csv=csv, loaded=loaded)
                decided += s.decided
                report(f"{utc_now():%Y-%m-%d %H:%M:%S} {s.book}: {s.decided} new bar(s), last {s.last or '-'}, "
                       f"equity {s.equity if s.equity is not None else '-'}; " + "; ".join(s.notes))
                for fill in s.fills:  # on a daemon thread: a slow endpoint never holds up the next step
                    alerts.send_in_background(settings.alerts, alerts.fill_text(s.book, fill),
                                              {"kind": "fill", "book": s.book, **fill},
                                              on_warning=lambda line: report(f"warning: {line}"))
            except HRMError as exc:
                report(f"{utc_now():%Y-%m-%d %H:%M:%S} {exc}; keeping the last state, retrying in {every_s:g} s")
                _log_quietly(db or ledger_db_path(settings), str(exc))
            stop.wait(every_s)
    finally:
        restore()
    return decided


def _install_stop_handlers(stop: threading.Event) -> Callable[[], None]:
    """SIGINT/SIGTERM set `stop` (only from the main thread); returns a function restoring the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in old.items()] and None


def _log_quietly(db: str | Path, message: str) -> None:
    """Record a loop failure in the ledger's events; a ledger that cannot be opened is itself the failure."""
    try:
        with Ledger(db, timeout_s=LOG_TIMEOUT_S) as ledger:
            ledger.log("error", "retry", message)
    except HRMError:
        pass


__all__ = ["FRESH_SOURCES", "PaperTrader", "RunSummary", "StepResult", "decide", "parse_every",
           "replay", "run_loop", "run_once"]
