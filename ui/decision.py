"""The decision being looked at (one bar), shared by Explain and Diagnostics and kept in the URL (?at=YYYY-MM-DD)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

PARAM = "at"


def _snap(index: pd.DatetimeIndex, when: pd.Timestamp) -> pd.Timestamp | None:
    """The last bar at or before `when` (a decision is made at a bar's close), or None if before the first."""
    pos = index.searchsorted(when, side="right") - 1
    return index[pos] if pos >= 0 else None


def _from_url(index: pd.DatetimeIndex) -> pd.Timestamp | None:
    raw = st.query_params.get(PARAM)
    if not raw:
        return None
    try:
        when = pd.Timestamp(raw)
    except ValueError:
        st.warning(f"The link's decision time {raw!r} is not a date; showing the latest decision instead.")
        return None
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    return _snap(index, when.normalize() + pd.Timedelta(days=1) - pd.Timedelta(1) if len(raw) <= 10 else when)


def pick_decision(index: pd.DatetimeIndex, *, key: str, label: str = "Decision at") -> pd.Timestamp:
    """A date picker over `index` (decidable bars, ascending), seeded from and written back to the URL."""
    if len(index) == 0:
        raise ValueError("no decidable bars to pick from")
    chosen = _from_url(index) or index[-1]
    day = st.date_input(label, value=chosen.date(), min_value=index[0].date(), max_value=index[-1].date(),
                        key=key, help="The bar whose close the decision was made at; the link in the address "
                                      "bar opens this decision.")
    end_of_day = pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(1)
    at = _snap(index, end_of_day) or index[0]
    st.query_params[PARAM] = url_time(at)
    return at


def url_time(at: pd.Timestamp) -> str:
    """A bar time as the URL writes it: the date for daily bars, the full ISO time otherwise."""
    return f"{at:%Y-%m-%d}" if at.normalize() == at else at.isoformat()


def open_in_explain(at: pd.Timestamp, symbol: str | None = None) -> None:
    """Go to the Explain page for the decision at `at` (of `symbol`, default the sidebar's first): symbol,
    interval, model, uploaded file and bar all travel in the link, and the next run takes them from it (the
    sidebar's widgets may be reset by the page switch)."""
    from ui.state import follow_next_link, link_params
    from ui.uploads import file_token

    params = link_params()
    if symbol and symbol != params.get("symbol"):
        params = {k: v for k, v in params.items() if k != "file"} | {"symbol": symbol}
        if file_token(symbol):
            params["file"] = file_token(symbol)
    follow_next_link()
    st.switch_page("views/explain.py", query_params={**params, PARAM: url_time(at)})
