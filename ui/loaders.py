"""Cached loaders: data with st.cache_data (copies per caller), models with st.cache_resource (shared)."""
from __future__ import annotations

import streamlit as st

from hrm_core.data import LoadResult, load_bars
from hrm_core.settings import Settings
from ui.state import settings

# Every cached function takes the settings in force as an argument, so editing hrm.toml
# (or HRM_SETTINGS) gives new cache entries instead of silently reusing old ones.


def bars(symbol: str, interval: str, start=None, end=None) -> LoadResult:
    """Bars and their source; cached for 10 minutes so a live source is re-polled."""
    return _bars(symbol, interval, start, end, settings())


@st.cache_data(ttl=600, show_spinner="Loading market data...")
def _bars(symbol: str, interval: str, start, end, s: Settings) -> LoadResult:
    return load_bars(symbol, interval, start, end, settings=s)


# --- models, signals and backtests (hrm_core.signals / hrm_core.evaluate) -----------------------

def _mtime(path: str) -> float:
    import os

    return os.path.getmtime(path)


@st.cache_resource(show_spinner="Loading model...", max_entries=8)
def _model(path: str, mtime: float):
    from hrm_core.checkpoint import load_checkpoint

    return load_checkpoint(path)


def model(path: str):
    """A checkpoint, shared across sessions (read-only); reloaded when the file changes."""
    return _model(path, _mtime(path))


def signals(symbol: str, interval: str, model_path: str):
    """The model's SignalResult over the full history of (symbol, interval)."""
    return _signals(symbol, interval, model_path, _mtime(model_path), settings())


def performance(symbol: str, interval: str, model_path: str | None, start=None, end=None, ablations: bool = False):
    """InstrumentEvaluation for the Performance page: model (if any), ablations (optional), rule baselines."""
    mtime = _mtime(model_path) if model_path else 0.0
    return _performance(symbol, interval, model_path, mtime, start, end, ablations, settings())


@st.cache_data(show_spinner="Computing signals...", max_entries=32)
def _signals(symbol: str, interval: str, model_path: str, mtime: float, s: Settings):
    """The model's SignalResult over the full history (also cached in SQLite across restarts)."""
    from hrm_core.signals import generate_signals, signals_db_path

    res = _bars(symbol, interval, None, None, s)
    return generate_signals(model(model_path), res.bars, symbol=res.symbol, interval=interval,
                            cache=signals_db_path(s))


@st.cache_data(show_spinner="Backtesting the model and the baselines...", max_entries=16)
def _performance(symbol: str, interval: str, model_path: str | None, mtime: float, start, end, ablations: bool,
                 s: Settings):
    from hrm_core.baselines import MODEL_BASELINES
    from hrm_core.checkpoint import list_checkpoints
    from hrm_core.evaluate import evaluate_instrument, evaluation_period
    from hrm_core.signals import signals_db_path

    res = _bars(symbol, interval, None, None, s)
    models, hidden = [], 0
    if model_path:
        models.append((model(model_path), "model"))
        for card in list_checkpoints(s.data.path("models_dir")):
            if card.name in MODEL_BASELINES and card.path != model_path:
                if ablations:
                    models.append((model(card.path), "model baseline"))
                else:
                    hidden += 1  # still trials: the DSR must not change with what is displayed
    period = evaluation_period(models[0][0] if models else None, start, end)
    return evaluate_instrument(res.bars, symbol=res.symbol, interval=interval, settings=s, models=models,
                               period=period, source=res.badge(), cache=signals_db_path(s), extra_trials=hidden)
