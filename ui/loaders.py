"""Cached loaders: data with st.cache_data (copies per caller), models with st.cache_resource (shared)."""
from __future__ import annotations

import streamlit as st

from hrm_core.data.market import LoadResult, load_bars
from hrm_core.settings import Settings
from ui.state import settings
from ui.uploads import upload_path

# Every cached function takes the settings in force as an argument, so editing hrm.toml
# (or HRM_SETTINGS) gives new cache entries instead of silently reusing old ones.


def bars(symbol: str, interval: str, start=None, end=None) -> LoadResult:
    """Bars and their source; cached for 10 minutes so a live source is re-polled."""
    return _bars(symbol, interval, start, end, settings(), upload_path(symbol))


@st.cache_data(ttl=600, show_spinner="Loading market data...")
def _bars(symbol: str, interval: str, start, end, s: Settings, file: str | None = None) -> LoadResult:
    """`file`: the stored upload behind an instrument of the user's own (ui.uploads), None for a ticker."""
    return load_bars(symbol, interval, start, end, settings=s, path=file)


# --- models, signals and backtests (hrm_core.trading.signals / hrm_core.evaluation.evaluate) -----------------------

def _mtime(path: str) -> float:
    import os

    return os.path.getmtime(path)


@st.cache_resource(show_spinner="Loading model...", max_entries=8)
def _model(path: str, mtime: float):
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.runtime import configure_threads

    configure_threads()  # one intra-op torch thread (hrm_core/runtime.py); torch is imported here, not at start
    return load_checkpoint(path)


def model(path: str):
    """A checkpoint, shared across sessions (read-only); reloaded when the file changes."""
    return _model(path, _mtime(path))


def periods(model_path: str) -> dict:
    """The checkpoint's train / validation / test periods, from its card (no torch), else from the checkpoint."""
    return model_facts(model_path)[2]


def model_facts(model_path: str) -> tuple[str, str, dict]:
    """(name, architecture, periods) of a checkpoint, from its card (no torch), else from the checkpoint."""
    from hrm_core.model.cards import read_card

    card = read_card(model_path)
    arch = (card.get("config") or {}).get("arch")
    if card.get("name") and arch and card.get("periods"):
        return card["name"], arch, card["periods"]
    m = model(model_path)
    return m.name, m.config.arch, m.periods


def rule(model_path: str):
    """The checkpoint's position rule, from its card (no torch), else from the checkpoint."""
    from hrm_core.model.cards import card_rule

    found = card_rule(model_path)
    return found if found is not None else model(model_path).rule


def signals(symbol: str, interval: str, model_path: str):
    """The model's SignalResult over the full history of (symbol, interval)."""
    return _signals(symbol, interval, model_path, _mtime(model_path), settings(), upload_path(symbol))


def performance(symbol: str, interval: str, model_path: str | None, start=None, end=None, ablations: bool = False):
    """InstrumentEvaluation for the Performance page: model (if any), ablations (optional), rule baselines."""
    mtime = _mtime(model_path) if model_path else 0.0
    return _performance(symbol, interval, model_path, mtime, start, end, ablations, settings(), upload_path(symbol))


@st.cache_data(show_spinner="Computing signals...", max_entries=32)
def _signals(symbol: str, interval: str, model_path: str, mtime: float, s: Settings, file: str | None = None):
    """The model's SignalResult over the full history (also kept in results.db across restarts)."""
    from hrm_core.served import results

    res = _bars(symbol, interval, None, None, s, file)
    return results.signals(s, model_path, res.bars, symbol=res.symbol, interval=interval, load=model)


@st.cache_data(show_spinner="Backtesting the model and the baselines...", max_entries=16)
def _performance(symbol: str, interval: str, model_path: str | None, mtime: float, start, end, ablations: bool,
                 s: Settings, file: str | None = None):
    from hrm_core.served import results

    res = _bars(symbol, interval, None, None, s, file)
    return results.performance(s, model_path, res.bars, symbol=res.symbol, interval=interval, start=start, end=end,
                               ablations=ablations, source=res.badge(), load=model)


def performance_at_equal_risk(symbol: str, interval: str, model_path: str | None, start=None, end=None,
                              ablations: bool = False):
    """`performance(...)` with every strategy scaled to the same ex-ante volatility (equal_risk)."""
    mtime = _mtime(model_path) if model_path else 0.0
    return _performance_at_equal_risk(symbol, interval, model_path, mtime, start, end, ablations, settings(),
                                      upload_path(symbol))


