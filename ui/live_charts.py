"""Plotly figures of the Live and Model health pages (presentation only)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.charts import _frame, utc_naive

STATUS_COLOURS = {"green": "#2ca02c", "amber": "#ff9f0e", "red": "#d62728"}


def live_vs_backtest(frame: pd.DataFrame, title: str, window: int) -> go.Figure:
    """Live equity over backtest equity on the same bars; below, the gap and its rolling mean (bp)."""
    frame = utc_naive(frame)
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


def drift_tests(table: pd.DataFrame, title: str) -> go.Figure:
    """Each drift test's statistic against its own calibrated amber and red thresholds (1 = at the threshold)."""
    t = table.assign(ratio=table["value"] / table["amber_at"]).sort_values("ratio")
    fig = go.Figure(go.Bar(x=t["ratio"], y=t.index.astype(str), orientation="h",
                           marker_color=[STATUS_COLOURS.get(s, "gray") for s in t["status"]],
                           customdata=t[["value", "amber_at", "red_at", "p_value"]].to_numpy(),
                           hovertemplate="%{y}: %{customdata[0]:.3g} (amber at %{customdata[1]:.3g}, red at "
                                         "%{customdata[2]:.3g}; p = %{customdata[3]:.2g})<extra></extra>"))
    fig.add_vline(x=1.0, line_dash="dash", line_color=STATUS_COLOURS["amber"], annotation_text="amber")
    fig.update_layout(xaxis_title="statistic / its calibrated amber threshold (PSI, or the jump's log ratio)")
    return _frame(fig, title, max(280, 24 * len(t) + 80))


def performance_band(series: pd.Series, stat: dict, window: int, title: str, label: str) -> go.Figure:
    """The rolling statistic over the ledger with the reference mean and its amber / red bands."""
    if label == "return per unit risk":
        rolled = series.rolling(window, min_periods=max(2, window // 2)).mean() / \
            series.rolling(window, min_periods=max(2, window // 2)).std()
    else:
        rolled = series.rolling(window, min_periods=max(2, window // 2)).mean()
    rolled = utc_naive(rolled)
    fig = go.Figure(go.Scatter(x=rolled.index, y=rolled, name=f"rolling {label}, {window} decisions"))
    fig.add_hline(y=stat["reference_mean"], line_dash="dot", annotation_text="reference mean")
    for level in ("amber", "red"):
        fig.add_hline(y=stat[f"{level}_at"], line_dash="dash", line_color=STATUS_COLOURS[level],
                      annotation_text=level)
    fig.update_layout(yaxis_title=label)
    return _frame(fig, title, 300)


def verdict_history(verdicts: pd.DataFrame, title: str) -> go.Figure:
    """Input-drift verdict of a window sliding along the ledger: when did drift begin?"""
    level = {"green": 0, "amber": 1, "red": 2}
    verdicts = utc_naive(verdicts)
    fig = go.Figure(go.Scatter(x=verdicts.index, y=verdicts["status"].map(level), mode="markers+lines",
                               line_shape="hv", name="input drift verdict", line_color="gray",
                               marker_color=[STATUS_COLOURS[s] for s in verdicts["status"]]))
    fig.update_yaxes(tickvals=[0, 1, 2], ticktext=["green", "amber", "red"], range=[-0.5, 2.5])
    return _frame(fig, title, 240)


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
    history = utc_naive(history)
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
    """Run the documented replays from the page: the two demos, or the sidebar's instrument (your own file too)."""
    import pandas as pd
    import streamlit as st

    from hrm_core.live.demo import demo_replays
    from ui import loaders
    from ui.guard import guard
    from ui.state import selection, settings

    s, sel = settings(), selection()
    with guard("prepare the replay"):
        demos = demo_replays(s)
        same, shifted = demos["in distribution"], demos["shifted"]
        if empty:
            st.info(f"The paper-trading ledger `{db}` is empty. Run `hrm live --once` (or `--loop`) to trade the "
                    f"newest bars, or fill it by replaying history through the live code. Two demos show what "
                    f"model health says: `{same['command']}` (data like the model's training: green expected) "
                    f"and the same half-year with volatility tripled (`{shifted['command']}`: red expected).",
                    icon=":material/info:")
        with st.expander("Replay history through the live code", expanded=empty):
            last = loaders.bars(sel.symbol, sel.interval).bars.index[-1]
            mine = {"symbol": sel.symbol, "interval": sel.interval, "csv": "",
                    "start": str((last - pd.DateOffset(years=1)).date()), "end": str(last.date())}
            left, middle, right = st.columns(3)
            if left.button(f"Run the demo replay, in distribution ({same['symbol']} {same['start']} .. "
                           f"{same['end']})", key=key + "demo", type="primary" if empty else "secondary"):
                _run_replay(db, same, None)
            if middle.button(f"Run the shifted demo replay (volatility x3 from {shifted['start']})",
                             key=key + "shifted"):
                _run_replay(db, shifted, None)
            if (mine["symbol"], mine["interval"]) != (same["symbol"], same["interval"]) and right.button(
                    f"Replay the sidebar's instrument ({mine['symbol']} {mine['interval']} {mine['start']} .. "
                    f"{mine['end']})", key=key + "mine"):
                _run_replay(db, mine, sel.model)


def _run_replay(db: str, args: dict, model: str | None) -> None:
    """hrm_core.live.trader.replay with progress, over the demo's file or the sidebar's data source."""
    import streamlit as st

    from hrm_core.live.trader import replay
    from ui.state import settings
    from ui.uploads import upload_path

    with st.status("Replaying history bar by bar through the live code...", expanded=True) as status:
        bar = st.progress(0.0)
        out = replay(settings(), symbol=args["symbol"], interval=args["interval"], start=args["start"],
                     end=args["end"], model=model, db=db, csv=args.get("csv") or upload_path(args["symbol"]),
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
