"""The shared sidebar: one place that draws the instrument/timeframe/dates/model pickers and remembers them."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import streamlit as st

from hrm_core.checkpoint import list_checkpoints
from hrm_core.data import INTERVALS
from hrm_core.settings import Settings, load_settings

KEY = "sidebar."  # session-state namespace of the shared sidebar


@dataclass(frozen=True)
class Selection:
    symbols: tuple[str, ...]
    interval: str
    start: dt.date | None
    end: dt.date | None
    model: str | None  # checkpoint path, or None for "no model"

    @property
    def symbol(self) -> str:
        """The primary instrument: pages that show one chart use it."""
        return self.symbols[0]


def settings() -> Settings:
    """Read on every run (a small TOML file): edits to hrm.toml apply without a restart."""
    return load_settings()


def _add_ticker() -> None:
    """Text-input callback (runs before the script): remember the ticker and chart it first."""
    ticker = st.session_state[KEY + "new"].strip().upper()
    st.session_state[KEY + "new"] = ""
    if not ticker:
        return
    extra = st.session_state.setdefault(KEY + "extra", [])
    if ticker not in extra:
        extra.append(ticker)
    chosen = st.session_state.get(KEY + "symbols", [])
    st.session_state[KEY + "symbols"] = [ticker, *(t for t in chosen if t != ticker)]


def draw_sidebar() -> Selection:
    """Draw the shared pickers and return what is selected (stored for the pages)."""
    s = settings()
    sb = st.sidebar
    sb.header("Instruments")
    known = list(dict.fromkeys([*s.data.default_symbols, *st.session_state.get(KEY + "extra", [])]))
    st.session_state.setdefault(KEY + "symbols", known[:1])
    symbols = sb.multiselect("Instruments", known, key=KEY + "symbols",
                             help="The first one is charted. Add any Yahoo ticker below.")
    sb.text_input("Add ticker", key=KEY + "new", placeholder="e.g. AAPL, EURUSD=X", on_change=_add_ticker,
                  help="Press Enter: the ticker is added and charted (downloaded when online, else a clear message).")
    interval = sb.selectbox("Timeframe", INTERVALS, index=INTERVALS.index(s.data.default_interval),
                            key=KEY + "interval")
    start = sb.date_input("From", value=None, key=KEY + "start", min_value=dt.date(1990, 1, 1))
    end = sb.date_input("To", value=None, key=KEY + "end", min_value=dt.date(1990, 1, 1))
    model = _model_picker(sb)
    sb.caption(f"Settings: `{s.source}`")
    selection = Selection(tuple(symbols) or (s.data.default_symbols[0],), interval, start, end, model)
    st.session_state[KEY + "selection"] = selection
    return selection


def _model_picker(sb) -> str | None:
    """List shipped and trained checkpoints; none yet -> None."""
    cards = list_checkpoints(settings().data.path("models_dir"))
    if not cards:
        sb.caption("No trained model found in models/.")
        return None
    labels = {c.path: f"{c.name} ({c.summary})" for c in cards}
    return sb.selectbox("Model", list(labels), format_func=labels.get, key=KEY + "model")


def selection() -> Selection:
    """What the sidebar selected in this run (app.py draws it before the page runs)."""
    return st.session_state[KEY + "selection"]