@st.cache_data(show_spinner="Scaling every strategy to equal risk...", max_entries=16)
def _performance_at_equal_risk(symbol: str, interval: str, model_path: str | None, mtime: float, start, end,
                               ablations: bool, s: Settings, file: str | None = None):
    from hrm_core.served import results

    res = _bars(symbol, interval, None, None, s, file)
    return results.performance_at_equal_risk(s, model_path, res.bars, symbol=res.symbol, interval=interval,
                                             start=start, end=end, ablations=ablations, source=res.badge(),
                                             load=model)


def performance_verdict(symbol: str, interval: str, model_path: str | None, start=None, end=None,
                        ablations: bool = False, equal_risk: bool = True) -> str | None:
    """The Performance page's one-sentence verdict on what it shows (kept in results.db across restarts)."""
    mtime = _mtime(model_path) if model_path else 0.0
    return _performance_verdict(symbol, interval, model_path, mtime, start, end, ablations, equal_risk, settings(),
                                upload_path(symbol))


@st.cache_data(show_spinner="Comparing with buy & hold...", max_entries=16)
def _performance_verdict(symbol: str, interval: str, model_path: str | None, mtime: float, start, end,
                         ablations: bool, equal_risk: bool, s: Settings, file: str | None = None) -> str | None:
    from hrm_core.served import results

    res = _bars(symbol, interval, None, None, s, file)
    return results.performance_verdict(s, model_path, res.bars, symbol=res.symbol, interval=interval, start=start,
                                       end=end, ablations=ablations, source=res.badge(), equal_risk=equal_risk,
                                       load=model)


def performance_tables(symbol: str, interval: str, model_path: str | None, start=None, end=None,
                       ablations: bool = False) -> dict:
    """Regime tables and the risk rules' effects of the Performance page (kept in results.db across restarts)."""
    mtime = _mtime(model_path) if model_path else 0.0
    return _performance_tables(symbol, interval, model_path, mtime, start, end, ablations, settings(),
                               upload_path(symbol))


@st.cache_data(show_spinner=False, max_entries=16)
def _performance_tables(symbol: str, interval: str, model_path: str | None, mtime: float, start, end,
                        ablations: bool, s: Settings, file: str | None = None) -> dict:
    from hrm_core.served import results

    res = _bars(symbol, interval, None, None, s, file)
    return results.performance_tables(s, model_path, res.bars, symbol=res.symbol, interval=interval, start=start,
                                      end=end, ablations=ablations, source=res.badge(), load=model)


def figure_key(symbol: str, interval: str, model_path: str | None, *parts) -> tuple:
    """Everything a page's figure of (symbol, interval, model) depends on besides `parts`: the model file's
    version, the settings in force and the uploaded file behind the symbol."""
    version = (model_path, _mtime(model_path)) if model_path else None
    return (symbol, interval, version, settings(), upload_path(symbol), *parts)


def shared_figure(key: tuple, build):
    """The figure `build()` returns, built once per process for `key` (see figure_key) and shared read-only by
    every session: st.plotly_chart copies what it sends. Building Plotly figures is most of a stored page's
    server time when 4 sessions open it together."""
    return _shared_figure(key, build)


@st.cache_resource(show_spinner=False, max_entries=64)
def _shared_figure(key: tuple, _build):
    return _build()


def trades(symbol: str, interval: str, model_path: str, start=None, end=None):
    """The model's trades over the shown bars (hrm_core.evaluation.trades), newest first."""
    return _trades(symbol, interval, model_path, _mtime(model_path), start, end, settings(), upload_path(symbol))


@st.cache_data(show_spinner="Listing the trades...", max_entries=32)
def _trades(symbol: str, interval: str, model_path: str, mtime: float, start, end, s: Settings,
            file: str | None = None):
    from hrm_core.evaluation.trades import trade_list

    res = _bars(symbol, interval, None, None, s, file)
    sig = _signals(symbol, interval, model_path, mtime, s, file)
    return trade_list(sig.position, res.bars, symbol=res.symbol, interval=interval, settings=s, start=start, end=end)


