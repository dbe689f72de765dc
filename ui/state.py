"""The shared sidebar: one place that draws the instrument/timeframe/dates/model pickers and remembers them."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import streamlit as st

from hrm_core.model.cards import list_checkpoints, skill_note
from hrm_core.data.market import INTERVALS
from hrm_core.settings import Settings, load_settings
from ui.keys import SIDEBAR
from ui.uploads import adopt_linked_file, draw_uploader, file_token

KEY = SIDEBAR  # session-state namespace of the shared sidebar


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
    cards = list_checkpoints(s.data.path("models_dir"))
    for problem in _seed_from_url(cards):
        st.warning(problem, icon=":material/link_off:")
    known = list(dict.fromkeys([*s.data.default_symbols, *st.session_state.get(KEY + "extra", [])]))
    st.session_state.setdefault(KEY + "symbols", known[:1])
    symbols = sb.multiselect("Instruments", known, key=KEY + "symbols",
                             help="Each gets a card and a tab on Signals; other pages use the first. Add any Yahoo "
                                  "ticker below.")
    sb.text_input("Add ticker", key=KEY + "new", placeholder="e.g. AAPL, EURUSD=X", on_change=_add_ticker,
                  help="Press Enter: the ticker is added and charted (downloaded when online, else a clear message).")
    draw_uploader(sb, s.data.path("cache_db").parent / "uploads")
    st.session_state.setdefault(KEY + "interval", s.data.default_interval)
    interval = sb.selectbox("Timeframe", INTERVALS, key=KEY + "interval")
    start = sb.date_input("From", value=None, key=KEY + "start", min_value=dt.date(1990, 1, 1))
    end = sb.date_input("To", value=None, key=KEY + "end", min_value=dt.date(1990, 1, 1))
    model = _model_picker(sb, cards)
    sb.caption(f"Settings: `{s.source}`")
    selection = Selection(tuple(symbols) or (s.data.default_symbols[0],), interval, start, end, model)
    st.session_state[KEY + "selection"] = selection
    _write_url(selection, cards)
    return selection


def _model_picker(sb, cards) -> str | None:
    """List shipped and trained checkpoints; none yet -> None."""
    if not cards:
        sb.caption("No trained model found in models/.")
        return None
    names = {c.path: c.name for c in cards}  # short labels: the sidebar is narrow; the summary goes below
    if st.session_state.get(KEY + "model") not in names:  # first run, or the models folder changed
        st.session_state[KEY + "model"] = cards[0].path
    chosen = sb.selectbox("Model", list(names), format_func=names.get, key=KEY + "model",
                          help="Checkpoints in models/; train more on the Train page.")
    card = next(c for c in cards if c.path == chosen)
    sb.caption(card.summary)
    note = skill_note(card.card)
    if note:  # a model that cannot beat the class frequencies must say so where it is picked
        (sb.caption if note[1] else sb.warning)(note[0], **({} if note[1] else {"icon": ":material/info:"}))
    return chosen


# A shared link reproduces the view: ?symbol=^GSPC&interval=1d&model=hrm-default (+ symbols=^GSPC,^IXIC when
# several are selected, + file=<upload> for an uploaded file, + a page's own ?at=... or ?range=...). The sidebar follows the address bar on a session's first run, whenever the
# address differs from what the sidebar last wrote (a link opened in this session), and after an in-app link
# (FOLLOW: st.switch_page may reset the sidebar's widgets, the link's parameters are the truth).
URL_KEYS = ("symbol", "interval", "model", "file", "symbols")
FOLLOW = KEY + "follow_url"


def _url_values() -> dict:
    return {k: st.query_params.get(k) or None for k in URL_KEYS}


def _seed_from_url(cards) -> list[str]:
    """Before the widgets exist: take symbol, interval, model and file from the address bar when it is new to the
    sidebar; return what the link asked for that cannot be used (said on the page, never silently replaced)."""
    url, written = _url_values(), st.session_state.get(KEY + "url_written")
    follow = st.session_state.pop(FOLLOW, False)
    external = written is not None and any(url[k] and url[k] != written.get(k) for k in URL_KEYS)
    if st.session_state.get(KEY + "url_seeded") and not follow and not external:
        return []
    st.session_state[KEY + "url_seeded"] = True
    problems = []
    symbol = (url["symbol"] or "").strip()
    if url["file"]:
        problem = adopt_linked_file(symbol, url["file"], settings().data.path("cache_db").parent / "uploads")
        if problem:
            problems.append(problem)
            symbol = ""
    else:
        symbol = symbol.upper()
    if symbol:
        others = [s.strip().upper() for s in (url["symbols"] or "").split(",") if s.strip()]
        chosen = list(dict.fromkeys([symbol, *others])) if others else \
            [symbol, *(s for s in st.session_state.get(KEY + "symbols", []) if s != symbol)]
        extra = st.session_state.setdefault(KEY + "extra", [])
        for sym in chosen:
            if sym not in settings().data.default_symbols and sym not in extra:
                extra.append(sym)
        st.session_state[KEY + "symbols"] = chosen
    if url["interval"] in INTERVALS:
        st.session_state[KEY + "interval"] = url["interval"]
    elif url["interval"]:
        problems.append(f"The link's timeframe {url['interval']!r} is not one of {', '.join(INTERVALS)}.")
    wanted = url["model"]
    match = next((c.path for c in cards if wanted in (c.name, c.path)), None) if wanted else None
    if match:
        st.session_state[KEY + "model"] = match
    elif wanted:
        problems.append(f"The link's model {wanted!r} is not in models/ on this server: showing "
                        f"{next((c.name for c in cards if c.path == st.session_state.get(KEY + 'model')), 'another')}"
                        " instead.")
    return problems


def _write_url(sel: Selection, cards) -> None:
    """Keep the address bar in step with the sidebar (only keys that changed, so the history stays quiet)."""
    name = next((c.name for c in cards if c.path == sel.model), None)
    values = {"symbol": sel.symbol, "interval": sel.interval, "model": name, "file": file_token(sel.symbol),
              "symbols": ",".join(sel.symbols) if len(sel.symbols) > 1 else None}
    for key, value in values.items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value
    st.session_state[KEY + "url_written"] = values


def link_params() -> dict:
    """The sidebar's selection as link parameters (what _write_url last wrote), for in-app links."""
    return {k: v for k, v in (st.session_state.get(KEY + "url_written") or {}).items() if v}


def follow_next_link() -> None:
    """Make the next run take the selection from the address bar (call before st.switch_page with parameters)."""
    st.session_state[FOLLOW] = True


def selection() -> Selection:
    """What the sidebar selected in this run (app.py draws it before the page runs).

    A page script run on its own (not through app.py) draws the sidebar itself rather than failing."""
    if KEY + "selection" not in st.session_state:
        return draw_sidebar()
    return st.session_state[KEY + "selection"]
