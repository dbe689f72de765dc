"""Plotly figures of the Live and Model health pages (presentation only)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.charts import _frame

STATUS_COLOURS = {"green": "#2ca02c", "amber": "#ff9f0e", "red": "#d62728"}


def live_vs_backtest(frame: pd.DataFrame, title: str, window: int) -> go.Figure:
    """Live equity over backtest equity on the same bars; below, the gap and its rolling mean (bp)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05)
    fig.add_trace(go.Scatter(x=frame.index, y=frame["equity_backtest"], name="backtest", line=dict(dash="dot")),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=frame.index, y=frame["equity_live"], name="live (paper)"), row=1, col=1)
    gap_bp = 1e4 * (frame["equity_live"] - frame["equity_backtest"])
    fig.add_trace(go.Bar(x=frame.index, y=gap_bp, name="gap [bp of equity]", opacity=0.5), row=2, col=1)
    fig.add_trace(go.Scatter(x=frame.index, y=gap_bp.rolling(window, min_periods=1).mean(),
                             name=f"rolling gap, {window} bars"), row=2, col=1)
    fig.update_yaxes(title_text="equity (start = 1)", row=1, col=1)
    fig.update_yaxes(title_text="gap [bp]", row=2, col=1)
    return _frame(fig, title, 520)


def psi_bars(table: pd.DataFrame, psi_amber: float, psi_red: float, title: str) -> go.Figure:
    """PSI per feature (or output) coloured by its status, with the amber and red thresholds."""
    t = table.sort_values("psi")
    fig = go.Figure(go.Bar(x=t["psi"], y=t.index.astype(str), orientation="h",
                           marker_color=[STATUS_COLOURS.get(s, "gray") for s in t["status"]], name="PSI"))
    for x, colour in ((psi_amber, STATUS_COLOURS["amber"]), (psi_red, STATUS_COLOURS["red"])):
        fig.add_vline(x=x, line_dash="dash", line_color=colour)
    fig.update_layout(xaxis_title="PSI vs reference (dashed: amber / red thresholds)")
    return _frame(fig, title, max(260, 24 * len(t) + 80))


def latency_histogram(latency_ms: pd.Series, title: str) -> go.Figure:
    """Distribution of the decision latency with its p50 / p95 / p99 marked."""
    fig = go.Figure(go.Histogram(x=latency_ms, nbinsx=40, name="decisions"))
    for q, dash in ((0.5, "solid"), (0.95, "dash"), (0.99, "dot")):
        v = float(latency_ms.quantile(q))
        fig.add_vline(x=v, line_dash=dash, annotation_text=f"p{int(q * 100)} {v:.1f} ms")
    fig.update_layout(xaxis_title="ms (signal + risk + fill + ledger write)", yaxis_title="decisions")
    return _frame(fig, title, 300)


def outputs_over_time(history: pd.DataFrame, title: str) -> go.Figure:
    """Confidence and ACT depth of each live decision over time."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    fig.add_trace(go.Scatter(x=history.index, y=history["confidence"], name="confidence (max probability)",
                             mode="lines"), row=1, col=1)
    fig.add_trace(go.Scatter(x=history.index, y=history["steps"], name="ACT depth (segments)", mode="lines",
                             line_shape="hv"), row=2, col=1)
    return _frame(fig, title, 380)


# --- shared by the Live and Model health pages ----------------------------------------------------

def open_book(key: str):
    """The ledger and the book this page shows: (db, book), or stop the page after offering a replay."""
    import streamlit as st

    from ui import loaders
    from ui.guard import guard

    db, books = loaders.ledger_path(), None
    with guard(f"read the paper-trading ledger {db}"):
        books = loaders.ledger_books(db)
    if books is None:  # unreadable ledger: the message is shown; nothing else on this page can work
        st.stop()
    offer_replay(db, key, empty=not books)
    if not books:
        st.stop()
    return db, book_picker(books, key + "book")


def offer_replay(db: str, key: str, *, empty: bool) -> None:
    """Run the documented replays from the page: the demo, or the sidebar's instrument (your own file too)."""
    import pandas as pd
    import streamlit as st

    from hrm_core.live.trader import demo_replay
    from ui import loaders
    from ui.guard import guard
    from ui.state import selection, settings

    s, sel = settings(), selection()
    with guard("prepare the replay"):
        demo = demo_replay(s)
        if empty:
            st.info(f"The paper-trading ledger `{db}` is empty. Run `hrm live --once` (or `--loop`) to trade the "
                    f"newest bars, or fill it by replaying history through the live code, for example the model's "
                    f"last test year: `{demo['command']}`.", icon=":material/info:")
        with st.expander("Replay history through the live code", expanded=empty):
            last = loaders.bars(sel.symbol, sel.interval).bars.index[-1]
            mine = {"symbol": sel.symbol, "interval": sel.interval,
                    "start": str((last - pd.DateOffset(years=1)).date()), "end": str(last.date())}
            left, right = st.columns(2)
            if left.button(f"Run the demo replay ({demo['symbol']} {demo['start']} .. {demo['end']})", key=key + "demo",
                           type="primary" if empty else "secondary"):
                _run_replay(db, demo, None)
            if (mine["symbol"], mine["interval"]) != (demo["symbol"], demo["interval"]) and right.button(
                    f"Replay the sidebar's instrument ({mine['symbol']} {mine['interval']} {mine['start']} .. "
                    f"{mine['end']})", key=key + "mine"):
                _run_replay(db, mine, sel.model)


def _run_replay(db: str, args: dict, model: str | None) -> None:
    """hrm_core.live.trader.replay with progress, over the sidebar's data source (an uploaded file included)."""
    import streamlit as st

    from hrm_core.live.trader import replay
    from ui.state import settings
    from ui.uploads import upload_path

    with st.status("Replaying history bar by bar through the live code...", expanded=True) as status:
        bar = st.progress(0.0)
        out = replay(settings(), symbol=args["symbol"], interval=args["interval"], start=args["start"],
                     end=args["end"], model=model, db=db, csv=upload_path(args["symbol"]),
                     progress=lambda k, n: bar.progress(k / n, f"{k}/{n} bars"))
        status.update(label=f"Replayed {out.decided} bars in {out.seconds:.1f} s", state="complete")
    st.rerun()


def book_picker(books: list, key: str):
    """The ledger's book for the sidebar's instrument when it has one, else a choice among its books."""
    import streamlit as st

    from ui.state import selection

    sel = selection()
    labels = {b.book_id: b.label for b in books}
    match = [b.book_id for b in books if b.symbol == sel.symbol and b.interval == sel.interval]
    ids = list(labels)
    chosen = st.selectbox("Book (symbol, interval, model)", ids, format_func=labels.get, key=key,
                          index=ids.index(match[0]) if match else 0)
    return next(b for b in books if b.book_id == chosen)