def full_depth(symbol: str, interval: str, model_path: str, times: tuple):
    """The actions at full depth for the decisions at `times` (None when depth cannot change them)."""
    return _full_depth(symbol, interval, model_path, _mtime(model_path), times, settings(), upload_path(symbol))


@st.cache_data(show_spinner=False, max_entries=32)
def _full_depth(symbol: str, interval: str, model_path: str, mtime: float, times: tuple, s: Settings,
                file: str | None = None):
    from hrm_core.served import results

    res = _bars(symbol, interval, None, None, s, file)
    return results.full_depth(s, model_path, res.bars, times, symbol=res.symbol, interval=interval, load=model)


# --- reasoning diagnostics (hrm_core.reasoning.diagnostics) -------------------------------------------------

def diagnostics(symbol: str, interval: str, model_path: str, start=None, end=None) -> dict:
    """Period diagnostics of one checkpoint (also kept in SQLite, results.db, across restarts)."""
    return _diagnostics(symbol, interval, model_path, _mtime(model_path), start, end, settings(), upload_path(symbol))


def diagnostics_compare(symbol: str, interval: str, start=None, end=None) -> list[dict]:
    """The headline diagnostics of every checkpoint in models/ on the same bars and period."""
    from hrm_core.model.cards import list_checkpoints

    s = settings()
    paths = tuple((c.path, _mtime(c.path)) for c in list_checkpoints(s.data.path("models_dir")))
    return _diagnostics_compare(symbol, interval, paths, start, end, s, upload_path(symbol))


def decision_trace(symbol: str, interval: str, model_path: str, at) -> dict:
    """One decision's residuals, halting and PCA trajectories."""
    return _decision_trace(symbol, interval, model_path, _mtime(model_path), at, settings(), upload_path(symbol))


@st.cache_data(show_spinner="Tracing the reasoning over the period...", max_entries=32)
def _diagnostics(symbol: str, interval: str, model_path: str, mtime: float, start, end, s: Settings,
                 file: str | None = None) -> dict:
    from hrm_core.served import results

    res = _bars(symbol, interval, None, None, s, file)
    return results.diagnostics(s, model_path, res.bars, symbol=res.symbol, interval=interval, start=start, end=end,
                               load=model)


@st.cache_data(show_spinner="Diagnosing every checkpoint...", max_entries=16)
def _diagnostics_compare(symbol: str, interval: str, paths: tuple, start, end, s: Settings,
                         file: str | None = None) -> list[dict]:
    from hrm_core.reasoning.diagnostics import compare_models
    from hrm_core.storage.results import ResultStore, results_db_path

    res = _bars(symbol, interval, None, None, s, file)
    return compare_models([model(p) for p, _ in paths], res.bars, symbol=res.symbol, interval=interval, settings=s,
                          start=start, end=end, store=ResultStore(results_db_path(s)))


@st.cache_data(show_spinner="Tracing the decision...", max_entries=64)
def _decision_trace(symbol: str, interval: str, model_path: str, mtime: float, at, s: Settings,
                    file: str | None = None) -> dict:
    from hrm_core.reasoning.diagnostics import decision_view

    res = _bars(symbol, interval, None, None, s, file)
    return decision_view(model(model_path), res.bars, symbol=res.symbol, interval=interval, at=at)


# --- explanations (explain/) ---------------------------------------------------------------------

def explanation(symbol: str, interval: str, model_path: str, at, target: str, baseline: str):
    """One decision explained (explain.explain_decision); cached per model file, instrument, bar, target, baseline."""
    import pandas as pd

    return _explanation(symbol, interval, model_path, _mtime(model_path), pd.Timestamp(at).isoformat(), target,
                        baseline, settings(), upload_path(symbol))


def explanation_period(symbol: str, interval: str, model_path: str):
    """H vs L over the model's test period (explain.explain_period; also kept in SQLite across restarts)."""
    return _explanation_period(symbol, interval, model_path, _mtime(model_path), settings(), upload_path(symbol))


def explanation_report(symbol: str, interval: str, model_path: str, at, target: str, baseline: str) -> bytes:
    """The self-contained HTML report of an explanation (rendered on first download, then cached)."""
    import pandas as pd

    return _explanation_report(symbol, interval, model_path, _mtime(model_path), pd.Timestamp(at).isoformat(), target,
                               baseline, settings(), upload_path(symbol))


@st.cache_data(show_spinner="Explaining the decision (Captum integrated gradients)...", max_entries=64)
def _explanation(symbol: str, interval: str, model_path: str, mtime: float, at: str, target: str, baseline: str,
                 s: Settings, file: str | None = None):
    from hrm_core.served import results

    res = _bars(symbol, interval, None, None, s, file)
    return results.explanation(s, model_path, res.bars, at, symbol=res.symbol, interval=interval, target=target,
                               baseline=baseline, load=model)


@st.cache_data(show_spinner="Explaining every decision of the test period (once; then cached)...", max_entries=8)
def _explanation_period(symbol: str, interval: str, model_path: str, mtime: float, s: Settings,
                        file: str | None = None):
    from explain.period import explain_period

    res = _bars(symbol, interval, None, None, s, file)
    return explain_period(model(model_path), res.bars, symbol=res.symbol, interval=interval, settings=s)


@st.cache_data(show_spinner=False, max_entries=16)
def _explanation_report(symbol: str, interval: str, model_path: str, mtime: float, at: str, target: str,
                        baseline: str, s: Settings, file: str | None = None) -> bytes:
    from explain.report import render_html

    ex = _explanation(symbol, interval, model_path, mtime, at, target, baseline, s, file)
    badge = _bars(symbol, interval, None, None, s, file).badge()
    return render_html(ex, model(model_path), data_badge=badge).encode("utf-8")


# --- paper-trading ledger (hrm_core.live.trader / reconcile / monitor) ----------------------------------

def ledger_path() -> str:
    """The ledger file of the settings in force (data_cache/live.db beside the market cache)."""
    from hrm_core.live.ledger import ledger_db_path

    return str(ledger_db_path(settings()))


def ledger_version(db: str) -> tuple:
    """(decisions, newest bar, health checks) of the ledger: a cheap key so cached reports follow new bars."""
    import os
    import sqlite3

    if not os.path.isfile(db):
        return (0, None, 0)
    with sqlite3.connect(db, timeout=10) as conn:
        try:
            n, last = conn.execute("SELECT COUNT(*), MAX(t) FROM decisions").fetchone()
            checks = conn.execute("SELECT COUNT(*) FROM health_checks").fetchone()[0]
        except sqlite3.OperationalError:  # a file without the ledger's tables yet
            return (0, None, 0)
    return (n, last, checks)


def ledger_books(db: str) -> list:
    """Books of the ledger ([] when there is no ledger yet); never creates the file."""
    import os

    from hrm_core.live.ledger import Ledger

    if ledger_version(db)[0] == 0 or not os.path.isfile(db):
        return []
    with Ledger(db, create=False) as ledger:
        return [b for b in ledger.books() if ledger.last_bar(b.book_id) is not None]


def ledger_frame(db: str, book_id: int):
    """Every decided bar of one book, joined (decisions, bars, positions)."""
    return _ledger_frame(db, book_id, ledger_version(db))


def ledger_log(db: str) -> tuple:
    """(events, health checks) of the ledger, newest first: the alert history."""
    from hrm_core.live.ledger import Ledger

    with Ledger(db, create=False) as ledger:
        return ledger.events(), ledger.health_checks()


def reconciliation(db: str, symbol: str, interval: str):
    """hrm_core.live.reconcile.reconcile of one book; recomputed when the ledger gains bars."""
    return _reconciliation(db, symbol, interval, ledger_version(db), settings())


def health_report(db: str, symbol: str, interval: str):
    """hrm_core.live.monitor.health of one book (not recorded in the alert history: the page only looks)."""
    return _health_report(db, symbol, interval, ledger_version(db), settings())


@st.cache_data(show_spinner=False, max_entries=8)
def _ledger_frame(db: str, book_id: int, version: tuple):
    from hrm_core.live.ledger import Ledger

    with Ledger(db, create=False) as ledger:
        return ledger.frame(book_id)


@st.cache_data(show_spinner="Reconciling the ledger with the backtest...", max_entries=8)
def _reconciliation(db: str, symbol: str, interval: str, version: tuple, s: Settings):
    from hrm_core.live.reconcile import reconcile

    return reconcile(db, s, symbol=symbol, interval=interval)


@st.cache_data(show_spinner="Checking model health...", max_entries=8)
def _health_report(db: str, symbol: str, interval: str, version: tuple, s: Settings):
    from hrm_core.live.monitor import health

    return health(db, s, symbol=symbol, interval=interval)
